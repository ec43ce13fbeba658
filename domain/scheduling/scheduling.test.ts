/**
 * Model-based tests of the scheduler (invariants 2 and 3): random sequences of arrivals, time
 * passing, GPU faults and repairs and price spikes drive a small world of pools; every round's
 * decisions are carried out through the pools' own decider, and checked against what the world
 * knows:
 *  - invariant 2: a placement takes exactly the workload's GPU count, of its type, each GPU
 *    free, healthy and in service (a P1 only GPUs warm with its model); a GPU serves at most one
 *    workload; nothing stays on a failed GPU;
 *  - invariant 3: P1 is never preempted; work that waits while a pool of its type is not
 *    powered asks for power (mining yields to P1–P3); once arrivals stop every workload ends
 *    (none starves), and a P3 is placed under a steady stream of P2 that would otherwise
 *    always go first.
 * And the room a round says it leaves: a P2/P3 arriving where it left none, with others of its
 * type and tier waiting, changes nothing the next round decides (the scheduler runs none for it).
 * And a round that passes over a GPU type none of whose waiting work fits, handed the runs per
 * pool as the scheduler keeps them, decides exactly what a round walking all of it and grouping
 * the runs itself does.
 * Each property is also run against a scheduler with a bug planted, and must catch it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gpuIdOf, isFree, newGpus } from '../fleet/gpus.ts';
import { emptyMap, entriesOf, getIn } from '../persistent-map.ts';
import { decidePool, evolvePool, poweredCount, type GpuPoolCommand, type GpuPoolState } from '../resource/gpu-pool.ts';
import { iso } from '../time.ts';
import type { Tier } from '../billing/price-list.ts';
import type { GpuType, WorkloadRequest } from '../workload/request.ts';
import { createQueue, waitingByType } from './queue.ts';
import { createRuns } from './runs.ts';
import { decideRound, fitsInRoom, POWER_DOWN_IDLE_MS, schedulingRound, tiersStuck, type PoolRoom, type RoundOutcome } from './round.ts';
import { pausedKey, type Decision, type PoolView, type Running, type SchedulerView, type Waiting, type WaitingOfType } from './types.ts';

/** The world's views hold what waits as a list. */
const listOf = (view: SchedulerView) => view.waiting as readonly Waiting[];

type Round = (view: SchedulerView) => Decision[];
type Pool = GpuPoolState & { facilityId: string };
/** A run as the world knows it: when it starts (after its model loads), and what it was placed from. */
type Run = Running & { startsAtMs: number; remaining: number; origin: Waiting };

type World = {
  now: number;
  pools: Map<string, Pool>;
  waiting: Waiting[];
  running: Run[];
  paused: Set<string>;
  warming: Array<{ poolId: string; gpuIds: string[]; model: string; readyAtMs: number }>;
  lastDemand: Map<string, number>;
  /** Pools whose power-down was asked for and completes after the next round (a handover takes its phases). */
  poweringDown: Set<string>;
  arrived: number;
  ended: Set<string>;
  failed: Set<string>;
  /** When each workload was first placed. */
  placedAt: Map<string, number>;
  violations: string[];
};

const POOLS: ReadonlyArray<{ resourceId: string; facilityId: string; gpuType: GpuType; units: number; warmStandbyUnits: number; mode: Pool['mode'] }> = [
  { resourceId: 'a-h100', facilityId: 'a', gpuType: 'H100', units: 16, warmStandbyUnits: 4, mode: 'serving' },
  { resourceId: 'b-h100', facilityId: 'b', gpuType: 'H100', units: 8, warmStandbyUnits: 2, mode: 'warm_standby' },
  { resourceId: 'a-a100', facilityId: 'a', gpuType: 'A100', units: 8, warmStandbyUnits: 2, mode: 'off' },
];

const newWorld = (): World => ({
  now: Date.parse('2024-01-01T00:00:00Z'),
  pools: new Map(
    POOLS.map((p) => [p.resourceId, { ...p, switchingTo: undefined, gpus: newGpus(p.units), holders: emptyMap(), warmTargets: {} }]),
  ),
  waiting: [],
  running: [],
  paused: new Set(),
  warming: [],
  lastDemand: new Map(),
  poweringDown: new Set(),
  arrived: 0,
  ended: new Set(),
  failed: new Set(),
  placedAt: new Map(),
  violations: [],
});

/** A pool command through the pool's decider; a refusal is returned, not applied. */
const poolCommand = (w: World, poolId: string, command: GpuPoolCommand) => {
  let pool = w.pools.get(poolId)!;
  const decision = decidePool(command, pool);
  if (decision.type === 'rejected') return decision.rejection.message;
  for (const e of decision.events) pool = { ...pool, ...evolvePool(pool, e) };
  w.pools.set(poolId, pool);
  return undefined;
};

