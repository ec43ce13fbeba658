/**
 * The work running, as a scheduler keeps it between rounds: by workload, in the order placed,
 * and per pool both in that order and by expected end (unknown ends last, ties in the order
 * placed), kept as runs come and go. A round asks each pool for its runs (whom a P1 may
 * preempt) and for those ending first (when a blocked head will fit: queue.ts, shadowOf);
 * grouping and sorting thousands of runs for every round was a sixth of a designed-scale day.
 */
import type { PoolRuns, Running } from './types.ts';
import { partitionPoint } from '../sorted.ts';

/** A run's expected end for ordering: unknown ends last. */
const endOf = (r: Running) => r.endsAtMs ?? Infinity;

/** The first place in `list` (by end, ties in order placed) after every run that goes before `r`. */
const placeByEnd = (list: readonly Running[], r: Running, placedBefore: (a: Running) => boolean) =>
  partitionPoint(list, (other) => endOf(other) < endOf(r) || (endOf(other) === endOf(r) && placedBefore(other)));

/** `list` with `r` in its place by end, `r` being placed after every run in it (a new run). */
export const withNewRun = (list: readonly Running[], r: Running): Running[] => {
  const next = list.slice();
  next.splice(placeByEnd(list, r, () => true), 0, r);
  return next;
};

/** Runs sorted by end, ties in the order given. */
export const byEnd = (runs: readonly Running[]): Running[] => runs.slice().sort((a, b) => (endOf(a) === endOf(b) ? 0 : endOf(a) < endOf(b) ? -1 : 1));

export const createRuns = <R extends Running>() => {
  const byId = new Map<string, R>();
  /** The order placed: a run's number (a workload placed anew gets a new one). */
  const order = new Map<R, number>();
  let placed = 0;
  const pools = new Map<string, { inOrder: R[]; byEnd: R[] }>();
  const poolOf = (poolId: string) => {
    let p = pools.get(poolId);
    if (!p) pools.set(poolId, (p = { inOrder: [], byEnd: [] }));
    return p;
  };
  const takeOut = (list: R[], r: R) => {
    const at = list.indexOf(r);
    if (at >= 0) list.splice(at, 1);
  };
  const file = (list: R[], r: R) => {
    const mine = order.get(r)!;
    list.splice(placeByEnd(list, r, (other) => order.get(other as R)! < mine), 0, r);
  };
  const remove = (workloadId: string) => {
    const r = byId.get(workloadId);
    if (!r) return false;
    byId.delete(workloadId);
    const p = poolOf(r.poolId);
    takeOut(p.inOrder, r);
    takeOut(p.byEnd, r);
    order.delete(r);
    return true;
  };
  return {
    /** A run placed (in place of the workload's earlier one, if any). */
    add(r: R) {
      remove(r.workloadId);
      byId.set(r.workloadId, r);
      order.set(r, placed++);
      const p = poolOf(r.poolId);
      p.inOrder.push(r);
      file(p.byEnd, r);
    },
    /** Takes a workload's run out; whether it had one. */
    remove,
    /** A run's expected end is known (or changed). */
    endsAt(workloadId: string, endsAtMs: number | undefined) {
      const r = byId.get(workloadId);
      if (!r) return;
      const p = poolOf(r.poolId);
      takeOut(p.byEnd, r);
      r.endsAtMs = endsAtMs;
      file(p.byEnd, r);
    },
    get: (workloadId: string) => byId.get(workloadId),
    has: (workloadId: string) => byId.has(workloadId),
    /** Every run, in the order placed. */
    values: () => byId.values(),
    get size() {
      return byId.size;
    },
    /** Each pool's runs, both ways (valid until the next change: a round reads them, and copies what it changes). */
    byPool: (): ReadonlyMap<string, PoolRuns> => pools,
  };
};
