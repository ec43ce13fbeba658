/**
 * The warm pool: how many idle GPUs each pool keeps warm with each model for P1, which is
 * admitted only onto warm capacity (a cold load takes 34–84 s, far past P1's 100 ms wait).
 *
 * Sized to recent P1 demand: the P1 GPUs asked for per model over the last hour give a rate;
 * what could arrive while a replacement warms (the model's cold load time) is kept warm three
 * times over, and at least one GPU for any model asked for in the hour. The targets live within
 * the pool's warm standby reserve (scaled down together when demand is larger). Before any
 * demand is seen, the reserve is split among the platform's usual models.
 */
import { coldLoadMs } from './placement.ts';
import type { GpuType } from '../workload/request.ts';

export const WARM_WINDOW_MS = 3_600_000;
export const WARM_SAFETY = 3;

/** Models the reserve starts with, per GPU type (the demand simulator's real-time models). */
export const DEFAULT_WARM_MODELS: Record<GpuType, readonly string[]> = {
  H100: ['llama-3-70b', 'llama-3-8b', 'mistral-7b'],
  A100: ['llama-3-8b', 'mistral-7b'],
  L40S: ['llama-3-8b', 'mistral-7b'],
};

const split = (total: number, models: readonly string[]) =>
  Object.fromEntries(models.map((m, i) => [m, Math.floor(total / models.length) + (i < total % models.length ? 1 : 0)]));

export const warmTargets = (pool: { gpuType: GpuType; warmStandbyUnits: number }, p1GpusAsked: Readonly<Record<string, number>>): Record<string, number> => {
  const reserve = pool.warmStandbyUnits;
  const asked = Object.entries(p1GpusAsked).filter(([, n]) => n > 0);
  if (asked.length === 0) return split(reserve, DEFAULT_WARM_MODELS[pool.gpuType]);
  const wanted = Object.fromEntries(
    asked.map(([model, gpus]) => {
      const perMs = gpus / WARM_WINDOW_MS;
      return [model, Math.max(1, Math.ceil(perMs * coldLoadMs(model) * WARM_SAFETY))];
    }),
  );
  const total = Object.values(wanted).reduce((a, b) => a + b, 0);
  if (total <= reserve) return wanted;
  // more than the reserve: each model its share, at least one while the reserve lasts
  const scaled = Object.fromEntries(Object.entries(wanted).map(([m, n]) => [m, Math.floor((n * reserve) / total)]));
  let left = reserve - Object.values(scaled).reduce((a, b) => a + b, 0);
  for (const [m] of Object.entries(wanted).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))) {
    if (left <= 0) break;
    scaled[m]!++;
    left--;
  }
  return scaled;
};

export const sameTargets = (a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>) => {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)].filter((k) => (a[k] ?? 0) > 0 || (b[k] ?? 0) > 0));
  return [...keys].every((k) => (a[k] ?? 0) === (b[k] ?? 0));
};