const viewOf = (w: World): SchedulerView => ({
  nowMs: w.now,
  pools: [...w.pools.values()].map((p) => ({ ...p, temperatureC: {}, powerUsdPerMwh: 40, powerChange: w.poweringDown.has(p.resourceId) ? ('down' as const) : undefined, lastDemandMs: w.lastDemand.get(p.resourceId) ?? w.now })),
  waiting: w.waiting,
  running: w.running.map(({ startsAtMs: _s, remaining: _r, origin: _o, ...r }) => r),
  paused: w.paused,
  recentP1Gpus: {},
});

const requeue = (w: World, r: Run) => {
  const ran = Math.max(0, Math.floor((w.now - r.startsAtMs) / 1000));
  w.running = w.running.filter((x) => x !== r);
  w.waiting.push({ ...r.origin, queuedAtMs: w.now, nextRun: r.run + 1, remainingSeconds: Math.max(1, r.remaining - ran) });
};

/** One round, its decisions carried out and checked. */
const round = (w: World, schedule: Round) => {
  const decisions = schedule(viewOf(w));
  const downBefore = [...w.poweringDown];
  const waitedBefore = new Set(w.waiting.map((x) => x.workloadId));
  const placedNow = new Set<string>();
  for (const d of decisions) {
    switch (d.type) {
      case 'place': {
        const waiting = w.waiting.find((x) => x.workloadId === d.workloadId && x.nextRun === d.run);
        const pool = w.pools.get(d.poolId);
        if (!waiting || !pool) {
          w.violations.push(`placed ${d.workloadId} run ${d.run}, which does not wait, or on an unknown pool`);
          break;
        }
        const req = waiting.request;
        if (pool.gpuType !== req.gpuType) w.violations.push(`${d.workloadId} wants ${req.gpuType}, placed on ${pool.gpuType}`);
        if (d.gpuIndexes.length !== req.gpuCount || new Set(d.gpuIndexes).size !== req.gpuCount) w.violations.push(`${d.workloadId} wants ${req.gpuCount} GPUs, got [${d.gpuIndexes}]`);
        for (const i of d.gpuIndexes) {
          const g = pool.gpus[i];
          if (!g || !isFree(g)) w.violations.push(`${d.workloadId} placed on GPU ${i} of ${d.poolId}, which is not free (${JSON.stringify(g)})`);
          else if (waiting.priority === 'P1' && g.model !== req.model) w.violations.push(`P1 ${d.workloadId} placed on GPU ${i}, not warm with ${req.model}`);
        }
        const refused = poolCommand(w, d.poolId, { type: 'AllocateGpus', workloadId: d.workloadId, run: d.run, gpuIds: d.gpuIds, mode: d.mode, model: d.model });
        if (refused) {
          w.violations.push(`the pool refused ${d.workloadId}'s placement: ${refused}`);
          break;
        }
        w.waiting = w.waiting.filter((x) => x !== waiting);
        const startsAtMs = w.now + d.startupMs;
        w.running.push({
          workloadId: d.workloadId,
          priority: waiting.priority,
          request: req,
          run: d.run,
          poolId: d.poolId,
          gpuIndexes: d.gpuIndexes,
          sinceMs: w.now,
          endsAtMs: startsAtMs + waiting.remainingSeconds * 1000,
          startsAtMs,
          remaining: waiting.remainingSeconds,
          origin: waiting,
        });
        if (!w.placedAt.has(d.workloadId)) w.placedAt.set(d.workloadId, w.now);
        placedNow.add(d.workloadId);
        if (waiting.priority !== 'P1') w.lastDemand.set(d.poolId, w.now);
        break;
      }
      case 'preempt': {
        const r = w.running.find((x) => x.workloadId === d.workloadId && x.run === d.run);
        if (!r) {
          w.violations.push(`preempted ${d.workloadId} run ${d.run}, which does not run`);
          break;
        }
        if (r.priority === 'P1') w.violations.push(`P1 ${d.workloadId} preempted (${d.reason})`);
        poolCommand(w, r.poolId, { type: 'ReleaseGpus', workloadId: r.workloadId, run: r.run, keepModel: r.request.type !== 'model_training' });
        requeue(w, r);
        break;
      }
      case 'warm': {
        const refused = poolCommand(w, d.poolId, { type: 'WarmGpus', gpuIds: d.gpuIds, model: d.model, readyAt: iso(w.now + d.loadMs) });
        if (refused) w.violations.push(`the pool refused to warm ${d.gpuIds.length} GPUs: ${refused}`);
        else w.warming.push({ poolId: d.poolId, gpuIds: d.gpuIds, model: d.model, readyAtMs: w.now + d.loadMs });
        break;
      }
      case 'cool':
        poolCommand(w, d.poolId, { type: 'CoolGpus', gpuIds: d.gpuIds });
        break;
      case 'size-warm':
        poolCommand(w, d.poolId, { type: 'SizeWarmStandby', targets: d.targets, reason: d.reason, basis: d.basis });
        break;
      case 'power': {
        // power comes at once; giving it back is a handover whose capacity check comes after the next round
        const pool = w.pools.get(d.poolId)!;
        if (d.direction === 'up') w.pools.set(d.poolId, { ...pool, mode: 'serving' });
        else if (w.poweringDown.has(d.poolId)) w.violations.push(`${d.poolId}: power-down asked for again while one is under way`);
        else w.poweringDown.add(d.poolId);
        break;
      }
      case 'fail': {
        const waiting = w.waiting.find((x) => x.workloadId === d.workloadId);
        if (!waiting) break;
        const largest = Math.max(0, ...[...w.pools.values()].filter((p) => p.gpuType === waiting.request.gpuType).map((p) => p.gpus.filter((g) => g.health !== 'failed' && g.inService).length));
        if (waiting.request.gpuCount <= largest) w.violations.push(`${d.workloadId} failed (${d.reason}) though a pool holds ${largest}`);
        w.waiting = w.waiting.filter((x) => x !== waiting);
        w.failed.add(d.workloadId);
        break;
      }
    }
  }
  for (const poolId of downBefore) {
    const pool = w.pools.get(poolId)!;
    w.poweringDown.delete(poolId);
    if (poweredCount(pool.gpus) > pool.warmStandbyUnits) w.violations.push(`${poolId} powered down with ${poweredCount(pool.gpus)} GPUs powered, its standby powers ${pool.warmStandbyUnits}`);
    else w.pools.set(poolId, { ...pool, mode: 'warm_standby' });
  }
  // mining yields to P1–P3: work that stays waiting asks for the power of an unpowered pool of its type
  if (w.paused.size === 0)
    for (const waiting of w.waiting) {
      // (one preempted in this round was not in its queue)
      if (!waitedBefore.has(waiting.workloadId)) continue;
      if (waiting.priority === 'P1' || placedNow.has(waiting.workloadId)) continue;
      const type = waiting.request.gpuType;
      // (a pool whose power-down completed after this round's decisions was still changing during it)
      const unpowered = [...w.pools.values()].some((p) => p.gpuType === type && p.mode !== 'serving' && p.mode !== 'training' && !downBefore.includes(p.resourceId));
      const asked = decisions.some((d) => d.type === 'power' && d.direction === 'up' && w.pools.get(d.poolId)?.gpuType === type);
      if (unpowered && !asked) w.violations.push(`${waiting.priority} ${waiting.workloadId} waits for ${type} while a pool of its type stays unpowered`);
    }
  checkHoldings(w);
};

