/**
 * One scheduling round: from what the scheduler sees now (types.ts), what to do. Pure; the
 * process manager carries the decisions out as commands (and the pool's own decider checks
 * each allocation again: invariant 2 holds whatever this decides).
 *
 *  1. Demand response: running P2/P3 work on a facility's GPU type and tier the economic
 *     controller has paused is preempted (checkpointed, requeued); P1 never is.
 *  2. The warm pool's targets (warm-pool.ts), recorded when they change.
 *  3. The queue, in its aged order (queue.ts): a P1 goes onto idle GPUs warm with its model; if
 *     none, it preempts P2/P3 runs serving that model (they leave it warm); if still none, it
 *     waits while GPUs are warmed for it, preempting P3 then P2 work to make room. Other work
 *     goes where it scores best (placement.ts), never onto the warm reserve (unless it is a gang
 *     too big to run outside it), and behind a
 *     blocked head of its GPU type only where it does not delay it (EASY backfill). A gang
 *     larger than any pool of its type can hold fails, with the reason.
 *  4. A serving pool whose type has had no work but its warm reserve's for an hour gives its
 *     power back to mining (P4 takes what is left): its GPUs beyond the reserve cool first.
 *  5. The warm pool kept at its targets: free GPUs warmed (cold loads), idle warm GPUs of other
 *     models loaded anew.
 *  6. Power for work that waits: a pool in warm standby whose type has work it cannot place asks
 *     for power (mining yields: a handover of an ASIC block to the pool).
 */
import { isFree, isPowered, replaceGpus, type GpuUnit } from '../fleet/gpus.ts';
import { freeGpus, idleWarmGpusOf, inServiceUnits, warmingCountsOf } from './gpu-counts.ts';
import { envelopeOf, headroomOf, poweredCount } from '../resource/gpu-pool.ts';
import { TIERS, type Tier } from '../billing/price-list.ts';
import type { GpuType } from '../workload/request.ts';
import { indexHosts, packIndexed, takeFromIndex, type HostIndex } from './host-index.ts';
import { coldLoadMs, firstInOrder, gpuIdsOf, placeGang, WARM_START_MS, type GangChoice } from './placement.ts';
import { chooseVictims } from './preemption.ts';
import { queueOfList, servedBefore, shadowOf, type Fits, type WaitingQueue } from './queue.ts';
import { byEnd, withNewRun } from './runs.ts';
import { pausedKey, type Decision, type PoolRuns, type PoolView, type Running, type SchedulerView, type Waiting, type WaitingOfType } from './types.ts';
import { sameTargets, warmTargets, WARM_WINDOW_MS } from './warm-pool.ts';

/** A serving pool with nothing but its warm reserve's work this long gives its power back. */
export const POWER_DOWN_IDLE_MS = 3_600_000;
/**
 * After a failed change of a pool's power, how long before another is asked for: giving power back
 * waits another quiet hour; taking it waits for the controller's next interval, when prices and
 * mining may have moved. A failure is an event, which wakes the scheduler at once, so without a
 * pause it would ask again, fail again and flood the log and the store.
 */
export const POWER_RETRY_MS = { down: POWER_DOWN_IDLE_MS, up: 15 * 60_000 } as const;

/** A pool as the round changes it: its GPUs are the view's until the round changes one (then a new array: `rewrite`). */
type WorkPool = PoolView & { warmTargets: Record<string, number> };

/**
 * The room a round leaves a P2/P3 gang in a pool: the free GPUs beside what is held for P1s and
 * the warm reserve (a gang of up to `outsideReserveUpTo`, which fits outside the reserve, may
 * take no more), or beside P1 holds alone (a larger gang, which may use the reserve).
 */
export type PoolRoom = { withReserve: number; withoutReserve: number; outsideReserveUpTo: number; inService: number };

/**
 * What a round decides, and the room it leaves a GPU type, pool by pool, once its decisions are
 * carried out (undefined: no pool of that type). A P2/P3 arriving where nothing of its type that
 * waits fits (`fitsInRoom`) changes nothing a round would decide until a pool changes, so the
 * scheduler need not run one for it (its `arrivalIsMoot`; domain/scheduling/scheduling.test.ts
 * checks the claim on random worlds). Derived when asked, once per type: most rounds are never
 * asked.
 */
export type RoundOutcome = { decisions: Decision[]; roomAfter: (type: GpuType) => readonly PoolRoom[] | undefined };

/** Whether a P2/P3 gang of `gpuCount` fits in any pool's room. */
export const fitsInRoom = (rooms: readonly PoolRoom[], gpuCount: number) =>
  rooms.some((r) => gpuCount <= (gpuCount <= r.outsideReserveUpTo ? r.withReserve : r.withoutReserve));

/**
 * The tiers of the work of a type that waits (the queue's tally of it), or null when some of it
 * fits in `rooms`: an arrival of one of these tiers that does not fit either is moot.
 */
