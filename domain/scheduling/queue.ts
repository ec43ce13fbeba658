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
import type { GpuType } from '../workload/request.ts';
import { partitionPoint } from '../sorted.ts';
import type { Running, Waiting, WaitingOfType } from './types.ts';

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

type Ranked = { w: Waiting; rank: number };
/** The order served: by effective rank, then age (first time queued), then id. */
const compareServed = (a: Ranked, b: Ranked) => a.rank - b.rank || a.w.firstQueuedAtMs - b.w.firstQueuedAtMs || (a.w.workloadId < b.w.workloadId ? -1 : 1);
const rankedAt = (nowMs: number) => (w: Waiting): Ranked => ({ w, rank: effectiveRank(w, nowMs) });

/** The queue in the order it is served. */
export const queueOrder = (waiting: readonly Waiting[], nowMs: number): Waiting[] =>
  waiting
    .map(rankedAt(nowMs))
    .sort(compareServed)
    .map((x) => x.w);

const byAge = (a: Waiting, b: Waiting) => a.firstQueuedAtMs - b.firstQueuedAtMs || (a.workloadId < b.workloadId ? -1 : a.workloadId > b.workloadId ? 1 : 0);
/** Waiting this long, a P2/P3 ranks at its best (BEST_AGED_RANK), level with every other that has. */
const AGED_AFTER_MS = { P2: (BASE_RANK.P2 - BEST_AGED_RANK) * AGING_MS.P2, P3: (BASE_RANK.P3 - BEST_AGED_RANK) * AGING_MS.P3 } as const;

type Tally = Map<GpuType, { sizes: Record<Tier, Map<number, number>> }>;
/** Counts `w` in (by = 1) or out (by = -1) of `tally`. */
const count = (tally: Tally, w: Waiting, by: 1 | -1) => {
  let ofType = tally.get(w.request.gpuType);
  if (!ofType) tally.set(w.request.gpuType, (ofType = { sizes: { P1: new Map(), P2: new Map(), P3: new Map() } }));
  const sizes = ofType.sizes[w.priority];
  const n = (sizes.get(w.request.gpuCount) ?? 0) + by;
  if (n > 0) sizes.set(w.request.gpuCount, n);
  else sizes.delete(w.request.gpuCount);
  if (ofType.sizes.P1.size === 0 && ofType.sizes.P2.size === 0 && ofType.sizes.P3.size === 0) tally.delete(w.request.gpuType);
};
/** What waits, per GPU type, in short (WaitingOfType). */
export const waitingByType = (waiting: Iterable<Waiting>): ReadonlyMap<GpuType, WaitingOfType> => {
  const tally: Tally = new Map();
  for (const w of waiting) count(tally, w, 1);
  return tally;
};

/** A place in one of the queue's lists: `gone` once taken out or queued anew (a flag, not a look-up: a round reads every entry). */
type Entry = { w: Waiting; gone: boolean };

/** Puts `e` into `list`, kept sorted by `order`. */
const insertSorted = (list: Entry[], e: Entry, order: (a: Waiting, b: Waiting) => number) => list.splice(partitionPoint(list, (x) => order(x.w, e.w) <= 0), 0, e);

/** Whether `a` is served before `b` at `nowMs` (queueOrder's order). */
export const servedBefore = (a: Waiting, b: Waiting, nowMs: number) => compareServed(rankedAt(nowMs)(a), rankedAt(nowMs)(b)) < 0;

/**
 * Whether a round could place P2/P3 gangs of a tier and size now, none of which has less work left
 * than `shortestSeconds` (see `QueueWalk`): false only when none of them could be.
 */
export type Fits = (tier: 'P2' | 'P3', gpuCount: number, shortestSeconds: number) => boolean;

/**
 * One GPU type's work read in queueOrder's order, as far as a round asks: each call gives the next
 * P1, the next gang larger than the `largest` it was made with (it fails), and the next P2/P3 that
 * `fits` (every one, when `fits` is undefined); undefined once none is left. What a call passes
 * over is not read, and not given later even if it fits by then (so after an undefined, none is).
 */
export type QueueWalk = (fits?: Fits) => Waiting | undefined;

/** Whether a walk asked for what `fits` gives `w` (see QueueWalk). */
const walkGives = (w: Waiting, fits: Fits | undefined, largest: number) =>
  !fits || w.priority === 'P1' || w.request.gpuCount > largest || fits(w.priority, w.request.gpuCount, w.remainingSeconds);

