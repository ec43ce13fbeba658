/**
 * What a running inference workload measures, simulated from a latency model by GPU type and
 * model size (the floor of sla.ts: time to first token on a warm replica): a median a little
 * above the floor, with load; a p99 a tail above the median; a degraded GPU (thermal
 * throttling, correctable memory errors) slower by half. Throughput scales with GPUs and
 * inversely with latency. The randomness comes in as draws in [0, 1) (seeded by the caller),
 * so the same draws give the same metrics.
 */
import { latencyFloorMs } from './sla.ts';
import type { GpuType } from './request.ts';

export type ServingMetrics = { requestsServed: number; p50Ms: number; p99Ms: number };

/** A degraded GPU answers this much slower. */
export const DEGRADED_SLOWDOWN = 1.5;

export const servingMetrics = (r: { gpuType: GpuType; model: string; gpuCount: number; seconds: number; degraded: boolean; draws: readonly [number, number] }): ServingMetrics => {
  const floor = latencyFloorMs(r.gpuType, r.model);
  const slow = r.degraded ? DEGRADED_SLOWDOWN : 1;
  // load between 5 % and 25 % above the floor; a tail of 8 % to about 30 % above the median, rarely more
  const p50 = floor * (1.05 + 0.2 * r.draws[0]) * slow;
  const tail = 1.08 - 0.05 * Math.log(1 - r.draws[1]);
  const p99 = p50 * tail;
  const perGpuPerSecond = 1000 / p50; // one stream per GPU at its median latency
  return { requestsServed: Math.round(perGpuPerSecond * r.gpuCount * r.seconds), p50Ms: Math.round(p50 * 10) / 10, p99Ms: Math.round(p99 * 10) / 10 };
};
