/** Latency distributions (nearest-rank quantiles of bench/support/stats.ts). */
import { quantile } from '../support/stats.ts';

export type Dist = { n: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number };

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export const dist = (values: readonly number[]): Dist => ({
  n: values.length,
  p50Ms: round3(quantile(values, 0.5)),
  p90Ms: round3(quantile(values, 0.9)),
  p99Ms: round3(quantile(values, 0.99)),
  maxMs: round3(values.length ? Math.max(...values) : Number.NaN),
});

export const defined = (values: ReadonlyArray<number | undefined>): number[] => values.filter((v): v is number => v !== undefined && Number.isFinite(v));