/** What a round asks of the queue: what waits per GPU type in short, the work of the types it walks in order, and each type's first. */
export type WaitingQueue = {
  byType(): ReadonlyMap<GpuType, WaitingOfType>;
  /** The first of a GPU type's work to be served. */
  firstOf(type: GpuType, nowMs: number): Waiting | undefined;
  /** A GPU type's work, read as far as asked (QueueWalk). */
  walk(type: GpuType, nowMs: number, largest: number): QueueWalk;
};

/** A list of what waits, as a queue (sorted once, when a round first asks). */
export const queueOfList = (waiting: readonly Waiting[]): WaitingQueue => {
  let sorted: { nowMs: number; list: Waiting[] } | undefined;
  const inOrderAt = (nowMs: number) => (sorted?.nowMs === nowMs ? sorted.list : (sorted = { nowMs, list: queueOrder(waiting, nowMs) }).list);
  return {
    byType: () => waitingByType(waiting),
    firstOf: (type, nowMs) => inOrderAt(nowMs).find((w) => w.request.gpuType === type),
    walk: (type, nowMs, largest) => {
      const list = inOrderAt(nowMs).filter((w) => w.request.gpuType === type);
      let i = 0;
      return (fits) => {
        for (; i < list.length; i++) if (walkGives(list[i]!, fits, largest)) return list[i++];
        return undefined;
      };
    },
  };
};

/**
 * One tier's gangs of one size in a GPU type's lane: those aged to their best rank by age, the
 * younger by the time queued, and no more work left in any than the least any ever queued here had.
 */
type Gangs = { tier: 'P2' | 'P3'; gpuCount: number; shortestSeconds: number; aged: Entry[]; young: Entry[] };
/** One GPU type's work: P1s by age, and P2/P3 by tier and gang size. */
type Lane = { p1: Entry[]; gangs: Gangs[] };

/**
 * Reads a lane in queueOrder's order (QueueWalk): its P1s, then its lists of gangs merged by rank
 * (a handful of lists: a merge step looks at each list's first). A list of gangs that do not fit
 * is left where it stands; if a later call lets it in again, it first skips what was served before
 * the last workload given.
 */
const walkLane = (lane: Lane, nowMs: number, largest: number): QueueWalk => {
  let p1 = 0;
  /** A list of gangs being read: where, and the first live workload there with its rank (a Ranked, so compared without copying). */
  type Cursor = { gangs: Gangs; list: Entry[]; at: number; w: Waiting | undefined; rank: number; readAtCall: number };
  const cursors: Cursor[] = lane.gangs.map((gangs) => ({ gangs, list: gangs.aged, at: -1, w: undefined, rank: 0, readAtCall: 0 }));
  /** Moves a cursor on to its first live workload from `at`, through the aged list and then the younger. */
  const settle = (c: Cursor) => {
    for (;;) {
      if (c.at < c.list.length) {
        const e = c.list[c.at]!;
        if (!e.gone) {
          [c.w, c.rank] = [e.w, effectiveRank(e.w, nowMs)];
          return;
        }
        c.at++;
      } else if (c.list === c.gangs.young) {
        c.w = undefined;
        return;
      } else [c.list, c.at] = [c.gangs.young, 0];
    }
  };
  let calls = 0;
  let last: Ranked | undefined;
  /** A call that found nothing has passed over all that is left. */
  let ended = false;
  return (fits) => {
    if (ended) return undefined;
    calls++;
    for (; p1 < lane.p1.length; p1++) if (!lane.p1[p1]!.gone) return lane.p1[p1++]!.w;
    let first: Cursor | undefined;
    for (const c of cursors) {
      const { tier, gpuCount } = c.gangs;
      if (fits && gpuCount <= largest && !fits(tier, gpuCount, c.gangs.shortestSeconds)) continue;
      if (c.at < 0) {
        c.at = 0;
        settle(c);
      }
      // passed over by the calls before: catch up with the walk
      if (c.readAtCall !== calls - 1 && last)
        while (c.w && compareServed(c as Ranked, last) < 0) {
          c.at++;
          settle(c);
        }
      c.readAtCall = calls;
      if (c.w && (!first || compareServed(c as Ranked, first as Ranked) < 0)) first = c;
    }
    if (!first) {
      ended = true;
      return undefined;
    }
    const w = first.w!;
    last = { w, rank: first.rank };
    first.at++;
    settle(first);
    return w;
  };
};

