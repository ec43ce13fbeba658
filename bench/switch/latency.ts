/**
 * End-to-end decision latency on one backend: a whole platform (startCore: projections,
 * switch executor, live economic controller; the API on an ephemeral port; market
 * ingestion on the in-process bus), and a real graphql-ws client subscribed to
 * `switchProgress`. Each round publishes the electricity tick that opens the next
 * 15-minute interval, alternately far above and far below the strike price, so the
 * controller flips every ASIC block; the round ends when the client has received every
 * switch of it as completed. One round at a time: no queueing between rounds.
 *
 * Timestamps (performance.now(), one process): at the publish; at each append the store
 * tap sees (PriceTicked, RecommendationIssued, ModeSwitchRequested, ModeSwitched, matched
 * by the correlation id the bus header carries through every event, and by switch id);
 * around every device phase; at the client's `next`.
 */
import { randomBytes } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startCore } from '../../cli/platform.ts';
import { registerScenario } from '../../commands/fleet.ts';
import { startMarketIngestion, tickMessage } from '../../commands/ingestion/market-ingestion.ts';
import { createSimulatedDevices } from '../../commands/switching/simulated-devices.ts';
import type { DeviceController } from '../../commands/switching/device-controller.ts';
import { createInProcessBus, TOPICS } from '../../infra/bus/index.ts';
import { systemClock } from '../../infra/clock.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres/store.ts';
import { randomIds } from '../../infra/ids.ts';
import { createLogger } from '../../infra/logger.ts';
import { switchLatency } from '../../read-api/fleet-api.ts';
import { buildServer } from '../../read-api/server.ts';
import { createRng } from '../../simulators/random.ts';
import type { MarketTick } from '../../domain/market/ticks.ts';
import type { OpenBackend } from './backends.ts';
import { defined, dist, type Dist } from './dist.ts';
import { benchFacility, electricityTick, INTERVAL_MS, primingTicks } from './market.ts';
import { tapStore } from './tap.ts';
import { countingDatabase, createCounts, difference, snapshot } from './counting.ts';
import { measureLoad, type Load } from './load.ts';

export type LatencyConfig = {
  /** ASIC blocks of 1,000 S21 at the bench site: switches per round. */
  blocks: number;
  /** Measured rounds wanted (each flips every block). */
  rounds: number;
  /** Uncounted rounds first (JIT, prepared statements, the subscription). */
  warmupRounds: number;
  /** Measuring stops after this long even if fewer rounds are done (reported). */
  maxSeconds: number;
  /** Simulated device time per real millisecond. */
  speed: number;
  roundTimeoutMs: number;
};

type SwitchTrace = {
  switchId: string;
  resourceId: string;
  to: string;
  requestedAt: number;
  completedAt?: number;
  failed?: boolean;
  /** The fleet projection applies ModeSwitched (its UPDATE of the switch row is sent). */
  appliedAt?: number;
  /** …and has committed it and told the change feed. */
  feedAt?: number;
  clientAt?: number;
  controlPathMs?: number;
  physicalMs?: number;
};

type RoundTrace = {
  k: number;
  correlationId: string;
  publishedAt: number;
  tickAt?: number;
  recommendationAt?: number;
  /** ASIC blocks the recommendation switched. */
  switched?: number;
  switches: SwitchTrace[];
  done?: () => void;
};

type PhaseSpan = { resourceId: string; start: number; end: number };

export type LatencyResult = {
  backend: string;
  rounds: number;
  switches: number;
  /** Rounds whose recommendation did not switch every block (the flip did not happen). */
  partialRounds: number;
  failedSwitches: number;
  timedOut: boolean;
  stoppedByTimeLimit: boolean;
  measuredSeconds: number;
  /** publish → client received, per switch. */
  total: Dist;
  /** publish → the last switch of the round received. */
  round: Dist;
  stages: {
    /** bus + ingestion: publish → PriceTicked appended (per round). */
    tickToEvent: Dist;
    /** controller: PriceTicked appended → RecommendationIssued appended (per round). */
    eventToRecommendation: Dist;
    /** controller: RecommendationIssued appended → ModeSwitchRequested appended (per switch; blocks are requested one after another). */
    recommendationToRequested: Dist;
    /** executor: ModeSwitchRequested appended → ModeSwitched appended (per switch). */
    requestedToCompleted: Dist;
    /** …of which inside the simulated devices (wall time of the phase waits). */
    deviceWall: Dist;
    /** …and the rest: the executor's subscription, stream reads, phase appends. */
    executorOverhead: Dist;
    /** fleet projection + change feed + resolver + WebSocket: ModeSwitched appended → client (per switch). */
    completedToSubscriber: Dist;
    /** …of which the fleet projection's subscription: ModeSwitched appended → the projection applies it. */
    completedToApplied: Dist;
    /** Of completedToApplied: samples of 90 ms or more (a subscription that found nothing visible waits up to its 100 ms poll). */
    completedToAppliedOver90: number;
    /** …the fleet projection's transaction: applying → committed and on the change feed. */
    appliedToFeed: Dist;
    /** …and the API: change feed → resolver's read → WebSocket → client. */
    feedToSubscriber: Dist;
  };
  /** As recorded in ModeSwitched events: simulated device durations, not wall time. */
  recorded: { controlPath: Dist; physical: Dist };
  /** The API's own switchLatency query over the read model, for comparison. */
  readModel: Awaited<ReturnType<typeof switchLatency>>;
  /** The node process (platform, client and bench; PGlite runs inside it) and the machine while measuring. */
  load: Load;
  /** SQL per measured round, by statement (top ones by calls). */
  perRound: { transactions: number; statements: Array<{ statement: string; calls: number; rows: number; emptyResults: number; ms: number }> };
  /** The first and last tenth of the measured rounds: does latency grow with history? */
  drift: Array<{ rounds: string; resourceStreamEvents: number; totalP50Ms: number; executorP50Ms: number; controllerRequestP50Ms: number }>;
};

