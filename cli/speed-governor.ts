/**
 * Back-pressure for the embedded platform. On PGlite every role shares one event loop with the API
 * (the database runs on it too), so a market replayed faster than the background can follow keeps
 * the loop busy all the time and every request waits behind it. The governor watches how busy the
 * loop is (its utilization, and how late it answers) and slows market time while it is saturated (a
 * slower clock brings fewer ticks, decisions and arrivals per second), then speeds it back up to what
 * was asked once the loop has room again: a fast simulation slows itself, never the API. A loop busy
 * now and then (a batch, a decision) is not slowed. On a PostgreSQL server the roles run in
 * processes of their own and the clock keeps the speed asked (cli/platform-clock.ts).
 */
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';

export type Governor = {
  intervalMs: number;
  /** Share of an interval the loop may be busy before market time slows, and below which it speeds up again. */
  busyAbove: number;
  roomBelow: number;
  /** A loop answering this late (p99 over an interval, ms) is saturated whatever its utilization says. */
  lateAfterMs: number;
  /** Factors applied to the speed: firmly when saturated (a tenth when the loop was blocked for seconds), gently when there is room. */
  slowdown: number;
  speedup: number;
  /** Never slower than this (simulated seconds per second), unless asked for less. */
  floor: number;
};

export const GOVERNOR: Governor = { intervalMs: 1000, busyAbove: 0.9, roomBelow: 0.7, lateAfterMs: 250, slowdown: 0.5, speedup: 1.5, floor: 1 };

export type LoopLoad = { utilization: number; lagP99Ms: number };

/** The speed for the next interval, from how busy the loop was in the last one. */
export const nextSpeed = (current: number, asked: number, load: LoopLoad, g: Governor = GOVERNOR): number => {
  const lowest = Math.min(g.floor, asked);
  if (load.lagP99Ms > 10 * g.lateAfterMs) return Math.max(lowest, current * 0.1);
  if (load.utilization > g.busyAbove || load.lagP99Ms > g.lateAfterMs) return Math.max(lowest, current * g.slowdown);
  if (load.utilization < g.roomBelow) return Math.min(asked, current * g.speedup);
  return current;
};

const RESOLUTION_MS = 10;

/** Samples the event loop every interval and reports each change of speed. */
export const governSpeed = ({ asked, onSpeed, governor = GOVERNOR }: { asked: number; onSpeed: (speed: number, load: LoopLoad) => void; governor?: Governor }) => {
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  let since: EventLoopUtilization = performance.eventLoopUtilization();
  let speed = asked;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    // the histogram holds each sampling interval as it ran: the delay is what exceeds the interval
    const load = { utilization: performance.eventLoopUtilization(now, since).utilization, lagP99Ms: Math.max(0, delay.percentile(99) / 1e6 - RESOLUTION_MS) };
    since = now;
    delay.reset();
    const next = nextSpeed(speed, asked, load, governor);
    if (next === speed) return;
    speed = next;
    onSpeed(next, load);
  }, governor.intervalMs);
  timer.unref();
  return {
    speed: () => speed,
    stop() {
      clearInterval(timer);
      delay.disable();
    },
  };
};