export const tiersStuck = (of: WaitingOfType | undefined, rooms: readonly PoolRoom[]): ReadonlySet<Tier> | null => {
  const tiers = new Set<Tier>();
  for (const tier of TIERS)
    for (const gpuCount of of?.sizes[tier].keys() ?? []) {
      if (fitsInRoom(rooms, gpuCount)) return null;
      tiers.add(tier);
    }
  return tiers;
};

export const schedulingRound = (view: SchedulerView): Decision[] => decideRound(view).decisions;

/** `passOverStuck: false` walks every waiting workload (what a test compares the pass-over with). */
export const decideRound = (view: SchedulerView, options: { passOverStuck: boolean } = { passOverStuck: true }): RoundOutcome => {
  const now = view.nowMs;
  const out: Decision[] = [];
  // a pool giving its power back has warm standby's envelope from the moment it is asked for, not only once its own switch begins
  const pools = new Map<string, WorkPool>(
    view.pools.map((p) => [p.resourceId, { ...p, switchingTo: p.switchingTo ?? (p.powerChange === 'down' ? 'warm_standby' : undefined), warmTargets: { ...p.warmTargets } }]),
  );
  /**
   * Every run in the view's order, kept as the round places and releases: read only when no runs
   * per pool come with the view, or while something is paused (in step 1, before any change).
   */
  let running: Running[] | undefined = view.runsByPool ? undefined : [...view.running];
  /**
   * The runs per pool, in the order of `running` and by expected end: the view's, or grouped and
   * sorted once a round asks; kept as the round places and releases (new arrays: the view's are
   * the scheduler's).
   */
  let runsByPool = view.runsByPool && new Map(view.runsByPool);
  const runsOfPool = (poolId: string): PoolRuns => {
    if (!runsByPool) {
      const grouped = new Map<string, Running[]>();
      for (const r of running!) grouped.get(r.poolId)?.push(r) ?? grouped.set(r.poolId, [r]);
      runsByPool = new Map([...grouped].map(([id, runs]) => [id, { inOrder: runs, byEnd: byEnd(runs) }]));
    }
    return runsByPool.get(poolId) ?? { inOrder: [], byEnd: [] };
  };
  const runsIn = (poolId: string) => runsOfPool(poolId).inOrder;
  const byType = new Map<GpuType, WorkPool[]>();
  for (const p of pools.values()) byType.set(p.gpuType, [...(byType.get(p.gpuType) ?? []), p]);
  const poolsOfType = (t: GpuType): readonly WorkPool[] => byType.get(t) ?? [];

  // what is derived from a pool's GPUs is kept until the round changes them (a round with hundreds
  // waiting asks the same of each pool for every one of them)
  const versions = new Map<string, number>();
  /** Changes to any pool so far in the round: what is derived over all pools is kept until it moves. */
  let changes = 0;
  const changed = (poolId: string) => {
    versions.set(poolId, (versions.get(poolId) ?? 0) + 1);
    changes++;
  };
  /** Changes some of a pool's GPUs: a new array (what is derived over the old one is carried to it: fleet/gpus.ts). */
  const rewrite = (pool: WorkPool, indexes: readonly number[], change: (g: GpuUnit) => GpuUnit) => {
    pool.gpus = replaceGpus(pool.gpus, indexes, change);
    changed(pool.resourceId);
  };
  /** Derived values a placement can carry on (see `carryPast`), to be carried after each. */
  const carriedPastPlacements: Array<(poolId: string, placed: ReadonlySet<number>, poweredUp: number) => void> = [];
  /**
   * `carryPast`, when given, says what the value becomes once a placement takes the GPUs
   * `placed` (of which `poweredUp` were off), or undefined when it must be derived afresh: a
   * backlog's round places hundreds of gangs, and deriving what P2/P3 may take anew after each
   * went over the pool's thousands of GPUs every time.
   */
  const perPool = <T>(derive: (pool: WorkPool) => T, carryPast?: (value: T, placed: ReadonlySet<number>, poweredUp: number) => T | undefined) => {
    const kept = new Map<string, { version: number; value: T }>();
    if (carryPast)
      carriedPastPlacements.push((poolId, placed, poweredUp) => {
        const version = versions.get(poolId) ?? 0;
        const hit = kept.get(poolId);
        if (!hit || hit.version !== version - 1) return;
        const value = carryPast(hit.value, placed, poweredUp);
        if (value !== undefined) kept.set(poolId, { version, value });
      });
    return (pool: WorkPool): T => {
      const version = versions.get(pool.resourceId) ?? 0;
      const hit = kept.get(pool.resourceId);
      if (hit && hit.version === version) return hit.value;
      const value = derive(pool);
      kept.set(pool.resourceId, { version, value });
      return value;
    };
  };
  const disjoint = (a: ReadonlySet<number>, b: ReadonlySet<number>) => ![...b].some((i) => a.has(i));
  /** A set of GPUs chosen among the free ones stays the same when a placement takes none of them. */
  const unlessTaken = (set: ReadonlySet<number>, placed: ReadonlySet<number>) => (disjoint(set, placed) ? set : undefined);
  /** GPUs that can take work, now or once free: health and service do not change in a round, so counted from the pool's GPUs as the view holds them. */
  const viewGpus = new Map(view.pools.map((p) => [p.resourceId, p.gpus]));
  const inServiceOf = (pool: WorkPool) => inServiceUnits(viewGpus.get(pool.resourceId)!);
  /** GPUs warming with each model, per pool. */
  const warmingCounts = perPool((pool) => warmingCountsOf(pool.gpus));
  /** Idle GPUs warm with each model, in index order: all a P1 may be placed on. */
  const idleWarmGpus = perPool((pool) => idleWarmGpusOf(pool.gpus), (byModel, placed) => {
    const left = new Map<string, readonly GpuUnit[]>();
    for (const [model, gpus] of byModel) left.set(model, gpus.some((g) => placed.has(g.index)) ? gpus.filter((g) => !placed.has(g.index)) : gpus);
    return left;
  });
  const idleWarmWith = (pool: WorkPool, model: string) => idleWarmGpus(pool).get(model)?.length ?? 0;
  const freeCount = perPool((pool) => freeGpus(pool.gpus).length, (n, placed) => n - placed.size);
  /** GPUs a pool could give a P1 soonest: free ones and those preemptible work holds. */
  const capacityFor = (pool: WorkPool) => freeCount(pool) + runsIn(pool.resourceId).reduce((n, r) => n + (r.priority !== 'P1' ? r.gpuIndexes.length : 0), 0);
  /** A P1's best gang in a pool: GPUs warm with its model only. */
  const placeWarm = (w: Waiting, pool: WorkPool) =>
    placeGang(pool, { gpuCount: w.request.gpuCount, model: w.request.model, warmOnly: true }, { gpus: idleWarmGpus(pool).get(w.request.model) ?? [], headroom: headroomNow(pool) });
  /** A pool's runs in order of their expected ends (unknown ends last): a blocked head's shadow is found from the first of them (shadowOf). */
  const runsEndingFirst = (pool: WorkPool) => runsOfPool(pool.resourceId).byEnd;

  // the working view follows every decision, so later ones in the round see earlier ones
  const release = (r: Running) => {
    const pool = pools.get(r.poolId)!;
    rewrite(pool, r.gpuIndexes, (g) => ({ ...g, busy: null, model: r.request.type === 'model_training' ? null : g.model }));
    if (running) running = running.filter((x) => x !== r);
    if (runsByPool) {
      const runs = runsOfPool(r.poolId);
      runsByPool.set(r.poolId, { inOrder: runs.inOrder.filter((x) => x !== r), byEnd: runs.byEnd.filter((x) => x !== r) });
    }
  };
  const preempt = (r: Running, cause: 'p1' | 'demand_response', reason: string) => {
    out.push({ type: 'preempt', workloadId: r.workloadId, run: r.run, poolId: r.poolId, cause, reason });
    release(r);
  };
  /** GPUs of a pool drawing power, and how many more its envelope lets it power now. */
  const poweredOf = perPool(
    (pool) => poweredCount(pool.gpus),
    (powered, _placed, poweredUp) => powered + poweredUp,
  );
  const headroomNow = (pool: WorkPool) => Math.max(0, envelopeOf(pool) - poweredOf(pool));
  const place = (w: Waiting, pool: WorkPool, choice: GangChoice) => {
    const poweredUp = choice.gpuIndexes.reduce((n, i) => n + (isPowered(pool.gpus[i]!) ? 0 : 1), 0);
    const mode = w.request.type === 'model_training' ? 'training' : 'serving';
    const startupMs = choice.warm ? WARM_START_MS : coldLoadMs(w.request.model);
    out.push({
      type: 'place',
      workloadId: w.workloadId,
      run: w.nextRun,
      poolId: pool.resourceId,
      facilityId: pool.facilityId,
      gpuIndexes: choice.gpuIndexes,
      gpuIds: gpuIdsOf(pool, choice.gpuIndexes),
      warm: choice.warm,
      startupMs,
      mode,
      model: w.request.model,
      score: choice.score,
      reason: choice.reason,
    });
    rewrite(pool, choice.gpuIndexes, (g) => ({ ...g, busy: { workloadId: w.workloadId, run: w.nextRun, mode }, warming: false, warmReadyAt: null, model: w.request.model }));
    const placed = new Set(choice.gpuIndexes);
    for (const carry of carriedPastPlacements) carry(pool.resourceId, placed, poweredUp);
    const run: Running = { workloadId: w.workloadId, priority: w.priority, request: w.request, run: w.nextRun, poolId: pool.resourceId, gpuIndexes: choice.gpuIndexes, sinceMs: now, endsAtMs: now + startupMs + w.remainingSeconds * 1000 };
    running?.push(run);
    if (runsByPool) {
      const runs = runsOfPool(run.poolId);
      runsByPool.set(run.poolId, { inOrder: [...runs.inOrder, run], byEnd: withNewRun(runs.byEnd, run) });
    }
  };
  const best = (candidates: Array<{ pool: WorkPool; choice: GangChoice | undefined }>) =>
    candidates.filter((c): c is { pool: WorkPool; choice: GangChoice } => c.choice !== undefined).sort((a, b) => b.choice.score - a.choice.score || (a.pool.resourceId < b.pool.resourceId ? -1 : 1))[0];
  /** Idle GPUs warm with each model, up to its target: the reserve P2/P3 may not take. */
  const reserveOf = perPool((pool) => {
    const kept = new Set<number>();
    const left = { ...pool.warmTargets };
    for (const g of freeGpus(pool.gpus))
      if (g.model && (left[g.model] ?? 0) > 0) {
        kept.add(g.index);
        left[g.model]!--;
      }
    return kept as ReadonlySet<number>;
  }, unlessTaken);

  const p1Short = new Map<string, Map<string, number>>(); // pool → model → GPUs a waiting P1 needs warmed
  /** Idle GPUs warm with a model P1s wait for in a pool, as many as they wait for. */
  const heldForP1 = perPool((pool) => {
    const held = new Set<number>();
    const left = new Map(p1Short.get(pool.resourceId) ?? []);
    for (const g of freeGpus(pool.gpus))
      if (g.model && (left.get(g.model) ?? 0) > 0) {
        held.add(g.index);
        left.set(g.model, left.get(g.model)! - 1);
      }
    return held as ReadonlySet<number>;
  }, unlessTaken);
  /**
   * What P2/P3 may not take: GPUs held for waiting P1s, and (unless `withReserve` is false) the
   * warm reserve; how many free GPUs beside them a gang could have now: the powered ones, and
   * as many of the others as the pool's power envelope lets it power; and, once a gang is looked
   * for there, those free GPUs by host (host-index.ts), kept through the round's placements.
   */
  type Kept = { kept: ReadonlySet<number>; free: number; hosts?: HostIndex };
  const keptFrom = (withReserve: boolean) =>
    perPool(
      (pool): Kept => {
        const kept = new Set(heldForP1(pool));
        if (withReserve) for (const i of reserveOf(pool)) kept.add(i);
        let [powered, off] = [0, 0];
        for (const g of freeGpus(pool.gpus)) if (!kept.has(g.index)) isPowered(g) ? powered++ : off++;
        return { kept, free: powered + Math.min(off, headroomNow(pool)) };
      },
      // a gang taken beside what is kept leaves exactly that many fewer: each powered one it took
      // is one fewer powered, and each it powered up one fewer off and one less of the headroom
      (value, placed) => {
        if (!disjoint(value.kept, placed)) return undefined;
        if (value.hosts) takeFromIndex(value.hosts, placed);
        return { ...value, free: value.free - placed.size };
      },
    );
  const [keptWithReserve, keptWithoutReserve] = [keptFrom(true), keptFrom(false)];

  // 1. demand response (a round looks at every run only while something is paused: thousands run at the designed scale)
  if (view.paused.size > 0)
    for (const r of [...(running ??= [...view.running])]) {
      if (r.priority === 'P1') continue;
      const pool = pools.get(r.poolId);
      if (pool && view.paused.has(pausedKey(pool.facilityId, pool.gpuType, r.priority)))
        preempt(r, 'demand_response', `the economic controller paused ${r.priority} on ${pool.gpuType} at ${pool.facilityId}: power is worth more than this work now`);
    }

  // 2. the warm pool's targets
  for (const pool of pools.values()) {
    const asked = view.recentP1Gpus[pool.resourceId] ?? {};
    const targets = warmTargets(pool, asked);
    if (sameTargets(targets, pool.warmTargets)) continue;
    out.push({
      type: 'size-warm',
      poolId: pool.resourceId,
      targets,
      reason: Object.keys(asked).length === 0 ? 'no P1 demand seen yet: the reserve split among the usual models' : 'sized to the P1 GPUs asked for per model in the last hour',
      basis: { windowMinutes: WARM_WINDOW_MS / 60_000, p1GpusAsked: asked, warmStandbyUnits: pool.warmStandbyUnits },
    });
    pool.warmTargets = targets;
    changed(pool.resourceId);
  }

  // 3. the queue
  const blocked = new Map<GpuType, { poolId: string; atMs: number; spare: number } | null>();
  const wantsPower = new Set<GpuType>();
  // asked of every waiting workload, the same for all of a type (and tier) in a round
  const largestOf = new Map([...byType].map(([type, typePools]) => [type, Math.max(0, ...typePools.map(inServiceOf))]));
  const allowedOf = new Map<GpuType, Map<Waiting['priority'], readonly WorkPool[]>>();
  const allowedFor = (w: { priority: Waiting['priority']; request: { gpuType: GpuType } }) => {
    let ofType = allowedOf.get(w.request.gpuType);
    if (!ofType) allowedOf.set(w.request.gpuType, (ofType = new Map()));
    let allowed = ofType.get(w.priority);
    if (!allowed) ofType.set(w.priority, (allowed = poolsOfType(w.request.gpuType).filter((p) => !view.paused.has(pausedKey(p.facilityId, p.gpuType, w.priority)))));
    return allowed;
  };
  // kept for P1: GPUs warmed for a P1 that waits, and the warm reserve, except from a gang that
  // could never run outside the reserve (a P1 may then preempt it)
  const keptFor = (gpuCount: number, pool: WorkPool) => (gpuCount <= inServiceOf(pool) - pool.warmStandbyUnits ? keptWithReserve : keptWithoutReserve)(pool);
  /** Whether a P2/P3 gang of `gpuCount` has room in a pool beside what is kept there (where decideFor looks for a place). */
  const hasRoom = (pool: WorkPool, gpuCount: number) => keptFor(gpuCount, pool).free >= gpuCount;
  /** Whether such a gang has room in any of these pools: under a backlog most of the queue has none, and is passed over without a search. */
  const fitsIn = (allowed: readonly WorkPool[], gpuCount: number) => allowed.some((pool) => hasRoom(pool, gpuCount));
  /** The best gang for a P2/P3 in a pool, beside what is kept there. */
  const placeBeside = (w: Waiting, pool: WorkPool) => {
    const kept = keptFor(w.request.gpuCount, pool);
    const req = { gpuCount: w.request.gpuCount, model: w.request.model, warmOnly: false, excluded: kept.kept };
    kept.hosts ??= indexHosts(pool, freeGpus(pool.gpus).filter((g) => !kept.kept.has(g.index)));
    const headroom = headroomNow(pool);
    // an envelope that cannot power every free GPU limits which may be used at all: the plain search
    return kept.hosts.off <= headroom ? packIndexed(pool, req, kept.hosts, headroom) : placeGang(pool, req, { headroom });
  };
  /** Whether placing a gang of `gpuCount` with `remainingSeconds` of work on the blocked head's pool would delay the head even with a warm start. */
  const delaysHead = (pool: WorkPool, gpuCount: number, remainingSeconds: number) => {
    const head = blocked.get(pool.gpuType);
    return head?.poolId === pool.resourceId && gpuCount > head.spare && now + WARM_START_MS + remainingSeconds * 1000 > head.atMs;
  };
  /**
   * How a GPU type's waiting work is decided: walked, or passed over unread when no P1 of it
   * waits, none is too big for every pool (it would fail), and no P2/P3 gang has room in any of
   * its pools beside what is kept there (`fitsIn`). Then no order places any of it, and
   * walking it would decide only that its type wants power (if some of it may run anywhere), at
   * its first workload. Types are independent in this step, so this is known before any is
   * walked. Under a backlog most types are stuck so in most rounds, and reading thousands of
   * their workloads was most of what a round did.
   */
  const queue = Array.isArray(view.waiting) ? queueOfList(view.waiting) : (view.waiting as WaitingQueue);
  const howDecided = (type: GpuType, of: WaitingOfType): 'walk' | 'pass' | 'pass, wanting power' => {
    if (of.sizes.P1.size > 0 || !options.passOverStuck) return 'walk';
    if (poolsOfType(type).length === 0) return 'pass'; // it waits for a pool of its type
    let wants = false;
    for (const tier of ['P2', 'P3'] as const) {
      if (of.sizes[tier].size === 0) continue;
      if (Math.max(...of.sizes[tier].keys()) > largestOf.get(type)!) return 'walk';
      const allowed = allowedFor({ priority: tier, request: { gpuType: type } });
      if (allowed.length === 0) continue;
      for (const gpuCount of of.sizes[tier].keys()) if (fitsIn(allowed, gpuCount)) return 'walk';
      wants = true;
    }
    return wants ? 'pass, wanting power' : 'pass';
  };
  const walked = new Set<GpuType>();
  /** Types passed over that want power, by their first workload, in the order served: each is noted where the walk would have met it. */
  const passedWanting: Array<{ type: GpuType; first: Waiting }> = [];
  for (const [type, of] of queue.byType()) {
    const how = howDecided(type, of);
    if (how === 'walk') walked.add(type);
    else if (how === 'pass, wanting power') passedWanting.push({ type, first: queue.firstOf(type, now)! });
  }
  passedWanting.sort((a, b) => (servedBefore(a.first, b.first, now) ? -1 : 1));
  /** What one walked workload decides: its decisions go to `out`; `wanted` says its type wants power (noted in order below). */
  let wanted = false;
  const decideFor = (w: Waiting): void => {
    const typePools = poolsOfType(w.request.gpuType);
    if (typePools.length === 0) return; // no pool of its type registered (yet): it waits
    const largest = largestOf.get(w.request.gpuType)!;
    if (w.request.gpuCount > largest) {
      out.push({ type: 'fail', workloadId: w.workloadId, reason: `needs ${w.request.gpuCount} ${w.request.gpuType} in one facility; the largest pool has ${largest} in service` });
      return;
    }
    if (w.priority === 'P1') {
      const warm = best(typePools.map((pool) => ({ pool, choice: placeWarm(w, pool) })));
      if (warm) {
        place(w, warm.pool, warm.choice);
        return;
      }
      // P2/P3 runs serving the model leave it warm when preempted
      let placed = false;
      for (const pool of typePools) {
        const freeWarm = idleWarmWith(pool, w.request.model);
        const victims = chooseVictims(pool, runsIn(pool.resourceId), w.request.gpuCount, freeWarm, w.request.model);
        if (!victims) continue;
        for (const v of victims) preempt(v, 'p1', `preempted for P1 ${w.workloadId}, which needs ${w.request.model} warm on ${w.request.gpuCount} ${pool.gpuType}`);
        const choice = placeWarm(w, pool);
        if (choice) {
          place(w, pool, choice);
          placed = true;
          break;
        }
      }
      if (placed) return;
      // wait while GPUs are warmed for it (step 5), in the pool with the fewest to warm among those
      // with room beside what earlier P1s wait for there; with none, it waits its turn unclaimed
      const claimed = (pool: WorkPool) => [...(p1Short.get(pool.resourceId)?.values() ?? [])].reduce((n, c) => n + c, 0);
      const toWarm = (pool: WorkPool) => w.request.gpuCount - idleWarmWith(pool, w.request.model);
      // not a pool giving its power back: nothing is warmed there until the handover ends
      const target = typePools
        .filter((pool) => pool.powerChange !== 'down' && inServiceOf(pool) - claimed(pool) >= w.request.gpuCount)
        .sort((a, b) => toWarm(a) - toWarm(b) || capacityFor(b) - capacityFor(a) || (a.resourceId < b.resourceId ? -1 : 1))[0];
      if (!target) return;
      const short = p1Short.get(target.resourceId) ?? new Map<string, number>();
      short.set(w.request.model, (short.get(w.request.model) ?? 0) + w.request.gpuCount);
      p1Short.set(target.resourceId, short);
      changed(target.resourceId);
      return;
    }
    const allowed = allowedFor(w);
    if (allowed.length === 0) return; // paused everywhere: it waits for the spike to pass
    const head = blocked.get(w.request.gpuType);
    // only pools with enough free GPUs beside those kept are worth a placement's search, and not the
    // blocked head's pool when even a warm start there would delay the head; with none, it waits
    // and asks for power (and, the first of its type to, becomes its head: below)
    const roomy = allowed.filter((pool) => hasRoom(pool, w.request.gpuCount) && !delaysHead(pool, w.request.gpuCount, w.remainingSeconds));
    const choice = roomy.length === 0 ? undefined : best(roomy.map((pool) => ({ pool, choice: placeBeside(w, pool) })));
    if (choice) {
      if (head && head.poolId === choice.pool.resourceId) {
        const endsAt = now + (choice.choice.warm ? WARM_START_MS : coldLoadMs(w.request.model)) + w.remainingSeconds * 1000;
        if (endsAt > head.atMs) {
          if (w.request.gpuCount > head.spare) return; // it would delay the head
          head.spare -= w.request.gpuCount;
        }
      }
      place(w, choice.pool, choice.choice);
      return;
    }
    wanted = true;
    if (head === undefined) {
      // the head of its type: reserve the moment it fits, where that comes soonest
      const shadows = allowed
        .map((pool) => {
          const free = keptFor(w.request.gpuCount, pool).free;
          const s = shadowOf(w.request.gpuCount, free, runsEndingFirst(pool));
          return s && { poolId: pool.resourceId, ...s };
        })
        .filter((s): s is { poolId: string; atMs: number; spare: number } => s !== undefined)
        .sort((a, b) => a.atMs - b.atMs);
      blocked.set(w.request.gpuType, shadows[0] ?? null);
    }
  };
  /**
   * Walked types whose rest is known to place nothing: once a type's head is blocked (so it has
   * asked for power) and, as the round's placements have left its pools, everything of it that
   * waits would now be passed over (`howDecided`), the rest of its walk decides nothing (its room
   * only shrinks: no P1 of it waits), and its lane is read no further. Asked once per change of
   * the pools, with the type's room.
   */
  const isDone = (type: GpuType) => blocked.has(type) && howDecided(type, queue.byType().get(type)!) !== 'walk';
  /**
   * Each walked type is read on its own, as far as it can place anything (types are independent in
   * this step), and what its workloads decide is then put in the queue's order across types, as a
   * walk over all of them together decides it: placements and preemptions in `out`, and each
   * type's need of power after every type passed over whose first workload comes before it.
   */
  const decidedInOrder: Array<{ w: Waiting; decisions: Decision[]; wantsPower: boolean }> = [];
  const askedPower = new Set<GpuType>();
  for (const type of walked) {
    const largest = largestOf.get(type)!;
    const allowed = { P2: allowedFor({ priority: 'P2', request: { gpuType: type } }), P3: allowedFor({ priority: 'P3', request: { gpuType: type } }) };
    /**
     * Whether gangs of a tier and size, none with less work left than `shortestSeconds`, could be
     * placed now: some pool has room beside what is kept, and is not the blocked head's pool where
     * even the shortest would delay the head (decideFor's `roomy`). Under a backlog the head's
     * shadow is minutes away or past, and every gang of its size waits.
     */
    const fitsNow: Fits = (tier, gpuCount, shortestSeconds) =>
      allowed[tier].some((pool) => hasRoom(pool, gpuCount) && !delaysHead(pool, gpuCount, shortestSeconds));
    let lookedAt = -1;
    const next = queue.walk(type, now, largest);
    for (;;) {
      if (blocked.has(type) && lookedAt !== changes) {
        lookedAt = changes;
        if (isDone(type)) break;
      }
      // behind the blocked head of its type, a P2/P3 with no room it may take is passed by unread
      // (decideFor would leave it waiting: most of a backlog is such work)
      const w = next(blocked.has(type) ? fitsNow : undefined);
      if (!w) break;
      const mark = out.length;
      wanted = false;
      decideFor(w);
      // only a type's first need of power places it among the others' (each later one notes it again)
      if (wanted && !askedPower.has(type)) askedPower.add(type);
      else wanted = false;
      if (out.length > mark || wanted) decidedInOrder.push({ w, decisions: out.splice(mark), wantsPower: wanted });
    }
  }
  decidedInOrder.sort((a, b) => (servedBefore(a.w, b.w, now) ? -1 : 1));
  let metPassed = 0;
  /** Types passed over whose first workload comes before `w` (all that are left, when undefined) want power. */
  const passedWantPower = (w: Waiting | undefined) => {
    for (; metPassed < passedWanting.length && (!w || servedBefore(passedWanting[metPassed]!.first, w, now)); metPassed++) wantsPower.add(passedWanting[metPassed]!.type);
  };
  for (const { w, decisions, wantsPower: wants } of decidedInOrder) {
    out.push(...decisions);
    if (!wants) continue;
    passedWantPower(w);
    wantsPower.add(w.request.gpuType);
  }
  passedWantPower(undefined);

  // 4. a serving pool quiet for an hour gives its power back: its GPUs beyond the warm reserve cool, and it is not warmed again
  const poweringDown = new Set<string>();
  for (const pool of pools.values()) {
    if ((pool.mode !== 'serving' && pool.mode !== 'training') || pool.powerChange !== undefined || queue.byType().has(pool.gpuType) || now < (pool.powerRetryAtMs?.down ?? 0)) continue;
    if (now - pool.lastDemandMs < POWER_DOWN_IDLE_MS) continue;
    const busy = pool.gpus.filter((g) => g.busy).length;
    if (busy > pool.warmStandbyUnits) continue;
    // keep the reserve's targets warm, cool the rest (loads under way too), then hand the power back
    const keep = reserveOf(pool);
    const cool = pool.gpus.filter((g) => !g.busy && g.model && !keep.has(g.index)).map((g) => g.index);
    const powered = poweredCount(pool.gpus) - cool.length;
    const overflow = Math.max(0, powered - pool.warmStandbyUnits);
    const alsoCool = overflow > 0 ? [...keep].slice(0, overflow) : [];
    if (cool.length + alsoCool.length > 0) {
      out.push({ type: 'cool', poolId: pool.resourceId, gpuIds: gpuIdsOf(pool, [...cool, ...alsoCool]), reason: `${pool.resourceId} gives its power back: idle warm GPUs beyond its reserve cool down` });
      rewrite(pool, [...cool, ...alsoCool], (g) => ({ ...g, model: null }));
    }
    poweringDown.add(pool.resourceId);
    out.push({ type: 'power', poolId: pool.resourceId, facilityId: pool.facilityId, direction: 'down', reason: `${pool.gpuType} work has not needed ${pool.resourceId} beyond its warm reserve for an hour: mining takes the power back` });
  }
  // 5. the warm pool at its targets, and GPUs warmed for waiting P1s
  const starvedOfPower = new Set<GpuType>();
  for (const pool of pools.values()) {
    // a pool giving its power back is not warmed again meanwhile: the change would find more GPUs powered than its standby allows, fail, and be asked for again
    if (poweringDown.has(pool.resourceId) || pool.powerChange === 'down') continue;
    const short = p1Short.get(pool.resourceId);
    const models = new Set([...Object.keys(pool.warmTargets), ...(short?.keys() ?? [])]);
    for (const model of [...models].sort()) {
      const idleWarm = idleWarmWith(pool, model);
      const warming = warmingCounts(pool).get(model) ?? 0;
      const wanted = (pool.warmTargets[model] ?? 0) + (short?.get(model) ?? 0);
      let deficit = wanted - idleWarm - warming;
      if (deficit <= 0) continue;
      const chosen = pickToWarm(pool, model, deficit, { forP1: short?.has(model) ?? false, short });
      deficit -= chosen.length;
      if (deficit > 0 && short?.has(model)) {
        // a P1 is waiting: preempt P3, then P2, to make room for its model
        const victims = chooseVictims(pool, runsIn(pool.resourceId), deficit, 0);
        if (victims) {
          for (const v of victims) preempt(v, 'p1', `preempted to warm ${model} for a waiting P1 on ${pool.resourceId}`);
          chosen.push(...pickToWarm(pool, model, deficit, { forP1: true, short, taken: chosen, freed: new Set(victims.flatMap((v) => v.gpuIndexes)) }));
        } else starvedOfPower.add(pool.gpuType);
      }
      if (chosen.length === 0) continue;
      out.push({ type: 'warm', poolId: pool.resourceId, gpuIds: gpuIdsOf(pool, chosen), model, loadMs: coldLoadMs(model), reason: short?.has(model) ? `a P1 waits for ${model}` : `warm standby target ${pool.warmTargets[model]} for ${model}` });
      rewrite(pool, chosen, (g) => ({ ...g, warming: true, warmReadyAt: null, model }));
    }
  }

  // 6. power for work that waits: mining yields to P1–P3 (P4 takes what is left)
  for (const type of new Set([...wantsPower, ...starvedOfPower])) {
    const candidates = poolsOfType(type)
      .filter((p) => p.mode !== 'serving' && p.mode !== 'training' && p.powerChange === undefined && now >= (p.powerRetryAtMs?.up ?? 0))
      .sort((a, b) => (a.powerUsdPerMwh ?? Infinity) - (b.powerUsdPerMwh ?? Infinity) || b.units - a.units || (a.resourceId < b.resourceId ? -1 : 1));
    const pool = candidates[0];
    if (pool) out.push({ type: 'power', poolId: pool.resourceId, facilityId: pool.facilityId, direction: 'up', reason: `${type} work waits that ${pool.resourceId}'s warm standby cannot power` });
  }
  const rooms = new Map<GpuType, readonly PoolRoom[]>();
  const roomAfter = (type: GpuType) => {
    const typePools = byType.get(type);
    if (!typePools) return undefined;
    let room = rooms.get(type);
    if (!room)
      rooms.set(
        type,
        (room = typePools.map((p) => ({ withReserve: keptWithReserve(p).free, withoutReserve: keptWithoutReserve(p).free, outsideReserveUpTo: inServiceOf(p) - p.warmStandbyUnits, inService: inServiceOf(p) }))),
      );
    return room;
  };
  return { decisions: out, roomAfter };
};

