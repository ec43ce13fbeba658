/**
 * The scheduler, a process manager: it keeps a view of the queue, the running work and every
 * GPU pool, decides with the pure round (domain/scheduling/round.ts) and carries the decisions
 * out as commands (execute.ts), on the platform's time.
 *
 * Time is the events': each event moves the scheduler's `now` to its time (never back); before
 * it does, what changed at the current time is scheduled at that time, and every timer due by
 * the event's time fires at its own time (a run that ends at 10:00 ends at 10:00, whenever the
 * process notices). So decisions follow from the order of the events alone, and a simulated day
 * gives the same result however fast it runs; between events, the platform's clock moves `now`
 * on (tick). Wait times are measured on this time.
 *
 * Restartable: command ids derive from the workload and run (or the pool and time), and a
 * starting scheduler rebuilds its view from the streams (the pools, and each workload the read
 * model lists as not ended), releasing GPUs a crash left allocated to no run.
 */
import type { Logger } from 'pino';
import { tierOf } from '../../domain/billing/price-list.ts';
import type { FacilitySpec } from '../../domain/fleet/inventory.ts';
import { powerFeed, type PriceTick } from '../../domain/market/ticks.ts';
import { resourceDecider, resourceStream } from '../../domain/resource/resource.ts';
import { decideRound, fitsInRoom, POWER_DOWN_IDLE_MS, POWER_RETRY_MS, tiersStuck, type RoundOutcome } from '../../domain/scheduling/round.ts';
import { pausedKey, type PoolView, type Running, type Waiting } from '../../domain/scheduling/types.ts';
import { WARM_WINDOW_MS } from '../../domain/scheduling/warm-pool.ts';
import { createQueue } from '../../domain/scheduling/queue.ts';
import { createRuns } from '../../domain/scheduling/runs.ts';
import { iso } from '../../domain/time.ts';
import { entriesOf, getIn } from '../../domain/persistent-map.ts';
import { gpuIdOf } from '../../domain/fleet/gpus.ts';
import { ON_GPUS, TERMINAL, WAITING, workloadDecider, workloadStream, type ActiveWorkload, type WorkloadEvent } from '../../domain/workload/workload.ts';
import type { RecordedEvent } from '../../infra/event-store/types.ts';
import type { CommandDeps } from '../context.ts';
import { resourcesOf } from '../fleet.ts';
import { loadState } from '../handle.ts';
import { loadStreamState } from '../stream-state.ts';
import type { ProcessManager } from '../process-managers/runner.ts';
import { createExecutor, SCHEDULER_ACTOR, type PlaceOutcome, type PoolRecord } from './execute.ts';
import { createTimers, type Timer } from './timers.ts';

export type SchedulerOptions = {
  deps: CommandDeps;
  facilities: readonly FacilitySpec[];
  logger: Logger;
  /** The GPUs' temperatures from telemetry, °C by index (a GPU not heard yet is absent). */
  temperaturesOf?: (poolId: string) => Readonly<Record<number, number>>;
};

export type Scheduler = ProcessManager & {
  /** Rebuilds the view from the streams: once, before the first event. */
  /** Takes up the work in flight (from the streams, listed by the read models) and what was known of demand, prices and pauses, before the first event. */
  recover(nowMs: number): Promise<void>;
  /** Moves time on to `nowMs` (firing what is due) and schedules. */
  tick(nowMs: number): Promise<void>;
  /** Schedules what the events since the last round changed. */
  flush(): Promise<void>;
  /** The earliest timer, for a simulation to jump to. */
  nextDueMs(): number | undefined;
  /**
   * What it has done, and the wall time it took: deciding (the pure rounds) and placing (carrying a
   * placement out: its appends on the pool's and the workload's streams), so a backlog's pace can be
   * told from the pace of arrivals.
   */
  snapshot(): { nowMs: number; waiting: number; running: number; placements: number; preemptions: number; rounds: number; decidingMs: number; placingMs: number };
};

const eventTimeMs = (e: RecordedEvent) => {
  const at = (e.data as { at?: unknown }).at;
  const t = Date.parse(typeof at === 'string' ? at : e.metadata.occurredAt);
  return Number.isFinite(t) ? t : undefined;
};

