/**
 * The queue: one per priority (P1 real-time inference, P2 batch, P3 training; P4 is mining,
 * which takes whatever power is left), ordered by an effective rank that ages, so a waiting
 * workload rises and none starves: a P3 gains a level for each 30 minutes it waits (its
 * tier's target), a P2 for each 10 minutes, up to just below P1 (which always goes first and
 * alone preempts). Ties go to the oldest (its first time in the queue: a preempted workload
 * keeps its place).
 *
 * When the head of a GPU type cannot be placed, workloads behind it may still go first only
 * where they do not delay it (EASY backfill): from the runs' expected ends, the moment the head
 * will fit is found, and a later workload is let through if it ends before then or takes only
 * GPUs the head will not need.
 */
import type { Tier } from '../billing/price-list.ts';
import type { Running, Waiting } from './types.ts';

const BASE_RANK: Record<Tier, number> = { P1: 1, P2: 2, P3: 3 };
/** Waiting this long raises a workload one level. */
export const AGING_MS: Record<Tier, number> = { P1: Infinity, P2: 10 * 60_000, P3: 30 * 60_000 };
/** Aged work ranks at best here: between P1 and a fresh P2. */
export const BEST_AGED_RANK = 1.5;

export const effectiveRank = (w: Pick<Waiting, 'priority' | 'queuedAtMs'>, nowMs: number) => {
  if (w.priority === 'P1') return BASE_RANK.P1;
  const levels = Math.max(0, nowMs - w.queuedAtMs) / AGING_MS[w.priority];
  return Math.max(BEST_AGED_RANK, BASE_RANK[w.priority] - levels);
};

/** The queue in the order it is served. */
export const queueOrder = (waiting: readonly Waiting[], nowMs: number): Waiting[] =>
  waiting
    .map((w) => ({ w, rank: effectiveRank(w, nowMs) }))
    .sort((a, b) => a.rank - b.rank || a.w.firstQueuedAtMs - b.w.firstQueuedAtMs || (a.w.workloadId < b.w.workloadId ? -1 : 1))
    .map((x) => x.w);

/**
 * When a blocked head needing `need` GPUs of a pool could start: runs end in order of their
 * expected ends (`byEnd`, the pool's runs in that order, unknown ends last) until enough are free.
 * Returns that moment and the GPUs to spare then, or undefined when the running work can never
 * free enough (or a run's end is unknown).
 */
export const shadowOf = (need: number, freeNow: number, byEnd: readonly Running[]): { atMs: number; spare: number } | undefined => {
  if (freeNow >= need) return undefined;
  let free = freeNow;
  for (const r of byEnd) {
    if (r.endsAtMs === undefined) return undefined;
    free += r.gpuIndexes.length;
    if (free >= need) return { atMs: r.endsAtMs, spare: free - need };
  }
  return undefined;
};
