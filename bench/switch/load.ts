/**
 * How busy the process and the machine were over a measured span: the node process's event
 * loop and CPU, and every core of the machine (PostgreSQL, Kafka and anything else running
 * beside the bench included: on a shared box, the last figure says how contended it was).
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';

export type Load = {
  /** Share of the span the node process's event loop was busy. */
  eventLoopUtilization: number;
  /** CPU the node process used, in cores (1 = one core the whole span). */
  processCores: number;
  /** CPU the whole machine used, in cores, out of `machineCores`. */
  machineCores: number;
  machineCoreCount: number;
};

const machineTimes = () => {
  let busy = 0;
  let total = 0;
  for (const c of os.cpus()) {
    const t = c.times.user + c.times.nice + c.times.sys + c.times.irq;
    busy += t;
    total += t + c.times.idle;
  }
  return { busy, total };
};

const r2 = (x: number) => Math.round(x * 100) / 100;

/** Starts measuring; the returned function ends the span and reports it. */
export const measureLoad = (): (() => Load) => {
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const machine = machineTimes();
  const start = performance.now();
  return () => {
    const seconds = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpu);
    const m = machineTimes();
    const cores = os.cpus().length;
    return {
      eventLoopUtilization: r2(performance.eventLoopUtilization(elu).utilization),
      processCores: r2((used.user + used.system) / 1e6 / seconds),
      machineCores: r2(((m.busy - machine.busy) / Math.max(1, m.total - machine.total)) * cores),
      machineCoreCount: cores,
    };
  };
};

export const formatLoad = (l: Load) =>
  `node event loop ${Math.round(l.eventLoopUtilization * 100)} % busy, node CPU ${l.processCores.toFixed(2)} cores, whole machine ${l.machineCores.toFixed(2)} of ${l.machineCoreCount} cores`;