/** Invariant 2 over the whole world: holdings match the runs, one workload per GPU, none on a failed GPU. */
const checkHoldings = (w: World) => {
  for (const pool of w.pools.values()) {
    const owners = new Map<number, string>();
    for (const [workloadId, held] of entriesOf(pool.holders))
      for (const i of held.indexes) {
        if (owners.has(i)) w.violations.push(`GPU ${i} of ${pool.resourceId} held by ${owners.get(i)} and ${workloadId}`);
        owners.set(i, workloadId);
        if (pool.gpus[i]!.health === 'failed') w.violations.push(`${workloadId} stays on failed GPU ${i} of ${pool.resourceId}`);
      }
  }
  for (const r of w.running) {
    const held = getIn(w.pools.get(r.poolId)!.holders, r.workloadId);
    if (!held || held.indexes.length !== r.request.gpuCount) w.violations.push(`${r.workloadId} runs on ${held?.indexes.length ?? 0} GPUs, asked ${r.request.gpuCount}`);
  }
};

/** Time passes to `until`: runs end and models finish loading at their moments, a round after each. */
const advance = (w: World, until: number, schedule: Round) => {
  for (;;) {
    const next = Math.min(until, ...w.running.map((r) => r.endsAtMs!), ...w.warming.map((x) => x.readyAtMs));
    w.now = Math.max(w.now, next);
    for (const r of w.running.filter((x) => x.endsAtMs! <= w.now)) {
      poolCommand(w, r.poolId, { type: 'ReleaseGpus', workloadId: r.workloadId, run: r.run, keepModel: r.request.type !== 'model_training' });
      w.running = w.running.filter((x) => x !== r);
      w.ended.add(r.workloadId);
    }
    for (const x of w.warming.filter((y) => y.readyAtMs <= w.now)) poolCommand(w, x.poolId, { type: 'FinishWarming', gpuIds: x.gpuIds, model: x.model });
    w.warming = w.warming.filter((y) => y.readyAtMs > w.now);
    round(w, schedule);
    if (w.now >= until) return;
  }
};