/**
 * GPUs to warm with a model: idle warm GPUs of models over their targets first (already powered),
 * then off GPUs the envelope can power; coolest first, then lowest index. For a P1 that waits,
 * then idle GPUs warm with other models even at their targets: a P1 here now goes before the
 * reserve kept for P1s that may come (else a gang as big as the pool would wait for ever).
 */
const pickToWarm = (
  pool: WorkPool,
  model: string,
  count: number,
  {
    forP1 = false,
    short,
    taken = [],
    freed = new Set(),
  }: { forP1?: boolean; short?: ReadonlyMap<string, number> | undefined; taken?: readonly number[]; freed?: ReadonlySet<number> } = {},
): number[] => {
  // idle warm GPUs beyond what each other model needs (its target and the P1s waiting for it):
  // never those a waiting P1 needs, or two models would take each other's GPUs round after round
  const over = new Map<string, number>();
  for (const g of freeGpus(pool.gpus)) if (g.model && g.model !== model) over.set(g.model, (over.get(g.model) ?? 0) + 1);
  for (const [m, n] of over) over.set(m, n - (pool.warmTargets[m] ?? 0) - (short?.get(m) ?? 0));
  const temperature = (g: GpuUnit) => pool.temperatureC[g.index] ?? 45;
  const order = (a: GpuUnit, b: GpuUnit) => temperature(a) - temperature(b) || a.index - b.index;
  // GPUs just freed for this model first, whatever they hold
  const chosen: number[] = [...freed].filter((i) => isFree(pool.gpus[i]!) && !taken.includes(i)).slice(0, count);
  const out = new Set([...taken, ...chosen]);
  // each step below looks at the pool's GPUs only when it can add one: a deficit that cannot be
  // met (no headroom, nothing over its target) comes back every round, and sorting thousands of
  // GPUs for nothing was most of a round at the designed scale
  if (chosen.length < count && [...over.values()].some((n) => n > 0))
    for (const g of firstInOrder(freeGpus(pool.gpus).filter((x) => x.model !== null && x.model !== model && !out.has(x.index)), order)) {
      if (chosen.length >= count) break;
      if ((over.get(g.model!) ?? 0) <= 0) continue;
      over.set(g.model!, over.get(g.model!)! - 1);
      chosen.push(g.index);
      out.add(g.index);
    }
  const headroom = headroomOf(pool);
  if (chosen.length < count && headroom > 0)
    for (const g of firstInOrder(freeGpus(pool.gpus).filter((x) => !isPowered(x) && !out.has(x.index)), order, Math.min(count - chosen.length, headroom))) {
      chosen.push(g.index);
      out.add(g.index);
    }
  if (forP1 && chosen.length < count)
    for (const g of firstInOrder(freeGpus(pool.gpus).filter((x) => x.model !== null && x.model !== model && !short?.has(x.model) && !out.has(x.index)), order, count - chosen.length)) chosen.push(g.index);
  return chosen;
};