/** Device controller wrapper: wall time of every phase, per resource. */
const timedDevices = (inner: DeviceController, spans: PhaseSpan[]): DeviceController => ({
  async runPhase(request) {
    const start = performance.now();
    try {
      return await inner.runPhase(request);
    } finally {
      spans.push({ resourceId: request.resource.resourceId, start, end: performance.now() });
    }
  },
  rollback: (resource, mode) => inner.rollback(resource, mode),
});

const SUBSCRIPTION = `subscription { switchProgress { id resourceId status phasesDone controlPathMs physicalMs } }`;

export const runDecisionLatency = async (backend: OpenBackend, config: LatencyConfig, log: (line: string) => void): Promise<LatencyResult> => {
  const logger = createLogger(process.env.BENCH_LOG_LEVEL ?? 'silent');
  const counts = createCounts();
  // the fleet projection's UPDATE of a switch to completed: when it applies ModeSwitched
  const appliedAt = new Map<string, number>();
  const db = countingDatabase(backend.db, counts, (text, params) => {
    if (params?.[1] === 'completed' && text.trimStart().startsWith('UPDATE rm_switches SET status')) appliedAt.set(params[0] as string, performance.now());
  });
  const store = tapStore(await createPostgresEventStore(db));
  const facility = benchFacility(config.blocks);
  const spans: PhaseSpan[] = [];
  const devices = timedDevices(createSimulatedDevices({ random: createRng('bench-switch').next, speed: config.speed }), spans);
  const core = await startCore({ db, store, logger, clock: systemClock, ids: randomIds, devices, facilities: [facility] });
  const cleanups: Array<() => Promise<unknown>> = [() => core.stop()];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch((error) => log(`  cleanup: ${(error as Error).message}`));
  };

  try {
    const { position } = await registerScenario(core.deps, { commandId: 'bench:scenario', correlationId: 'bench:scenario', actor: 'bench' }, [facility]);
    if (!(await core.progress.waitFor(position, 30_000))) throw new Error('projections did not catch up with the scenario');

    const adminKey = randomBytes(24).toString('hex');
    const app = await buildServer({ ...core, readModels: db, logger, adminKey });
    cleanups.push(() => app.close());
    const url = await app.listen({ host: '127.0.0.1', port: 0 });

    const bus = createInProcessBus({ logger });
    cleanups.push(() => bus.close());
    const ingestion = await startMarketIngestion({ bus, store, logger });
    cleanups.push(() => ingestion.stop());

    // ---- bookkeeping ----------------------------------------------------------------------
    const rounds = new Map<string, RoundTrace>();
    const bySwitch = new Map<string, { round: RoundTrace; trace: SwitchTrace }>();
    let primed: (() => void) | undefined;
    const check = (round: RoundTrace) => {
      if (round.switched === undefined || !round.done) return;
      if (round.switches.filter((s) => s.clientAt !== undefined || s.failed).length >= round.switched) round.done();
    };
    store.listen(({ at, event }) => {
      if (event.type === 'RecommendationIssued' && event.metadata.correlationId === 'bench:prime') primed?.();
      const round = rounds.get(event.metadata.correlationId);
      if (!round) return;
      const data = event.data as Record<string, unknown>;
      switch (event.type) {
        case 'PriceTicked':
          round.tickAt ??= at;
          break;
        case 'RecommendationIssued':
          round.recommendationAt ??= at;
          round.switched = (data.switched as string[]).filter((b) => b.startsWith('asic:')).length;
          check(round);
          break;
        case 'ModeSwitchRequested': {
          const trace: SwitchTrace = { switchId: data.switchId as string, resourceId: data.resourceId as string, to: data.to as string, requestedAt: at };
          round.switches.push(trace);
          bySwitch.set(trace.switchId, { round, trace });
          break;
        }
        case 'ModeSwitched':
        case 'SwitchFailed': {
          const found = bySwitch.get(data.switchId as string);
          if (!found) break;
          found.trace.completedAt ??= at;
          if (event.type === 'SwitchFailed') {
            found.trace.failed = true;
            check(found.round);
          } else {
            found.trace.controlPathMs = data.controlPathMs as number;
            found.trace.physicalMs = data.physicalMs as number;
          }
          break;
        }
      }
    });

    core.feed.subscribe((change) => {
      if (change.topic !== 'switch') return;
      const found = bySwitch.get(change.switchId);
      if (!found || found.trace.feedAt !== undefined) return;
      const applied = appliedAt.get(change.switchId);
      if (applied === undefined) return;
      found.trace.appliedAt = applied;
      found.trace.feedAt = performance.now();
    });

    // ---- the subscriber --------------------------------------------------------------------
    const wsUrl = `${url.replace(/^http/, 'ws')}/graphql`;
    const client: Client = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${adminKey}` }, retryAttempts: 0, lazy: false });
    cleanups.push(() => client.dispose() as Promise<void>);
    let clientError: unknown;
    const connected = new Promise<void>((resolve, reject) => {
      client.on('connected', () => resolve());
      client.on('closed', (e) => reject(new Error(`WebSocket closed: ${JSON.stringify(e)}`)));
      client.on('error', reject);
    });
    client.subscribe<{ switchProgress: { id: string; status: string } }>(
      { query: SUBSCRIPTION },
      {
        next: (value) => {
          const at = performance.now();
          const p = value.data?.switchProgress;
          if (!p || (p.status !== 'completed' && p.status !== 'failed')) return;
          const found = bySwitch.get(p.id);
          if (!found || found.trace.clientAt !== undefined) return;
          found.trace.clientAt = at;
          check(found.round);
        },
        error: (error) => (clientError = error),
        complete: () => {},
      },
    );
    await connected;
    // the subscribe message is on the wire; give the server a moment to register it
    await new Promise((r) => setTimeout(r, 200));

    // ---- prime the market: BTC, network, GPU rates and the first (low) electricity price ----
    const tag = `bench-${randomBytes(3).toString('hex')}`;
    const startMs = Date.parse('2025-01-01T00:00:00Z');
    const publish = (tick: MarketTick, correlationId: string) =>
      bus.publish(TOPICS.marketTicks, [tickMessage(tick, { 'correlation-id': correlationId })]);
    const primeDone = new Promise<void>((resolve) => (primed = resolve));
    for (const tick of [...primingTicks(tag, startMs - INTERVAL_MS), electricityTick(tag, facility, startMs, 0)]) await publish(tick, 'bench:prime');
    await withTimeout(primeDone, 30_000, 'the first recommendation');

    // ---- rounds ----------------------------------------------------------------------------
    const measured: RoundTrace[] = [];
    let timedOut = false;
    let stoppedByTimeLimit = false;
    const total = config.warmupRounds + config.rounds;
    let measureStart = 0;
    let before = snapshot(counts);
    let load = measureLoad();
    for (let k = 1; k <= total; k++) {
      const counting = k > config.warmupRounds;
      if (k === config.warmupRounds + 1) {
        measureStart = performance.now();
        before = snapshot(counts);
        load = measureLoad();
      }
      if (counting && performance.now() - measureStart > config.maxSeconds * 1000) {
        stoppedByTimeLimit = true;
        break;
      }
      const round: RoundTrace = { k, correlationId: `bench:round:${k}`, publishedAt: 0, switches: [] };
      const done = new Promise<void>((resolve) => (round.done = resolve));
      rounds.set(round.correlationId, round);
      round.publishedAt = performance.now();
      await publish(electricityTick(tag, facility, startMs, k), round.correlationId);
      try {
        await withTimeout(done, counting ? config.roundTimeoutMs : Math.max(config.roundTimeoutMs, 30_000), `round ${k}`);
      } catch (error) {
        log(`  ${(error as Error).message}: tick ${round.tickAt ? 'recorded' : 'not recorded'}, recommendation ${round.recommendationAt ? `recorded (${round.switched} switched)` : 'not recorded'}, ${round.switches.length} requested, ${round.switches.filter((s) => s.completedAt).length} completed, ${round.switches.filter((s) => s.clientAt).length} received${clientError ? `; client error ${JSON.stringify(clientError)}` : ''}`);
        timedOut = true;
        break;
      }
      if (counting) measured.push(round);
    }
    const measuredSeconds = (performance.now() - measureStart) / 1000;
    const used = difference(snapshot(counts), before);
    const loadWhileMeasuring = load();
    const perRound = (x: number) => Math.round((x / Math.max(1, measured.length)) * 10) / 10;
    if (clientError) throw new Error(`subscription failed: ${JSON.stringify(clientError)}`);

    // ---- figures ---------------------------------------------------------------------------
    const switches = measured.flatMap((r) => r.switches.map((s) => ({ r, s })));
    const completed = switches.filter(({ s }) => !s.failed && s.clientAt !== undefined && s.completedAt !== undefined);
    const deviceWall = (s: SwitchTrace) =>
      spans.filter((p) => p.resourceId === s.resourceId && p.start >= s.requestedAt && p.end <= s.completedAt!).reduce((sum, p) => sum + p.end - p.start, 0);
    await core.progress.waitFor((await store.readAll({})).at(-1)?.position, 10_000);
    const readModel = await switchLatency(db, facility.facilityId);

    return {
      backend: backend.label,
      rounds: measured.length,
      switches: completed.length,
      partialRounds: measured.filter((r) => r.switched !== config.blocks).length,
      failedSwitches: switches.filter(({ s }) => s.failed).length,
      timedOut,
      stoppedByTimeLimit,
      measuredSeconds,
      total: dist(completed.map(({ r, s }) => s.clientAt! - r.publishedAt)),
      round: dist(measured.filter((r) => r.switches.length > 0).map((r) => Math.max(...r.switches.map((s) => s.clientAt ?? Number.NaN)) - r.publishedAt)),
      stages: {
        tickToEvent: dist(defined(measured.map((r) => (r.tickAt === undefined ? undefined : r.tickAt - r.publishedAt)))),
        eventToRecommendation: dist(defined(measured.map((r) => (r.tickAt === undefined || r.recommendationAt === undefined ? undefined : r.recommendationAt - r.tickAt)))),
        recommendationToRequested: dist(completed.map(({ r, s }) => s.requestedAt - r.recommendationAt!)),
        requestedToCompleted: dist(completed.map(({ s }) => s.completedAt! - s.requestedAt)),
        deviceWall: dist(completed.map(({ s }) => deviceWall(s))),
        executorOverhead: dist(completed.map(({ s }) => s.completedAt! - s.requestedAt - deviceWall(s))),
        completedToSubscriber: dist(completed.map(({ s }) => s.clientAt! - s.completedAt!)),
        completedToApplied: dist(defined(completed.map(({ s }) => (s.appliedAt === undefined ? undefined : s.appliedAt - s.completedAt!)))),
        completedToAppliedOver90: completed.filter(({ s }) => s.appliedAt !== undefined && s.appliedAt - s.completedAt! >= 90).length,
        appliedToFeed: dist(defined(completed.map(({ s }) => (s.appliedAt === undefined || s.feedAt === undefined ? undefined : s.feedAt - s.appliedAt)))),
        feedToSubscriber: dist(defined(completed.map(({ s }) => (s.feedAt === undefined ? undefined : s.clientAt! - s.feedAt)))),
      },
      recorded: {
        controlPath: dist(defined(completed.map(({ s }) => s.controlPathMs))),
        physical: dist(defined(completed.map(({ s }) => s.physicalMs))),
      },
      readModel,
      load: loadWhileMeasuring,
      perRound: {
        transactions: perRound(used.transactions),
        statements: [...used.statements]
          .map(([statement, c]) => ({ statement, calls: perRound(c.calls), rows: perRound(c.rows), emptyResults: perRound(c.empty), ms: perRound(c.ms) }))
          .filter((c) => c.calls > 0)
          .sort((a, b) => b.calls - a.calls),
      },
      drift: tenths(measured).map((part) => {
        const sw = part.flatMap((r) => r.switches.filter((s) => s.clientAt !== undefined && s.completedAt !== undefined).map((s) => ({ r, s })));
        return {
          rounds: `${part[0]!.k}–${part.at(-1)!.k}`,
          // RegisterResource, then per switch ModeSwitchRequested + 4 SwitchPhaseCompleted + ModeSwitched
          resourceStreamEvents: 1 + 6 * (part[0]!.k - 1),
          totalP50Ms: dist(sw.map(({ r, s }) => s.clientAt! - r.publishedAt)).p50Ms,
          executorP50Ms: dist(sw.map(({ s }) => s.completedAt! - s.requestedAt)).p50Ms,
          controllerRequestP50Ms: dist(sw.map(({ r, s }) => s.requestedAt - r.recommendationAt!)).p50Ms,
        };
      }),
    };
  } finally {
    await cleanup();
  }
};

/** The first and the last tenth of the rounds (at least one round each). */
const tenths = <T>(xs: T[]): T[][] => {
  if (xs.length < 2) return [];
  const n = Math.max(1, Math.floor(xs.length / 10));
  return [xs.slice(0, n), xs.slice(-n)];
};

const withTimeout = async <T>(promise: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
};