type Step =
  | { type: 'arrive'; priority: Tier; gpuType: GpuType; gpuCount: number; minutes: number; model: string }
  | { type: 'wait'; minutes: number }
  | { type: 'fault'; pool: number; gpu: number }
  | { type: 'repair'; pool: number; gpu: number }
  | { type: 'spike'; on: boolean };

const MODELS = ['llama-3-8b', 'llama-3-70b', 'mistral-7b', 'falcon-40b'];

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      type: fc.constant('arrive' as const),
      priority: fc.constantFrom<Tier>('P1', 'P2', 'P3'),
      gpuType: fc.constantFrom<GpuType>('H100', 'A100'),
      gpuCount: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 5, max: 20 })),
      minutes: fc.integer({ min: 1, max: 120 }),
      model: fc.constantFrom(...MODELS),
    }),
  },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('wait' as const), minutes: fc.integer({ min: 1, max: 90 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('fault' as const), pool: fc.nat(POOLS.length - 1), gpu: fc.nat(15) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('repair' as const), pool: fc.nat(POOLS.length - 1), gpu: fc.nat(15) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('spike' as const), on: fc.boolean() }) },
);

const apply = (w: World, s: Step, schedule: Round) => {
  switch (s.type) {
    case 'arrive': {
      const workloadId = `w${++w.arrived}`;
      const type: WorkloadRequest['type'] = s.priority === 'P1' ? 'ai_inference_realtime' : s.priority === 'P2' ? 'ai_inference_batch' : 'model_training';
      const request: WorkloadRequest = { type, model: s.model, gpuType: s.gpuType, gpuCount: s.gpuCount, durationSeconds: s.minutes * 60, ...(type === 'ai_inference_realtime' ? { maxLatencyMs: 200 } : {}) };
      w.waiting.push({ workloadId, customerId: 'c', priority: s.priority, request, firstQueuedAtMs: w.now, queuedAtMs: w.now, nextRun: 1, remainingSeconds: request.durationSeconds });
      round(w, schedule);
      return;
    }
    case 'wait':
      return advance(w, w.now + s.minutes * 60_000, schedule);
    case 'fault':
    case 'repair': {
      const pool = [...w.pools.values()][s.pool]!;
      const gpu = s.gpu % pool.units;
      const gpuId = gpuIdOf(pool.resourceId, pool.gpuType, gpu);
      const holder = s.type === 'fault' ? w.running.find((r) => r.poolId === pool.resourceId && r.gpuIndexes.includes(gpu)) : undefined;
      poolCommand(w, pool.resourceId, { type: 'SetGpuHealth', gpuId, health: s.type === 'fault' ? 'failed' : 'healthy', reason: 'test' });
      if (holder) {
        // the run is interrupted (P1 too: it is moved, not preempted) and its workload queued again
        poolCommand(w, holder.poolId, { type: 'ReleaseGpus', workloadId: holder.workloadId, run: holder.run, keepModel: false });
        requeue(w, holder);
      }
      round(w, schedule);
      return;
    }
    case 'spike':
      w.paused = s.on ? new Set([pausedKey('a', 'H100', 'P2'), pausedKey('a', 'H100', 'P3')]) : new Set();
      round(w, schedule);
      return;
  }
};

/** After the steps: the spike passes, GPUs are repaired, and time runs on until all work has ended. */
const drain = (w: World, schedule: Round) => {
  w.paused = new Set();
  for (const pool of [...w.pools.values()])
    pool.gpus.forEach((g, i) => {
      if (g.health !== 'healthy') poolCommand(w, pool.resourceId, { type: 'SetGpuHealth', gpuId: gpuIdOf(pool.resourceId, pool.gpuType, i), health: 'healthy', reason: 'repaired' });
    });
  const deadline = w.now + 7 * 24 * 3_600_000;
  while ((w.waiting.length > 0 || w.running.length > 0) && w.now < deadline) advance(w, w.now + 3_600_000, schedule);
};

const worldProperty = (schedule: Round) =>
  fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
    const w = newWorld();
    for (const s of steps) apply(w, s, schedule);
    drain(w, schedule);
    const stuck = w.waiting.map((x) => `${x.priority} ${x.workloadId} (${x.request.gpuCount} ${x.request.gpuType})`);
    if (stuck.length > 0) w.violations.push(`still waiting a week after the last arrival: ${stuck.join(', ')}`);
    for (let i = 1; i <= w.arrived; i++) if (!w.ended.has(`w${i}`) && !w.failed.has(`w${i}`)) w.violations.push(`w${i} neither ended nor failed`);
    expect(w.violations).toEqual([]);
  });

