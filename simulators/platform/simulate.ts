/**
 * A simulated stretch of the whole platform, as fast as it can run: the real market replayed,
 * the economic controller and its switches, the demand simulator's customers submitting work,
 * the scheduler, the lifecycle, metering and billing — every step an event in the store, on a
 * virtual clock.
 *
 * The driver moves the clock from one moment something happens to the next (an arrival, a
 * market tick, a run's end, a model loaded), appends what arrives then, and delivers every new
 * event to the process managers in store order until nothing more follows (from memory: it is the
 * store's only writer, so what it and its managers appended is the store's order); switches and
 * handovers are carried out at once (their devices report realistic durations). Each process
 * manager is the one the live platform runs, so what happens here happens there.
 *
 * Restartable: inputs carry ids from their position in the seeded sequences, the process
 * managers' reactions are idempotent, and the driver keeps its place (its checkpoint: the last
 * event delivered, and the virtual time) in the read-model database, so a killed run started
 * again with the same options goes on where it stopped: the same arrivals, every run billed once,
 * nothing held that should not be. Not the very same schedule as an unbroken run: what the
 * managers knew is rebuilt from the read models, but the telemetry's and devices' random draws
 * go on from a fresh start.
 */
import type { Logger } from 'pino';
import type { CommandDeps } from '../../commands/context.ts';
import { grantQuota, registerCustomer } from '../../commands/customers.ts';
import { registerScenario } from '../../commands/fleet.ts';
import { tickEvent } from '../../commands/ingestion/market-ingestion.ts';
import { createMetering } from '../../commands/billing/metering.ts';
import { economicController } from '../../commands/process-managers/economic-controller.ts';
import type { ProcessManager } from '../../commands/process-managers/runner.ts';
import { workloadQuotaManager } from '../../commands/process-managers/workload-quota.ts';
import { ensurePriceList } from '../../commands/price-list.ts';
import { createScheduler } from '../../commands/scheduling/scheduler.ts';
import { handoverExecutor } from '../../commands/switching/handover-executor.ts';
import { createSimulatedDevices } from '../../commands/switching/simulated-devices.ts';
import { switchExecutor } from '../../commands/switching/switch-executor.ts';
import { submitWorkload } from '../../commands/workloads.ts';
import { CommandRejectedError } from '../../commands/errors.ts';
import { MAX_GRANTED } from '../../domain/customer/customer.ts';
import type { FacilitySpec } from '../../domain/fleet/inventory.ts';
import { iso } from '../../domain/time.ts';
import { comparePositions, decodePosition, encodePosition, START, type GlobalPosition } from '../../infra/event-store/position.ts';
import type { EventStore, EventToAppend, RecordedEvent } from '../../infra/event-store/types.ts';
import { writeBehind, type WriteBehindStore } from '../../infra/event-store/write-behind.ts';
import { writerStart } from '../../infra/event-store/postgres/store.ts';
import type { Database } from '../../infra/postgres/database.ts';
import type { MarketSource } from '../market/source.ts';
import { createRng } from '../random.ts';
import { arrivals, demandCustomers, type Arrival, type DemandConfig } from '../demand/demand.ts';
import { createGpuHealthMonitor } from '../../commands/telemetry/gpu-health.ts';
import { createGpuTelemetrySimulator, TELEMETRY_INTERVAL_MS } from '../telemetry/gpu-telemetry.ts';
import { resourcesOf } from '../../commands/fleet.ts';
import { loadState } from '../../commands/handle.ts';
import { resourceDecider, resourceStream } from '../../domain/resource/resource.ts';
import { gpuIdOf, gpuMode } from '../../domain/fleet/gpus.ts';
import type { GpuType } from '../../domain/workload/request.ts';