/**
 * The queue kept in its order between rounds, for a scheduler with thousands waiting (sorting
 * them all for every round was a quarter of a designed-scale day), one lane per GPU type (a
 * round passes over a type none of whose work can be placed without reading it), and in a lane
 * one list per tier and gang size (behind a blocked head a round reads only gangs that could fit:
 * reading past thousands too large was a third of a designed day). A type's walk at `now` gives
 * exactly `queueOrder` of its work, all queued at or before `now` as a scheduler's work is: P1s
 * by age; then every P2/P3 aged to its best rank, by age; then the others by rank. Within a tier,
 * rank follows the time queued, so each list's younger work is kept in that order and moves to
 * its aged list as time passes.
 */
export const createQueue = () => {
  /** What waits, by workload: its entry in a list (an entry taken out or queued anew since is passed over, then swept out). */
  const live = new Map<string, Entry>();
  const tally: Tally = new Map();
  const lanes = new Map<GpuType, Lane>();
  const laneOf = (type: GpuType) => {
    let lane = lanes.get(type);
    if (!lane) lanes.set(type, (lane = { p1: [], gangs: [] }));
    return lane;
  };
  const gangsOf = (lane: Lane, tier: 'P2' | 'P3', gpuCount: number) => {
    let gangs = lane.gangs.find((g) => g.tier === tier && g.gpuCount === gpuCount);
    if (!gangs) lane.gangs.push((gangs = { tier, gpuCount, shortestSeconds: Infinity, aged: [], young: [] }));
    return gangs;
  };
  const byTimeQueued = (a: Waiting, b: Waiting) => a.queuedAtMs - b.queuedAtMs || byAge(a, b);
  let removed = 0;
  const sweep = (list: Entry[]) => list.splice(0, list.length, ...list.filter((e) => !e.gone));
  const compact = () => {
    for (const lane of lanes.values()) {
      sweep(lane.p1);
      for (const gangs of lane.gangs) {
        sweep(gangs.aged);
        sweep(gangs.young);
        gangs.shortestSeconds = [...gangs.aged, ...gangs.young].reduce((least, e) => Math.min(least, e.w.remainingSeconds), Infinity);
      }
    }
    removed = 0;
  };
  const remove = (workloadId: string) => {
    const e = live.get(workloadId);
    if (!e) return false;
    live.delete(workloadId);
    e.gone = true;
    count(tally, e.w, -1);
    // left in its list until there are as many gone as there, then swept out
    if (++removed > live.size && removed > 64) compact();
    return true;
  };
  /** Moves a lane's younger work that has reached its best rank by `nowMs` to the aged lists. */
  const age = (lane: Lane, nowMs: number) => {
    for (const gangs of lane.gangs) {
      const list = gangs.young;
      let n = 0;
      while (n < list.length && nowMs - list[n]!.w.queuedAtMs >= AGED_AFTER_MS[gangs.tier]) n++;
      for (const e of list.splice(0, n)) if (!e.gone) insertSorted(gangs.aged, e, byAge);
    }
  };
  /** A lane brought up to `nowMs`. */
  const agedLane = (type: GpuType, nowMs: number) => {
    const lane = lanes.get(type);
    if (lane) age(lane, nowMs);
    return lane;
  };
  const queue = {
    /** Queues `w` (in place of the same workload's entry, if it has one). */
    add(w: Waiting) {
      remove(w.workloadId);
      const e = { w, gone: false };
      live.set(w.workloadId, e);
      count(tally, w, 1);
      const lane = laneOf(w.request.gpuType);
      if (w.priority === 'P1') insertSorted(lane.p1, e, byAge);
      else {
        const gangs = gangsOf(lane, w.priority, w.request.gpuCount);
        gangs.shortestSeconds = Math.min(gangs.shortestSeconds, w.remainingSeconds);
        insertSorted(gangs.young, e, byTimeQueued);
      }
    },
    /** Takes a workload out; whether it was in. */
    remove,
    get: (workloadId: string) => live.get(workloadId)?.w,
    has: (workloadId: string) => live.has(workloadId),
    values: function* () {
      for (const e of live.values()) yield e.w;
    },
    /** What waits, per GPU type, in short, kept as work comes and goes. */
    byType: (): ReadonlyMap<GpuType, WaitingOfType> => tally,
    get size() {
      return live.size;
    },
    firstOf(type: GpuType, nowMs: number): Waiting | undefined {
      const lane = agedLane(type, nowMs);
      return lane && walkLane(lane, nowMs, Infinity)();
    },
    walk(type: GpuType, nowMs: number, largest: number): QueueWalk {
      const lane = agedLane(type, nowMs);
      return lane ? walkLane(lane, nowMs, largest) : () => undefined;
    },
  };
  return queue satisfies WaitingQueue;
};

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