/** A steady stream of P2 that each take most of a pool, and one P3 like them, waiting among them. */
const starvationProperty = (schedule: Round) =>
  // each P2 runs longer than the gap to the next, so P2s always wait: without aging the P3 never goes
  fc.property(fc.integer({ min: 4, max: 10 }), fc.integer({ min: 12, max: 30 }), fc.integer({ min: 1, max: 9 }), (everyMinutes, minutes, p3After) => {
    const w = newWorld();
    const streamEnds = w.now + 8 * 3_600_000;
    const arrive = (priority: Tier) =>
      apply(w, { type: 'arrive', priority, gpuType: 'H100', gpuCount: 12, minutes, model: 'llama-3-8b' }, schedule);
    // the other H100 pool is off the table: all of it at facility b is out of service
    const b = w.pools.get('b-h100')!;
    w.pools.set('b-h100', { ...b, gpus: b.gpus.map((g) => ({ ...g, inService: false })) });
    arrive('P2');
    advance(w, w.now + p3After * 60_000, schedule);
    arrive('P3');
    const p3 = `w${w.arrived}`;
    const p3ArrivedAt = w.now;
    while (w.now < streamEnds) {
      advance(w, w.now + everyMinutes * 60_000, schedule);
      arrive('P2');
    }
    const waitedMinutes = w.placedAt.has(p3) ? (w.placedAt.get(p3)! - p3ArrivedAt) / 60_000 : Infinity;
    // aging lifts it to the best aged rank within 45 minutes; then only the P2s older than it go first
    expect(waitedMinutes).toBeLessThan(180);
    expect(w.violations).toEqual([]);
  });

/** Planted bugs: each must be caught. */
const PLANTED: Record<string, Round> = {
  'places onto GPUs it believes idle': (view) => schedulingRound({ ...view, pools: view.pools.map((p) => ({ ...p, gpus: p.gpus.map((g) => ({ ...g, busy: null })) })) }),
  'treats a running P1 as P3': (view) => schedulingRound({ ...view, running: [...view.running].map((r) => ({ ...r, priority: 'P3' as const })) }),
  'never asks mining for power': (view) => schedulingRound(view).filter((d) => !(d.type === 'power' && d.direction === 'up')),
  'warms a pool that gives its power back': (view) => schedulingRound({ ...view, pools: view.pools.map((p) => ({ ...p, powerChange: undefined })) }),
  'does not age the queue': (view) => schedulingRound({ ...view, waiting: listOf(view).map((x) => ({ ...x, queuedAtMs: view.nowMs })) }),
};

/**
 * After random steps, a P2/P3 arrival that fits in none of the room the last round left its type,
 * nor does any other work of its type that waits (others of its tier among them, a pool able to
 * hold it, nothing changed since): a round with it decides exactly what a round without it does.
 * `cases` counts the arrivals that met those conditions.
 */
const mootArrivalProperty = (decide: (view: SchedulerView) => RoundOutcome, cases: { n: number }) =>
  fc.property(
    fc.array(step, { minLength: 1, maxLength: 40 }),
    // then a burst of long P2/P3 gangs, which fills the pools
    fc.array(
      fc.record({ type: fc.constant('arrive' as const), priority: fc.constantFrom<Tier>('P2', 'P3'), gpuType: fc.constantFrom<GpuType>('H100', 'A100'), gpuCount: fc.integer({ min: 2, max: 16 }), minutes: fc.integer({ min: 60, max: 240 }), model: fc.constantFrom(...MODELS) }),
      { minLength: 4, maxLength: 16 },
    ),
    fc.record({ priority: fc.constantFrom<Tier>('P2', 'P3'), gpuType: fc.constantFrom<GpuType>('H100', 'A100'), gpuCount: fc.integer({ min: 1, max: 16 }), model: fc.constantFrom(...MODELS) }),
    (steps, burst, a) => {
      const w = newWorld();
      let last: { view: SchedulerView; outcome: RoundOutcome } | undefined;
      const remembering: Round = (view) => {
        const outcome = decide(view);
        last = { view, outcome };
        return outcome.decisions;
      };
      for (const s of [...steps, ...burst]) apply(w, s, remembering);
      const room = last?.outcome.roomAfter(a.gpuType);
      if (!last || !room || fitsInRoom(room, a.gpuCount)) return;
      // a pool's power-down completes after the round in this world: a change since
      if (last.view.pools.some((p) => w.pools.get(p.resourceId)!.mode !== p.mode)) return;
      if (!w.waiting.some((x) => x.request.gpuType === a.gpuType && x.priority === a.priority)) return;
      if (w.waiting.some((x) => x.request.gpuType === a.gpuType && fitsInRoom(room, x.request.gpuCount))) return;
      if (a.gpuCount > Math.max(0, ...[...w.pools.values()].filter((p) => p.gpuType === a.gpuType).map((p) => p.gpus.filter((g) => g.health !== 'failed' && g.inService).length))) return;
      cases.n++;
      const view = viewOf(w);
      const type: WorkloadRequest['type'] = a.priority === 'P2' ? 'ai_inference_batch' : 'model_training';
      const arrival: Waiting = { workloadId: 'arrival', customerId: 'c', priority: a.priority, request: { type, model: a.model, gpuType: a.gpuType, gpuCount: a.gpuCount, durationSeconds: 600 }, firstQueuedAtMs: w.now, queuedAtMs: w.now, nextRun: 1, remainingSeconds: 600 };
      expect(decide({ ...view, waiting: [...listOf(view), arrival] }).decisions).toEqual(decide(view).decisions);
    },
  );