export type SimulationOptions = {
  store: EventStore;
  db: Database;
  logger: Logger;
  facilities: readonly FacilitySpec[];
  market: MarketSource;
  startMs: number;
  endMs: number;
  seed: string;
  /** Arrivals per day. */
  workloadsPerDay: number;
  customers?: number;
  /** Called now and then with progress. */
  onProgress?: (p: SimulationProgress) => void;
  /**
   * Brings the read models up to what the store holds, or up to a place and no further (a
   * projection runner's `drain`). Called after the world is set up, for each place to be saved
   * and at the end, rather than left to a runner in the background, so that what the process
   * managers read from them (a site's resources and a pool's GPUs when they start, what a recovery
   * takes up) is the same on every run. Between saved places nothing reads them: a place's
   * projecting goes on while the next steps run (on a server, PostgreSQL's part on the other core),
   * and the place is saved once it is done.
   */
  project?: (upTo?: GlobalPosition) => Promise<void>;
  /** Hears each event as the process managers are given it, in that order (a check, a trace). */
  onDelivered?: (event: RecordedEvent) => void;
};

const SAVE_EVERY_STEPS = 50;

export type SimulationProgress = { atMs: number; events: number; arrivals: number; placements: number; waiting: number; running: number };

const SIM_STATE_SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS hcp_simulations (
  simulation text PRIMARY KEY,
  position   text NOT NULL,
  at         timestamptz NOT NULL
)`;

/** A clock the driver moves. */
const virtualClock = (startMs: number) => {
  let t = startMs;
  return { now: () => new Date(t), set: (ms: number) => void (t = Math.max(t, ms)), get ms() { return t; } };
};

export const simulate = async (o: SimulationOptions) => {
  const { db, logger } = o;
  // every append remembered by its position: the pump delivers up to the last one, even while a
  // transaction of the projections keeps it out of sight a moment (PostgreSQL's read horizon)
  let appendedUpTo: GlobalPosition = START;
  /**
   * What the driver appended, as the store recorded it, to deliver without reading it back: the
   * driver is the store's only writer, so its appends are the store's order. Reading back cost a
   * round trip per step and generation of reactions, a sixth of a simulated day. Each event
   * carries its append's revision and the position of the append's last event (the process
   * managers read neither position nor hash; the pump's place is exact at each append's end).
   */
  let appended: RecordedEvent[] = [];
  let appending = 0;
  const remember = <R extends { appended: boolean; position: GlobalPosition; nextExpectedRevision: bigint }>(streamName: string, events: readonly EventToAppend[], result: R) => {
    if (!result.appended) return result;
    if (comparePositions(result.position, appendedUpTo) > 0) appendedUpTo = result.position;
    const first = result.nextExpectedRevision - BigInt(events.length - 1);
    events.forEach((e, i) => appended.push({ ...e, streamName, revision: first + BigInt(i), position: result.position, hash: '' }));
    return result;
  };
  const counted = async <T>(append: () => Promise<T>) => {
    appending++;
    try {
      return await append();
    } finally {
      appending--;
    }
  };
  /**
   * The store underneath: written through while the driver reads what a stopped run left, then,
   * on PostgreSQL, written behind (infra/event-store/write-behind.ts): the driver is its only
   * writer, and each step no longer waits for the database, which works on the other core.
   */
  let inner: EventStore | WriteBehindStore = o.store;
  const store: EventStore = {
    kind: o.store.kind,
    appendToStream: (name, events, options) => counted(async () => remember(name, events, await inner.appendToStream(name, events, options))),
    // several streams in one round trip (a submission, a bill): remembered too
    ...(o.store.appendToStreams
      ? { appendToStreams: (appends) => counted(async () => (await inner.appendToStreams!(appends)).map((r, i) => remember(appends[i]!.streamName, appends[i]!.events, r))) }
      : {}),
    readStream: (...args) => inner.readStream(...args),
    readAll: (...args) => inner.readAll(...args),
    ...(o.store.readAllText ? { readAllText: (...args: Parameters<NonNullable<EventStore['readAllText']>>) => inner.readAllText!(...args) } : {}),
    readEventById: (...args) => inner.readEventById(...args),
    subscribeToAll: (...args) => inner.subscribeToAll(...args),
    headPosition: () => inner.headPosition(),
    close: () => inner.close(),
  };
  /** Every append made so far stored, and the driver's place as the store has it. */
  const storedPlace = async () => {
    const place = { position: cursor, atMs: clock.ms };
    if (!('flush' in inner)) return place;
    await inner.flush();
    return { ...place, position: inner.stored(place.position) };
  };
  const simulation = `sim:${o.seed}:${o.startMs}`;
  await db.exec(SIM_STATE_SCHEMA);
  const [saved] = await db.query<{ position: string; at: string | Date }>(`SELECT position, at FROM hcp_simulations WHERE simulation = $1`, [simulation]);
  const clock = virtualClock(saved ? Math.max(o.startMs, Date.parse(iso(saved.at))) : o.startMs);
  let cursor: GlobalPosition = saved ? decodePosition(saved.position) : START;
  const deps: CommandDeps = { store, readModels: db, clock, ids: { id: (p) => `${p}-${o.seed}-${cursor.prepare}-${Math.floor(clock.ms)}`, secret: () => 'sim' } };
  const caller = (step: string) => ({ commandId: `sim:${o.seed}:${step}`, correlationId: simulation, actor: 'simulator' });

  // the world: sites and fleets, the price list, the demand's customers with room to spend
  await registerScenario(deps, caller('scenario'), o.facilities);
  await ensurePriceList(deps);
  await o.project?.();
  const customers = demandCustomers(o.customers ?? 40, `sim-${o.seed}`);
  for (const c of customers) {
    await registerCustomer(deps, caller(`register:${c.customerId}`), { customerId: c.customerId, name: c.name, tier: c.tier }).catch((e) => {
      if (!(e instanceof CommandRejectedError && e.rejection.code === 'already_exists')) throw e;
    });
    await grantQuota(deps, caller(`grant:${c.customerId}`), { customerId: c.customerId, gpuSeconds: MAX_GRANTED.gpuSeconds / 1000, budgetMicroUsd: MAX_GRANTED.budgetMicroUsd / 1000 });
  }

  const devices = createSimulatedDevices({ random: createRng(`${o.seed}/devices`).next, speed: Infinity, sleep: async () => {} });
  const switches = switchExecutor(deps, devices, logger);
  const handovers = handoverExecutor(deps, devices, logger);
  const pools = o.facilities.flatMap((f) => resourcesOf(f).filter((r) => r.kind === 'gpu_pool'));
  const health = await createGpuHealthMonitor({ deps, db, logger, gpuTypeOf: (id) => pools.find((p) => p.resourceId === id)?.model as GpuType | undefined });
  const telemetry = createGpuTelemetrySimulator({ seed: o.seed });
  const scheduler = createScheduler({ deps, facilities: o.facilities, logger, temperaturesOf: health.temperaturesOf });
  const metering = createMetering(deps, logger);
  const managers: ProcessManager[] = [workloadQuotaManager(deps), switches, handovers, economicController(deps, o.facilities, logger), scheduler, metering];
  // what a run stopped before took up (models loading, work in flight): every time, since a run may
  // be stopped before its first saved place. The read models hold what the managers saw (projected
  // after every step, and at least up to the saved place).
  await scheduler.recover(clock.ms);
  await metering.recover();

  const demand: DemandConfig = { seed: o.seed, startMs: o.startMs, endMs: o.endMs, perDay: o.workloadsPerDay, customers };
  const pendingArrivals: Arrival[] = arrivals(demand).filter((a) => a.atMs >= clock.ms);
  const ticks = [...o.market.inForceAt(o.startMs), ...o.market.ticksBetween(o.startMs, o.endMs)].filter((t) => Date.parse(t.at) >= clock.ms || !saved);
  let [nextArrival, nextTick] = [0, 0];
  let nextSample = Math.ceil(clock.ms / TELEMETRY_INTERVAL_MS) * TELEMETRY_INTERVAL_MS;
  /** Every pool's GPUs sampled (from the pools' own state, what each is doing) and the samples ingested. */
  const sampleTelemetry = async (atMs: number) => {
    for (const p of pools) {
      const s = await loadState(store, resourceDecider, resourceStream(p.resourceId), { cached: true });
      if (s.status !== 'registered' || !s.pool) continue;
      const gpus = s.pool.gpus.map((g) => ({ gpuId: gpuIdOf(p.resourceId, s.pool!.gpuType, g.index), mode: gpuMode(g) }));
      await health.ingest({ kind: 'gpu-telemetry', resourceId: p.resourceId, at: iso(atMs), samples: telemetry.sample({ resourceId: p.resourceId, gpuType: s.pool.gpuType }, gpus, atMs) });
    }
  };
  let events = 0;
  let submitted = 0;
  let steps = 0;
  /** Milliseconds spent in each part, for "where the time goes" (everything here is awaited in turn, so they add up). */
  const spent = new Map<string, number>();
  const timed = async <T>(part: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      spent.set(part, (spent.get(part) ?? 0) + performance.now() - started);
    }
  };

  /** Whether the driver has read the store to its end once (what a stopped run left is delivered first, from the store). */
  let readToEnd = false;
  /** The next events to deliver: from the store until it has been read to its end, then what the driver appended since. */
  const nextBatch = async (): Promise<RecordedEvent[]> => {
    if (readToEnd) {
      // the executors' work done first (nothing left means nothing will come), and every append
      // under way returned: one under way may come before one that has returned
      if (appended.length === 0 || appending > 0) await timed('switch and handover executors', () => Promise.all([switches.idle(), handovers.idle()]));
      while (appending > 0) await new Promise((r) => setTimeout(r, 1));
      const batch = appended.sort((a, b) => comparePositions(a.position, b.position));
      appended = [];
      return batch;
    }
    const batch = await timed('reading events', () => store.readAll({ after: cursor, maxCount: 500 }));
    if (batch.length > 0) return batch;
    await timed('switch and handover executors', () => Promise.all([switches.idle(), handovers.idle()]));
    if (comparePositions(cursor, appendedUpTo) >= 0 && (await store.readAll({ after: cursor, maxCount: 1 })).length === 0) {
      readToEnd = true;
      appended = appended.filter((e) => comparePositions(e.position, cursor) > 0);
      return nextBatch();
    }
    // appended but not yet in sight: a moment
    if (comparePositions(cursor, appendedUpTo) < 0) await new Promise((r) => setTimeout(r, 1));
    return nextBatch();
  };
  /** Delivers every new event to every manager in store order, until nothing more follows. */
  const pump = async () => {
    for (;;) {
      const batch = await nextBatch();
      if (batch.length === 0) return;
      for (const event of batch) {
        for (const m of managers) await timed(m.name, () => m.react(event));
        // a switch or handover is carried out before the next event: the order stays the same on every run
        if (event.type === 'ModeSwitchRequested' || event.type === 'HandoverRequested')
          await timed('switch and handover executors', () => Promise.all([switches.idle(), handovers.idle()]));
        cursor = event.position;
        events++;
        o.onDelivered?.(event);
      }
      for (const m of managers) if (m.flush) await timed(m.name, () => m.flush!());
    }
  };
  const save = (place: { position: GlobalPosition; atMs: number }) =>
    db.query(
      `INSERT INTO hcp_simulations (simulation, position, at) VALUES ($1, $2, $3) ON CONFLICT (simulation) DO UPDATE SET position = excluded.position, at = excluded.at`,
      [simulation, encodePosition(place.position), iso(place.atMs)],
    );
  /** A place being stored and its read models brought up to it, to be saved once they are. */
  let projecting: Promise<{ position: GlobalPosition; atMs: number }> | undefined;
  const saveProjected = async () => {
    if (!projecting) return;
    const done = projecting;
    projecting = undefined;
    // only the wait counts: what overlapped the steps cost them nothing
    await save(await timed('projections', () => done));
  };

  await pump();
  // read to its end: from here on the driver is the store's only writer, and need not wait for it
  if (o.store.kind === 'postgres') inner = writeBehind(o.store, await writerStart(db, o.store));
  // each tick stream's revision, and the ticks a stopped run stored already (from its saved place
  // on): those are skipped, and every other is appended at a revision known beforehand, which a
  // store written behind need not wait for (a tick's repeat, by id, only the store could tell)
  const tickStreams = new Map<string, { revision: bigint | undefined; stored: Set<string> }>();
  for (const t of ticks) {
    const { streamName } = tickEvent(t);
    if (tickStreams.has(streamName)) continue;
    const stream = { revision: undefined as bigint | undefined, stored: new Set<string>() };
    for (let before: bigint | undefined; ; ) {
      const tail = await store.readStream(streamName, { direction: 'backwards', maxCount: 500, ...(before !== undefined ? { fromRevision: before } : {}) });
      stream.revision ??= tail[0]?.revision;
      for (const e of tail) if (Date.parse(String(e.data.at)) >= clock.ms) stream.stored.add(e.id);
      if (tail.length < 500 || Date.parse(String(tail.at(-1)!.data.at)) < clock.ms) break;
      before = tail.at(-1)!.revision - 1n;
    }
    tickStreams.set(streamName, stream);
  }
  let lastProgress = 0;
  for (;;) {
    const next = Math.min(
      pendingArrivals[nextArrival]?.atMs ?? Infinity,
      ticks[nextTick] ? Date.parse(ticks[nextTick]!.at) : Infinity,
      scheduler.nextDueMs() ?? Infinity,
      nextSample,
    );
    if (!(next < o.endMs)) break;
    clock.set(next);
    for (; ticks[nextTick] && Date.parse(ticks[nextTick]!.at) <= next; nextTick++) {
      const { streamName, event } = tickEvent(ticks[nextTick]!);
      const stream = tickStreams.get(streamName)!;
      // stored, or twice in the list (in force at the start and the first of the day)
      if (stream.stored.has(event.id)) continue;
      const appended = await timed('market ticks', () => store.appendToStream(streamName, [event], { expectedRevision: stream.revision ?? 'no_stream' }));
      stream.revision = appended.nextExpectedRevision;
      stream.stored.add(event.id);
    }
    for (; pendingArrivals[nextArrival] && pendingArrivals[nextArrival]!.atMs <= next; nextArrival++) {
      const a = pendingArrivals[nextArrival]!;
      const workloadId = `w-${o.seed}-${a.n}`;
      await timed('submissions', () =>
        submitWorkload({ ...deps, ids: { ...deps.ids, id: () => workloadId } }, caller(`arrival:${a.n}`), { customerId: a.customerId, request: a.request }).catch((e) => {
          if (!(e instanceof CommandRejectedError)) throw e;
          logger.debug({ arrival: a.n, reason: e.message }, 'arrival refused');
        }),
      );
      submitted++;
    }
    if (next >= nextSample) {
      await timed('telemetry', () => sampleTelemetry(nextSample));
      nextSample += TELEMETRY_INTERVAL_MS;
    }
    await timed(scheduler.name, () => scheduler.tick(next));
    await timed(metering.name, () => metering.tick(next));
    await pump();
    // where to go on from after a crash (what comes after is delivered again, harmlessly), with the
    // read models brought up to it first: a restart's recovery reads them
    if (++steps % SAVE_EVERY_STEPS === 0) {
      await saveProjected();
      const place = storedPlace();
      if (!o.project) await save(await place);
      else {
        const project = o.project;
        projecting = place.then(async (p) => (await project(p.position), p));
        projecting.catch(() => {}); // awaited (and so thrown) at the next saved place; not unhandled meanwhile
      }
    }
    if (o.onProgress && next - lastProgress >= 3_600_000) {
      lastProgress = next;
      o.onProgress({ atMs: next, events, arrivals: submitted, ...pick(scheduler.snapshot()) });
    }
  }
  clock.set(o.endMs);
  await scheduler.tick(o.endMs);
  await metering.tick(o.endMs);
  await pump();
  await saveProjected();
  const end = await storedPlace();
  // up to the simulation's own last event, not to what the store shows now: another session's
  // open transaction (a second simulation in the same database) holds the read horizon back, and
  // projecting only what was in sight left the last workloads out of the summary
  await o.project?.(end.position);
  await save(end);
  switches.stop();
  handovers.stop();
  return { events, arrivals: submitted, scheduler: scheduler.snapshot(), endMs: o.endMs, spentMs: Object.fromEntries(spent) };
};

const pick = (s: { placements: number; waiting: number; running: number }) => ({ placements: s.placements, waiting: s.waiting, running: s.running });