export const createScheduler = ({ deps, facilities, logger, temperaturesOf }: SchedulerOptions): Scheduler => {
  const log = logger.child({ processManager: 'scheduler' });
  const poolIds = facilities.flatMap((f) => resourcesOf(f).filter((r) => r.kind === 'gpu_pool').map((r) => r.resourceId));
  const facilityOfPool = new Map(facilities.flatMap((f) => resourcesOf(f).filter((r) => r.kind === 'gpu_pool').map((r) => [r.resourceId, f.facilityId] as const)));
  const nodeOfFacility = new Map(facilities.map((f) => [f.facilityId, f.marketNode]));

  const pools = new Map<string, PoolRecord>();
  const dirtyPools = new Set<string>(poolIds);
  /** What waits, by workload and in the queue's order, kept between rounds (a round over thousands waiting sorted them all). */
  const waiting = createQueue();
  /** What runs, by workload and per pool (by expected end too), kept between rounds. */
  const running = createRuns<Running & { customerId: string; startsAtMs: number }>();
  const submitted = new Map<string, { customerId: string; request: Waiting['request']; reservedRate: number | undefined }>();
  const ended = new Set<string>();
  const timers = createTimers();
  const paused = new Set<string>();
  /**
   * P1 GPUs asked for, in the order heard, and their totals per GPU type and model over the warm
   * pool's window (the asks before `p1AskedFrom` have left it). Kept as asks come and go: a
   * designed-scale hour holds thousands, and summing them for every round was 2 % of a day's time.
   */
  const p1Asked: Array<{ atMs: number; gpuType: string; model: string; gpus: number }> = [];
  let p1AskedFrom = 0;
  const p1Totals = new Map<string, Map<string, number>>();
  const askedP1 = (a: (typeof p1Asked)[number]) => {
    p1Asked.push(a);
    const totals = p1Totals.get(a.gpuType) ?? new Map<string, number>();
    totals.set(a.model, (totals.get(a.model) ?? 0) + a.gpus);
    p1Totals.set(a.gpuType, totals);
  };
  const lastDemand = new Map<string, number>();
  /**
   * P2/P3 work was placed on a pool: an hour later it may give its power back, and a round looks
   * then (not whenever some other event happens to run one: a quiet platform runs none).
   */
  const demanded = (poolId: string, atMs: number) => {
    lastDemand.set(poolId, atMs);
    timers.add({ kind: 'quiet', atMs: atMs + POWER_DOWN_IDLE_MS, poolId });
  };
  const powerPrice = new Map<string, number>();
  type Direction = 'up' | 'down';
  /** Pools whose power a handover or switch is changing: the id of that change and which way. */
  const powerChanges = new Map<string, { id: string; direction: Direction }>();
  /** Changes the scheduler itself asked for (another's failed handover, an admin's, does not pause it). */
  const askedHere = new Set<string>();
  /** Pools whose last power change this way, asked for here, failed: when another may be asked for. */
  const powerRetryAt = new Map<string, Partial<Record<Direction, number>>>();
  /** No change of the pool's power that way before the pause runs out; a timer then wakes a round (a quiet platform would never look again). */
  const pause = (poolId: string, direction: Direction) => {
    const atMs = now + POWER_RETRY_MS[direction];
    powerRetryAt.set(poolId, { ...powerRetryAt.get(poolId), [direction]: atMs });
    timers.add({ kind: 'power-retry', atMs, poolId });
  };
  /** A pool's power change ended; if it failed and was asked for here, the next one that way waits (POWER_RETRY_MS). */
  const powerChangeEnded = (poolId: string, change: { id: string; direction: Direction }, failed: boolean) => {
    powerChanges.delete(poolId);
    if (askedHere.delete(change.id) && failed) pause(poolId, change.direction);
  };
  /** Which way a switch changes a pool's power: off < warm standby < serving or training. */
  const POWER_RANK: Record<string, number> = { off: 0, warm_standby: 1, serving: 2, training: 2 };
  const directionOf = (from: string, to: string | undefined): Direction => ((POWER_RANK[to ?? from] ?? 0) > (POWER_RANK[from] ?? 0) ? 'up' : 'down');
  const stats = { placements: 0, preemptions: 0, rounds: 0, decidingMs: 0, placingMs: 0 };
  let now = 0;
  let dirty = true;
  /** The room the last round left each GPU type (see `arrivalIsMoot`). */
  let roomLeft: RoundOutcome['roomAfter'] | undefined;

  // one thing at a time: events, ticks and rounds never interleave
  let chain = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = chain.then(fn);
    chain = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  };

  /** Demand response as the controller recommends it: a GPU type's P2/P3 block at 0 is paused. */
  const applyPauses = (facilityId: string, blocks: Readonly<Record<string, number>>) => {
    for (const [blockId, mode] of Object.entries(blocks)) {
      const m = /^gpu:(\w+):(P[23])$/.exec(blockId);
      if (!m) continue;
      const key = pausedKey(facilityId, m[1] as PoolView['gpuType'], m[2] as 'P2' | 'P3');
      if (mode === 0 && !paused.has(key)) {
        paused.add(key);
        dirty = true;
      } else if (mode !== 0 && paused.delete(key)) dirty = true;
    }
  };

  /** The latest revision of each pool's stream heard in an event: a cache behind it is read afresh. */
  const heardRevision = new Map<string, bigint>();
  const refreshPools = async () => {
    for (const id of dirtyPools) {
      let loaded = await loadStreamState(deps.store, resourceDecider, resourceStream(id), { cached: true });
      // what this process appended is in its cache; what another process appended is read
      if (loaded.revision < (heardRevision.get(id) ?? -1n) || loaded.revision < 0n) loaded = await loadStreamState(deps.store, resourceDecider, resourceStream(id));
      const s = loaded.state;
      if (s.status === 'registered' && s.pool) pools.set(id, { state: s.pool, healthy: s.healthy, switchInFlight: s.inFlight?.switchId, heldAsic: undefined });
    }
    dirtyPools.clear();
  };

  const executor = createExecutor({
    deps,
    log,
    facilities,
    pools: () => pools,
    markPoolDirty: (id) => dirtyPools.add(id),
    powerAsked: (id, changeId, direction) => {
      askedHere.add(changeId);
      powerChanges.set(id, { id: changeId, direction });
    },
    powerRefused: pause,
  });

  const enqueue = (
    w: ActiveWorkload | { workloadId: string; customerId: string; request: Waiting['request']; priority: string },
    atMs: number,
    nextRun: number,
    firstQueuedAtMs: number,
    remainingSeconds: number,
    reservedRate?: number,
  ) => {
    const priority = tierOf(w.priority ?? 'P3');
    const queued: Waiting = { workloadId: w.workloadId, customerId: w.customerId, priority, request: w.request, firstQueuedAtMs, queuedAtMs: atMs, nextRun, remainingSeconds, ...(reservedRate !== undefined ? { reservedRate } : {}) };
    if (!arrivalIsMoot(queued)) dirty = true;
    waiting.add(queued);
  };

  /**
   * Whether a round would decide nothing new for this P2/P3 arrival: neither it nor anything else
   * of its type that waits fits in the room the last round left that type
   * (`RoundOutcome.roomAfter`), and no pool has changed since, so nothing of its type can be placed
   * whatever the order; others of its type and tier wait, so power is asked for already and none
   * is given back; and a pool of its type could hold it, so it is not failed.
   * What frees a GPU wakes a round anyway, and the arrival is placed then, in its turn. Under a
   * backlog each submission ran a round over the whole queue for nothing (bench:submit, market
   * off: a fifth of the server's CPU).
   */
  const arrivalIsMoot = (w: Waiting) => {
    const type = w.request.gpuType;
    const room = roomLeft?.(type);
    if (w.priority === 'P1' || dirty || dirtyPools.size > 0 || !room || fitsInRoom(room, w.request.gpuCount)) return false;
    if (w.request.gpuCount > Math.max(...room.map((r) => r.inService))) return false;
    let tiers = stuckTiers.get(type);
    if (tiers === undefined) stuckTiers.set(type, (tiers = tiersStuck(waiting.byType().get(type), room)));
    return tiers?.has(w.priority) ?? false;
  };
  /**
   * Per GPU type, the tiers of the work that waits when none of it fits in the last round's room
   * (null when some does): looked at once per type between rounds, as a moot arrival changes
   * neither (it does not fit, and its tier is among them).
   */
  let stuckTiers = new Map<string, ReadonlySet<string> | null>();

  /**
   * Moves time on to `untilMs`: what changed at the current time is scheduled first, then each
   * timer due fires at its own time (and what it changed is scheduled at that time).
   */
  const advanceTo = async (untilMs: number) => {
    for (let t: Timer | undefined; (t = timers.takeDue(untilMs)); ) {
      if (t.atMs > now) {
        await round();
        now = t.atMs;
      }
      await fire(t);
    }
    if (untilMs > now) {
      await round();
      now = untilMs;
    }
  };

  const fire = async (t: Timer) => {
    log.debug({ timer: t.kind, at: iso(t.atMs) }, 'timer');
    if (t.kind === 'warmed') {
      await executor.finishWarming(t.poolId, t.gpuIds, t.model, t.atMs);
      dirty = true;
      return;
    }
    if (t.kind === 'power-retry') {
      dirty = true;
      return;
    }
    if (t.kind === 'quiet') {
      const quietAtMs = (lastDemand.get(t.poolId) ?? t.atMs) + POWER_DOWN_IDLE_MS;
      if (quietAtMs > t.atMs) timers.add({ kind: 'quiet', atMs: quietAtMs, poolId: t.poolId }); // demand came since
      else dirty = true;
      return;
    }
    const r = running.get(t.workloadId);
    if (!r || r.run !== t.run) return; // ended or moved since
    if (t.kind === 'start') {
      const endsAtMs = await executor.start(r, t.atMs);
      if (endsAtMs !== undefined) {
        running.endsAt(r.workloadId, endsAtMs);
        timers.add({ kind: 'complete', atMs: endsAtMs, workloadId: r.workloadId, run: r.run });
      }
      return;
    }
    await refreshPools();
    await executor.complete(r, t.atMs);
    running.remove(r.workloadId);
    ended.add(r.workloadId);
    dirty = true;
  };

  const poolViews = (): PoolView[] =>
    poolIds.flatMap((id) => {
      const p = pools.get(id);
      if (!p) return [];
      const facilityId = facilityOfPool.get(id)!;
      const node = nodeOfFacility.get(facilityId);
      const temperatureC = temperaturesOf?.(id) ?? {};
      return [
        {
          resourceId: id,
          facilityId,
          gpuType: p.state.gpuType,
          units: p.state.units,
          warmStandbyUnits: p.state.warmStandbyUnits,
          mode: p.healthy ? p.state.mode : 'off',
          switchingTo: p.state.switchingTo,
          gpus: p.state.gpus,
          warmTargets: p.state.warmTargets,
          temperatureC,
          powerUsdPerMwh: node ? powerPrice.get(powerFeed(node)) : undefined,
          powerChange: powerChanges.get(id)?.direction ?? (p.switchInFlight !== undefined ? directionOf(p.state.mode, p.state.switchingTo) : undefined),
          lastDemandMs: lastDemand.get(id) ?? now,
          powerRetryAtMs: powerRetryAt.get(id),
        },
      ];
    });

  const recentP1 = (views: readonly PoolView[]) => {
    for (; p1AskedFrom < p1Asked.length && p1Asked[p1AskedFrom]!.atMs < now - WARM_WINDOW_MS; p1AskedFrom++) {
      const a = p1Asked[p1AskedFrom]!;
      const totals = p1Totals.get(a.gpuType)!;
      const left = totals.get(a.model)! - a.gpus;
      if (left > 0) totals.set(a.model, left);
      else totals.delete(a.model);
    }
    if (p1AskedFrom > 1024 && p1AskedFrom * 2 > p1Asked.length) {
      p1Asked.splice(0, p1AskedFrom);
      p1AskedFrom = 0;
    }
    const out: Record<string, Record<string, number>> = {};
    for (const v of views) {
      const sameType = views.filter((x) => x.gpuType === v.gpuType);
      const share = v.units / sameType.reduce((n, x) => n + x.units, 0);
      out[v.resourceId] = Object.fromEntries([...(p1Totals.get(v.gpuType) ?? [])].map(([model, gpus]) => [model, gpus * share]));
    }
    return out;
  };

  /** One round: decide on the current view, carry the decisions out. */
  const round = async () => {
    if (!dirty || now <= 0) return; // nothing changed, or no time yet (the first event gives it)
    dirty = false;
    await refreshPools();
    const decidingFrom = performance.now();
    const views = poolViews();
    const { decisions, roomAfter } = decideRound({
      nowMs: now,
      pools: views,
      waiting,
      running: { [Symbol.iterator]: () => running.values() },
      runsByPool: running.byPool(),
      paused,
      recentP1Gpus: recentP1(views),
    });
    stats.decidingMs += performance.now() - decidingFrom;
    stats.rounds++;
    roomLeft = roomAfter;
    stuckTiers = new Map();
    if (decisions.length > 0) log.debug({ at: iso(now), decisions: decisions.map((d) => d.type) }, 'round');
    // placements that follow one another are carried out together when they can: one round trip
    const together = new Map<string, PlaceOutcome>();
    let groupedUpTo = 0;
    for (const [i, d] of decisions.entries()) {
      if (d.type === 'place' && i >= groupedUpTo) {
        let j = i;
        while (decisions[j]?.type === 'place') j++;
        groupedUpTo = j;
        const group = decisions.slice(i, j).flatMap((p) => (p.type === 'place' && waiting.has(p.workloadId) ? [{ w: waiting.get(p.workloadId)!, d: p }] : []));
        if (group.length > 1) {
          const placingFrom = performance.now();
          (await executor.placeTogether(group, now))?.forEach((o, k) => together.set(group[k]!.d.workloadId, o));
          stats.placingMs += performance.now() - placingFrom;
        }
      }
      switch (d.type) {
        case 'place': {
          const w = waiting.get(d.workloadId);
          if (!w) break;
          const placingFrom = performance.now();
          const placed = together.get(d.workloadId) ?? (await executor.place(w, d, now));
          stats.placingMs += performance.now() - placingFrom;
          if (placed.type === 'placed') {
            waiting.remove(d.workloadId);
            const { gpuIndexes, startsAtMs, endsAtMs } = placed;
            running.add({ workloadId: w.workloadId, customerId: w.customerId, priority: w.priority, request: w.request, run: d.run, poolId: d.poolId, gpuIndexes, sinceMs: now, startsAtMs, endsAtMs });
            timers.add(endsAtMs !== undefined ? { kind: 'complete', atMs: endsAtMs, workloadId: d.workloadId, run: d.run } : { kind: 'start', atMs: startsAtMs, workloadId: d.workloadId, run: d.run });
            stats.placements++;
            if (w.priority !== 'P1') demanded(d.poolId, now);
          } else if (placed.type === 'ended') {
            waiting.remove(d.workloadId);
            ended.add(d.workloadId);
          } else dirty = true; // refused: look again next round
          break;
        }
        case 'preempt': {
          const r = running.get(d.workloadId);
          if (!r || r.run !== d.run) break;
          if (await executor.preempt(r, d, now)) {
            running.remove(d.workloadId);
            const state = await loadState(deps.store, workloadDecider, workloadStream(d.workloadId));
            if (state.status !== 'none' && WAITING.has(state.status)) enqueue(state, now, state.run + 1, state.firstQueuedAtMs ?? now, state.request.durationSeconds - state.ranSeconds);
            stats.preemptions++;
          }
          break;
        }
        case 'warm': {
          const readyAt = now + d.loadMs;
          if (await executor.warm(d, now, readyAt)) timers.add({ kind: 'warmed', atMs: readyAt, poolId: d.poolId, gpuIds: d.gpuIds, model: d.model });
          break;
        }
        case 'cool':
          await executor.cool(d, now);
          break;
        case 'size-warm':
          await executor.sizeWarm(d, now);
          break;
        case 'power':
          await executor.power(d, now);
          break;
        case 'fail':
          if (await executor.fail(d.workloadId, d.reason, now)) {
            waiting.remove(d.workloadId);
            ended.add(d.workloadId);
          }
          break;
      }
    }
  };

  /** A GPU that failed (or went out of service) under a run: the run is moved. */
  const interrupt = async (workloadId: string | null, cause: 'gpu_failed' | 'out_of_service', reason: string) => {
    const r = workloadId ? running.get(workloadId) : undefined;
    if (!r) return;
    if (await executor.interrupt(r, cause, reason, now)) {
      running.remove(r.workloadId);
      const state = await loadState(deps.store, workloadDecider, workloadStream(r.workloadId));
      if (state.status !== 'none' && WAITING.has(state.status)) enqueue(state, now, state.run + 1, state.firstQueuedAtMs ?? now, state.request.durationSeconds - state.ranSeconds);
    }
  };

  const handle = async (event: RecordedEvent) => {
    const data = event.data as Record<string, unknown>;
    if (event.streamName.startsWith('resource-')) {
      const id = event.streamName.slice('resource-'.length);
      if (!pools.has(id) && !poolIds.includes(id)) return;
      dirtyPools.add(id);
      if (event.revision > (heardRevision.get(id) ?? -1n)) heardRevision.set(id, event.revision);
      if (event.metadata.actor !== SCHEDULER_ACTOR) dirty = true;
      if (event.type === 'ResourceHealthChanged' && data.gpuId !== undefined && data.health === 'failed')
        await interrupt(data.workloadId as string | null, 'gpu_failed', `GPU ${String(data.gpuId)} failed: ${String(data.reason)}`);
      if (event.type === 'GpuServiceChanged' && data.inService === false)
        await interrupt(data.workloadId as string | null, 'out_of_service', `GPU ${String(data.gpuId)} taken out of service: ${String(data.reason)}`);
      const change = powerChanges.get(id);
      if ((event.type === 'ModeSwitched' || event.type === 'SwitchFailed') && change && change.id === data.switchId) powerChangeEnded(id, change, event.type === 'SwitchFailed');
      return;
    }
    const w = event as unknown as { type: WorkloadEvent['type']; data: Record<string, unknown> };
    switch (event.type) {
      case 'WorkloadSubmitted':
        submitted.set(data.workloadId as string, { customerId: data.customerId as string, request: data.request as Waiting['request'], reservedRate: data.reservedRateMicroUsdPerGpuHour as number | undefined });
        return;
      case 'WorkloadQueued': {
        const id = data.workloadId as string;
        const s = submitted.get(id);
        submitted.delete(id);
        if (!s || waiting.has(id) || running.has(id) || ended.has(id)) return;
        const at = eventTimeMs(event) ?? now;
        enqueue({ workloadId: id, customerId: s.customerId, request: s.request, priority: data.priority as string }, at, 1, at, s.request.durationSeconds, s.reservedRate);
        if (data.priority === 'P1') askedP1({ atMs: at, gpuType: s.request.gpuType, model: s.request.model, gpus: s.request.gpuCount });
        return;
      }
      case 'WorkloadCancelled': {
        const id = data.workloadId as string;
        ended.add(id);
        if (waiting.remove(id)) dirty = true;
        const r = running.get(id);
        if (r) {
          running.remove(id);
          await executor.releaseGpus(r, now);
          dirty = true;
        }
        return;
      }
      case 'RecommendationIssued':
        applyPauses(data.facilityId as string, (data.allocation as { blocks: Record<string, number> }).blocks);
        return;
      case 'PriceListSet':
        executor.priceListChanged();
        return;
      case 'PriceTicked': {
        const tick = data as unknown as PriceTick;
        if (tick.feed.startsWith('power-')) powerPrice.set(tick.feed, tick.priceMicroUsd / 1e6);
        return;
      }
      case 'HandoverRequested':
        if (poolIds.includes(data.gpuResourceId as string)) {
          powerChanges.set(data.gpuResourceId as string, { id: data.handoverId as string, direction: data.direction === 'to_mining' ? 'down' : 'up' });
          dirty = true;
        }
        return;
      case 'HandoverCompleted':
      case 'HandoverFailed':
        for (const [pool, change] of powerChanges)
          if (change.id === data.handoverId) {
            powerChangeEnded(pool, change, event.type === 'HandoverFailed');
            dirtyPools.add(pool);
            dirty = true;
          }
        return;
      default:
        void w;
    }
  };

  return {
    name: 'scheduler',
    react: (event) =>
      exclusive(async () => {
        const at = eventTimeMs(event);
        if (at !== undefined && at > now) await advanceTo(at);
        await handle(event);
      }),
    flush: () => exclusive(round),
    tick: (nowMs) =>
      exclusive(async () => {
        if (nowMs > now + 1000) log.debug({ to: iso(nowMs), from: iso(now), next: timers.nextAtMs() }, 'tick');
        await advanceTo(nowMs);
        await round();
      }),
    nextDueMs: () => timers.nextAtMs(),
    snapshot: () => ({ nowMs: now, waiting: waiting.size, running: running.size, ...stats }),
    recover: (nowMs) =>
      exclusive(async () => {
        now = Math.max(now, nowMs);
        await refreshPools();
        const db = deps.readModels;
        const activeWorkloadIds = (await db.query<{ workload_id: string }>(`SELECT workload_id FROM rm_workloads WHERE status IN ('queued', 'preempted', 'allocated', 'running') ORDER BY workload_id`)).map((r) => r.workload_id);
        // what the process knew besides: the last hour's P1 asks (the warm pool's basis), the power
        // prices and demand-response pauses in force, when each pool last had work
        for (const r of await db.query<{ gpu_type: string; model: string; gpu_count: number; at: string | Date }>(
          `SELECT gpu_type, model, gpu_count, first_queued_at AS at FROM rm_workloads WHERE priority = 'P1' AND first_queued_at >= $1 AND first_queued_at <= $2 ORDER BY first_queued_at, workload_id`,
          [iso(now - WARM_WINDOW_MS), iso(now)],
        ))
          askedP1({ atMs: Date.parse(iso(r.at)), gpuType: r.gpu_type, model: r.model, gpus: r.gpu_count });
        for (const r of await db.query<{ feed: string; price_micro_usd: string }>(`SELECT feed, price_micro_usd::text FROM rm_prices_latest WHERE feed LIKE 'power-%'`))
          powerPrice.set(r.feed, Number(r.price_micro_usd) / 1e6);
        for (const r of await db.query<{ facility_id: string; blocks: Record<string, number> | null }>(
          `SELECT DISTINCT ON (facility_id) facility_id, recommendation->'allocation'->'blocks' AS blocks FROM rm_recommendations ORDER BY facility_id, interval_start DESC`,
        ))
          if (r.blocks) applyPauses(r.facility_id, r.blocks);
        for (const r of await db.query<{ resource_id: string; at: string | Date }>(`SELECT resource_id, max(allocated_at) AS at FROM rm_workload_runs WHERE priority <> 'P1' GROUP BY resource_id`))
          demanded(r.resource_id, Date.parse(iso(r.at)));
        const held = new Map<string, { poolId: string; run: number }>();
        for (const [poolId, p] of pools) for (const [workloadId, h] of entriesOf(p.state.holders)) held.set(workloadId, { poolId, run: h.run });
        for (const id of activeWorkloadIds) {
          const s = await loadState(deps.store, workloadDecider, workloadStream(id));
          if (s.status === 'none' || TERMINAL.has(s.status)) continue;
          if (ON_GPUS.has(s.status) && s.current) {
            const c = s.current;
            const indexes = (pools.get(c.resourceId) && getIn(pools.get(c.resourceId)!.state.holders, id)?.indexes) ?? [];
            running.add({ workloadId: id, customerId: s.customerId, priority: tierOf(s.priority ?? 'P3'), request: s.request, run: c.run, poolId: c.resourceId, gpuIndexes: indexes, sinceMs: c.startedAtMs ?? c.allocatedAtMs, startsAtMs: c.startsAtMs, endsAtMs: c.runEndsAtMs });
            timers.add(c.runEndsAtMs !== undefined ? { kind: 'complete', atMs: c.runEndsAtMs, workloadId: id, run: c.run } : { kind: 'start', atMs: c.startsAtMs, workloadId: id, run: c.run });
          } else enqueue(s, s.queuedAtMs ?? now, s.run + 1, s.firstQueuedAtMs ?? now, s.request.durationSeconds - s.ranSeconds);
        }
        // GPUs a crash left with no run to go with them (allocated on the pool, not recorded on the workload)
        for (const [workloadId, h] of held) {
          const r = running.get(workloadId);
          if (!r || r.run !== h.run) await executor.releaseStale(h.poolId, workloadId, h.run, now);
        }
        for (const [poolId, p] of pools)
          for (const g of p.state.gpus)
            if (g.warming && g.model && g.warmReadyAt) timers.add({ kind: 'warmed', atMs: Date.parse(g.warmReadyAt), poolId, gpuIds: [gpuIdOf(poolId, p.state.gpuType, g.index)], model: g.model });
        for (const [poolId, p] of pools) if (p.switchInFlight) powerChanges.set(poolId, { id: p.switchInFlight, direction: directionOf(p.state.mode, p.state.switchingTo) });
        // a handover under way (its switch may not have begun yet) changes its pool's power: as when
        // its HandoverRequested is heard, it is what the pool waits for, not a switch of its own
        for (const r of await db.query<{ handover_id: string; gpu_resource_id: string; direction: string }>(
          `SELECT handover_id, gpu_resource_id, direction FROM rm_handovers WHERE status IN ('in_flight', 'rolling_back') ORDER BY requested_at, handover_id`,
        ))
          if (poolIds.includes(r.gpu_resource_id)) powerChanges.set(r.gpu_resource_id, { id: r.handover_id, direction: r.direction === 'to_mining' ? 'down' : 'up' });
        dirty = true;
        log.info({ waiting: waiting.size, running: running.size, at: iso(now) }, 'scheduler recovered');
      }),
  };
};