/**
 * Every round of random steps and a burst that fills the pools, and the hours after: the round as
 * the scheduler runs it (with `tally`, what waits per GPU type in short) decides exactly what a
 * round walking every waiting workload does. `passedOver` counts rounds in which it passed over
 * a type with work waiting.
 */
const passOverProperty = (tally: (waiting: readonly Waiting[]) => ReadonlyMap<GpuType, WaitingOfType>, passedOver: { n: number }) =>
  fc.property(
    fc.array(step, { minLength: 1, maxLength: 30 }),
    fc.array(
      fc.record({ type: fc.constant('arrive' as const), priority: fc.constantFrom<Tier>('P1', 'P2', 'P3'), gpuType: fc.constantFrom<GpuType>('H100', 'A100'), gpuCount: fc.integer({ min: 1, max: 16 }), minutes: fc.integer({ min: 30, max: 240 }), model: fc.constantFrom(...MODELS) }),
      { minLength: 4, maxLength: 20 },
    ),
    (steps, burst) => {
      const w = newWorld();
      const both: Round = (view) => {
        const walked = decideRound(view, { passOverStuck: false }).decisions;
        // the queue and the runs as a scheduler keeps them (queue.ts, runs.ts), not sorted and grouped by the round
        const list = listOf(view);
        const queue = createQueue();
        for (const x of list) queue.add(x);
        const runs = createRuns();
        for (const r of view.running) runs.add(r);
        const passing = decideRound({ ...view, waiting: { byType: () => tally(list), firstOf: queue.firstOf, walk: queue.walk }, runsByPool: runs.byPool() }).decisions;
        expect(passing).toEqual(walked);
        const types = new Set(list.map((x) => x.request.gpuType));
        if ([...types].some((t) => !decideRound({ ...view, waiting: list.filter((x) => x.request.gpuType === t) }).decisions.some((d) => d.type === 'place' || d.type === 'fail'))) passedOver.n++;
        return walked;
      };
      for (const s of [...steps, ...burst, { type: 'wait' as const, minutes: 240 }]) apply(w, s, both);
    },
  );

/** A P2 batch job of ten minutes that has waited `agoMs` at `nowMs`. */
const batchWaiting = (nowMs: number) => (id: string, gpuType: GpuType, gpuCount: number, agoMs: number): Waiting => ({
  workloadId: id,
  customerId: 'c',
  priority: 'P2',
  request: { type: 'ai_inference_batch', gpuType, gpuCount, model: 'llama-3-8b', durationSeconds: 600 },
  firstQueuedAtMs: nowMs - agoMs,
  queuedAtMs: nowMs - agoMs,
  nextRun: 1,
  remainingSeconds: 600,
});

