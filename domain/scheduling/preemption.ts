/**
 * Whom a P1 that cannot be placed preempts (as Kueue chooses victims): running P3 first, then
 * P2 — never P1 — the most recently started first within a tier, greedily until enough GPUs
 * are free, then trimmed to the fewest that still free enough (each victim, last chosen first,
 * is spared if the rest suffice). `servingModel` limits victims to runs serving that model:
 * their GPUs stay warm with it, so the P1 starts at once instead of after a cold load.
 */
import type { PoolView, Running } from './types.ts';

const TIER_ORDER = { P3: 0, P2: 1 } as const;

export const chooseVictims = (
  pool: PoolView,
  running: readonly Running[],
  need: number,
  alreadyFree: number,
  servingModel?: string,
): Running[] | undefined => {
  const candidates = running
    .filter((r) => r.poolId === pool.resourceId && r.priority !== 'P1')
    .filter((r) => servingModel === undefined || (r.request.type !== 'model_training' && r.request.model === servingModel && r.endsAtMs !== undefined))
    .sort((a, b) => TIER_ORDER[a.priority as 'P2' | 'P3'] - TIER_ORDER[b.priority as 'P2' | 'P3'] || b.sinceMs - a.sinceMs || (a.workloadId < b.workloadId ? -1 : 1));
  const victims: Running[] = [];
  let free = alreadyFree;
  for (const c of candidates) {
    if (free >= need) break;
    victims.push(c);
    free += c.gpuIndexes.length;
  }
  if (free < need) return undefined;
  for (let i = victims.length - 1; i >= 0; i--) {
    const without = free - victims[i]!.gpuIndexes.length;
    if (without >= need) {
      free = without;
      victims.splice(i, 1);
    }
  }
  return victims;
};