describe('scheduler (invariants 2 and 3), model-based', () => {
  it('places exactly, never preempts P1, asks mining for power, and lets every workload end', () => {
    fc.assert(worldProperty(schedulingRound), { numRuns: 60 });
  });

  it('places a P3 under a steady stream of P2 (aging), well before the stream ends', () => {
    fc.assert(starvationProperty(schedulingRound), { numRuns: 20 });
  });

  it.each(['places onto GPUs it believes idle', 'treats a running P1 as P3', 'never asks mining for power', 'warms a pool that gives its power back'])('catches a scheduler that %s', (bug) => {
    expect(fc.check(worldProperty(PLANTED[bug]!), { numRuns: 200 }).failed).toBe(true);
  });

  it('asks for no change of a pool\'s power before the pause after a failed one (POWER_RETRY_MS)', () => {
    const w = newWorld();
    w.lastDemand.set('a-h100', w.now - POWER_DOWN_IDLE_MS);
    const view = viewOf(w);
    type Retry = PoolView['powerRetryAtMs'];
    const powerDecisions = (retry: Retry) =>
      schedulingRound({ ...view, pools: view.pools.map((p) => ({ ...p, powerRetryAtMs: retry })) }).flatMap((d) => (d.type === 'power' ? [d.poolId] : []));
    expect(powerDecisions(undefined)).toEqual(['a-h100']);
    expect(powerDecisions({ down: w.now + 1 })).toEqual([]);
    expect(powerDecisions({ down: w.now })).toEqual(['a-h100']);
    expect(powerDecisions({ up: w.now + 1 })).toEqual(['a-h100']); // a failed power-up does not hold back giving power back
    // nor power for waiting work from a pool whose power-up just failed
    w.waiting.push({ workloadId: 'w1', customerId: 'c', priority: 'P2', request: { type: 'ai_inference_batch', gpuType: 'A100', gpuCount: 1, model: 'llama-3-8b', durationSeconds: 60 }, firstQueuedAtMs: w.now, queuedAtMs: w.now, nextRun: 1, remainingSeconds: 60 });
    const withWork = viewOf(w);
    const up = (retry: Retry) =>
      schedulingRound({ ...withWork, pools: withWork.pools.map((p) => ({ ...p, powerRetryAtMs: retry })) }).flatMap((d) => (d.type === 'power' && d.direction === 'up' ? [d.poolId] : []));
    expect(up(undefined)).toEqual(['a-a100']);
    expect(up({ up: w.now + 1 })).toEqual([]);
    expect(up({ down: w.now + 1 })).toEqual(['a-a100']);
  });

  it('readies a pool that keeps its power for a waiting P1, not one giving its power back', () => {
    const w = newWorld();
    w.poweringDown.add('a-h100');
    w.waiting.push({ workloadId: 'p1', customerId: 'c', priority: 'P1', request: { type: 'ai_inference_realtime', gpuType: 'H100', gpuCount: 1, model: 'mistral-7b', durationSeconds: 60, maxLatencyMs: 100 }, firstQueuedAtMs: w.now, queuedAtMs: w.now, nextRun: 1, remainingSeconds: 60 });
    const decisions = schedulingRound(viewOf(w));
    // b-h100's standby powers only its reserve: it asks mining for power to warm the P1's model
    const forP1 = decisions.flatMap((d) => ((d.type === 'warm' && d.model === 'mistral-7b') || (d.type === 'power' && d.direction === 'up') ? [d.poolId] : []));
    expect(forP1).toEqual(['b-h100']);
  });

  it('decides nothing new for a P2/P3 arrival where nothing of its type fits in the room the round before left', () => {
    const cases = { n: 0 };
    fc.assert(mootArrivalProperty(decideRound, cases), { numRuns: 800 });
    expect(cases.n).toBeGreaterThan(100); // the property met the case it is about, often
  });

  it("tells the tiers stuck behind a type's room from the queue's tally as a scan of every waiting workload does, P1s among them", () => {
    const stuck = fc.property(
      fc.array(fc.record({ priority: fc.constantFrom<Tier>('P1', 'P2', 'P3'), gpuType: fc.constantFrom<GpuType>('H100', 'A100'), gpuCount: fc.integer({ min: 1, max: 16 }) }), { maxLength: 12 }),
      fc.array(fc.record({ withReserve: fc.integer({ min: 0, max: 16 }), withoutReserve: fc.integer({ min: 0, max: 16 }), outsideReserveUpTo: fc.integer({ min: 0, max: 16 }), inService: fc.constant(16) }), { minLength: 1, maxLength: 3 }),
      (asks, rooms) => {
        const waiting = asks.map((a, i): Waiting => ({ workloadId: `w${i}`, customerId: 'c', priority: a.priority, request: { type: 'ai_inference_batch', model: 'llama-3-8b', gpuType: a.gpuType, gpuCount: a.gpuCount, durationSeconds: 600 }, firstQueuedAtMs: i, queuedAtMs: i, nextRun: 1, remainingSeconds: 600 }));
        const ofType = waiting.filter((w) => w.request.gpuType === 'H100');
        const scanned = ofType.some((w) => fitsInRoom(rooms, w.request.gpuCount)) ? null : new Set(ofType.map((w) => w.priority));
        expect(tiersStuck(waitingByType(waiting).get('H100'), rooms)).toEqual(scanned);
      },
    );
    fc.assert(stuck, { numRuns: 300 });
  });

  it('catches a round that says it left no room where it did', () => {
    const none: PoolRoom[] = [{ withReserve: 0, withoutReserve: 0, outsideReserveUpTo: 0, inService: 16 }];
    const noRoom = (view: SchedulerView): RoundOutcome => ({ ...decideRound(view), roomAfter: () => none });
    expect(fc.check(mootArrivalProperty(noRoom, { n: 0 }), { numRuns: 300 }).failed).toBe(true);
  });

  it('decides the same passing over a GPU type none of whose waiting work fits, and handed the runs per pool, as walking it all and grouping them itself', () => {
    const passedOver = { n: 0 };
    fc.assert(passOverProperty(waitingByType, passedOver), { numRuns: 150 });
    expect(passedOver.n).toBeGreaterThan(1000); // rounds with a type none of whose work was placed: the case it is about
  });

  it('catches a pass-over told only of the largest gangs that wait', () => {
    const largestOnly = (waiting: readonly Waiting[]) => {
      const tally = new Map(waitingByType(waiting));
      for (const [type, of] of tally) tally.set(type, { ...of, sizes: { P1: of.sizes.P1, P2: new Map([...of.sizes.P2].sort((a, b) => b[0] - a[0]).slice(0, 1)), P3: new Map([...of.sizes.P3].sort((a, b) => b[0] - a[0]).slice(0, 1)) } });
      return tally;
    };
    expect(fc.check(passOverProperty(largestOnly, { n: 0 }), { numRuns: 150 }).failed).toBe(true);
  });

  it('asks for power for a type passed over where walking it would have, among the types walked', () => {
    const w = newWorld();
    const p2 = batchWaiting(w.now);
    // H100 is walked (its first fits a-h100); A100 (its pool off) is passed over, wanting power, at
    // its first workload; the H100 gang of 16 that fits nowhere asks for power after it
    w.waiting = [p2('h-small', 'H100', 1, 3000), p2('a-first', 'A100', 2, 2000), p2('h-big', 'H100', 16, 1000)];
    const queue = createQueue();
    for (const x of w.waiting) queue.add(x);
    const powerUp = (view: SchedulerView) => decideRound(view).decisions.flatMap((d) => (d.type === 'power' && d.direction === 'up' ? [d.poolId] : []));
    expect(powerUp(viewOf(w))).toEqual(['a-a100', 'b-h100']);
    expect(powerUp({ ...viewOf(w), waiting: queue })).toEqual(['a-a100', 'b-h100']);
    expect(decideRound(viewOf(w), { passOverStuck: false }).decisions).toEqual(decideRound({ ...viewOf(w), waiting: queue }).decisions);
  });

  it('reads on past a GPU type whose rest can place nothing while another type it walks can', () => {
    const w = newWorld();
    w.pools.set('a-a100', { ...w.pools.get('a-a100')!, mode: 'serving' });
    const p2 = batchWaiting(w.now);
    // H100: 12 fit a-h100, then 8 is its blocked head and 6 finds no room: the rest of H100 places
    // nothing; the A100 gangs before and after them still go, each in its place in the queue
    w.waiting = [p2('h12', 'H100', 12, 4000), p2('a1', 'A100', 1, 5000), p2('h8', 'H100', 8, 3000), p2('h6', 'H100', 6, 2000), p2('a2', 'A100', 2, 1000)];
    const queue = createQueue();
    for (const x of w.waiting) queue.add(x);
    const placed = decideRound({ ...viewOf(w), waiting: queue }).decisions.flatMap((d) => (d.type === 'place' ? [d.workloadId] : []));
    expect(placed).toEqual(['a1', 'h12', 'a2']);
    expect(decideRound({ ...viewOf(w), waiting: queue }).decisions).toEqual(decideRound(viewOf(w), { passOverStuck: false }).decisions);
  });

  it('lets a gang go behind the blocked head of its pool only when it ends before the head could start', () => {
    const w = newWorld();
    const p2 = batchWaiting(w.now);
    // 12 of a-h100's 16 GPUs run a batch job for another hour; the head needs 14, so it starts in
    // an hour with 2 to spare, and a 4-GPU gang may go before it only if it is done by then
    const pool = w.pools.get('a-h100')!;
    const held = [...Array(12).keys()];
    w.pools.set('a-h100', { ...pool, gpus: pool.gpus.map((g, i) => (i < 12 ? { ...g, busy: { workloadId: 'big', run: 1, mode: 'serving' }, model: 'llama-3-8b' } : g)) });
    const big: Running = { workloadId: 'big', priority: 'P2', request: p2('big', 'H100', 12, 0).request, run: 1, poolId: 'a-h100', gpuIndexes: held, sinceMs: w.now, endsAtMs: w.now + 3_600_000 };
    w.waiting = [p2('head', 'H100', 14, 3000), { ...p2('long', 'H100', 4, 2000), remainingSeconds: 7200 }, { ...p2('short', 'H100', 4, 1000), remainingSeconds: 1200 }];
    const queue = createQueue();
    for (const x of w.waiting) queue.add(x);
    const view = { ...viewOf(w), running: [big] };
    const placed = decideRound({ ...view, waiting: queue }).decisions.flatMap((d) => (d.type === 'place' ? [d.workloadId] : []));
    expect(placed).toEqual(['short']);
    expect(decideRound({ ...view, waiting: queue }).decisions).toEqual(decideRound(view, { passOverStuck: false }).decisions);
  });

  it('catches a scheduler that does not age the queue', () => {
    expect(fc.check(starvationProperty(PLANTED['does not age the queue']!), { numRuns: 20 }).failed).toBe(true);
  });
});
