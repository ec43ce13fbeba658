/**
 * Assembles the platform from configuration: event store, read-model database,
 * projections, process managers and the API. Embedded by default (PGlite in the
 * data folder); DATABASE_URL and ESDB_CONNECTION_STRING switch to real servers.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { CommandDeps } from '../commands/context.ts';
import { runProcessManager } from '../commands/process-managers/runner.ts';
import { workloadQuotaManager } from '../commands/process-managers/workload-quota.ts';
import { sleepUnlessAborted, type Clock } from '../infra/clock.ts';
import type { Config } from '../infra/config.ts';
import { createPostgresEventStore } from '../infra/event-store/postgres/store.ts';
import type { EventStore } from '../infra/event-store/types.ts';
import { timedStore } from '../infra/metrics.ts';
import type { IdGenerator } from '../infra/ids.ts';
import { createPgDatabase, createPgliteDatabase, type Database } from '../infra/postgres/database.ts';
import { lockDataFolder } from './data-lock.ts';
import { createChangeFeed } from '../projections/change-feed.ts';
import { customersProjection } from '../projections/customers.ts';
import type { Projection } from '../projections/projection.ts';
import { createProjectionRunner, migrateProjections, type ProjectionRunner } from '../projections/runner.ts';
import { eitherCaughtUp, followChangeLog, type ReadModelProgress } from '../projections/change-log.ts';
import type { GlobalPosition } from '../infra/event-store/position.ts';
import { lead, type Work } from '../infra/postgres/leader.ts';
import type { MessageBus } from '../infra/bus/types.ts';
import { migrateVersions, readModelVersions } from '../projections/versions.ts';
import { rebuildStale, staleProjections } from '../projections/definitions.ts';
import { readCheckpoint } from '../projections/checkpoints.ts';
import { workloadsProjection } from '../projections/workloads.ts';
import { fleetProjection } from '../projections/fleet.ts';
import { handoversProjection } from '../projections/handovers.ts';
import { marketProjection } from '../projections/market.ts';
import { economicsProjection } from '../projections/economics.ts';
import { gpusProjection } from '../projections/gpus.ts';
import { billingProjection } from '../projections/billing.ts';
import { createScheduler } from '../commands/scheduling/scheduler.ts';
import { createMetering } from '../commands/billing/metering.ts';
import { ensurePriceList } from '../commands/price-list.ts';
import { createGpuHealthMonitor } from '../commands/telemetry/gpu-health.ts';
import { resourcesOf } from '../commands/fleet.ts';
import type { GpuType } from '../domain/workload/request.ts';
import { economicController } from '../commands/process-managers/economic-controller.ts';
import { SEED_SCENARIO, type FacilitySpec } from '../domain/fleet/inventory.ts';
import { createSimulatedDevices } from '../commands/switching/simulated-devices.ts';
import { createRng } from '../simulators/random.ts';
import { switchExecutor } from '../commands/switching/switch-executor.ts';
import { handoverExecutor } from '../commands/switching/handover-executor.ts';
import type { DeviceController } from '../commands/switching/device-controller.ts';

export const PROJECTIONS: readonly Projection[] = [
  customersProjection,
  workloadsProjection,
  fleetProjection,
  gpusProjection,
  handoversProjection,
  marketProjection,
  economicsProjection,
  billingProjection,
];


/** The read-model database (and, without EventStoreDB, the event store's): PostgreSQL, or PGlite in the data folder, locked to this process. */
export const openDatabase = async (config: Config): Promise<Database> => {
  if (config.DATABASE_URL) return createPgDatabase({ connectionString: config.DATABASE_URL });
  const release = await lockDataFolder(path.resolve(config.HCP_DATA_DIR));
  const dataDir = path.resolve(config.HCP_DATA_DIR, 'pglite');
  await mkdir(dataDir, { recursive: true });
  const db = await createPgliteDatabase({ dataDir }).catch(async (error: unknown) => {
    await release();
    throw error;
  });
  return {
    ...db,
    async close() {
      await db.close();
      await release();
    },
  };
};

/** The event store the configuration names, its appends timed for /metrics. */
export const openEventStore = async (config: Config, db: Database, logger?: Logger): Promise<EventStore> => {
  if (config.ESDB_CONNECTION_STRING) {
    const { createEsdbEventStore } = await import('../infra/event-store/esdb/store.ts');
    return timedStore(await createEsdbEventStore(config.ESDB_CONNECTION_STRING));
  }
  // a running platform tells its other processes (API instances, workers) of its appends, and hears theirs
  const warn = (message: string, error?: unknown) => logger?.warn(error === undefined ? {} : { err: error }, message);
  return timedStore(await createPostgresEventStore(db, logger ? { acrossProcesses: { warn } } : {}));
};

/** What a process does: serve the API, run the projections, the process managers, or feed the market in. */
export const ROLES = ['api', 'projections', 'processes', 'ingestion'] as const;
export type Role = (typeof ROLES)[number];

/** `api,processes` or `all` → the roles; throws naming the unknown one. */
export const parseRoles = (text: string): ReadonlySet<Role> => {
  const names = text.split(',').map((r) => r.trim()).filter(Boolean);
  if (names.length === 0) throw new Error('--role: name at least one of all, api, projections, processes, ingestion');
  const roles = new Set<Role>();
  for (const name of names) {
    if (name === 'all') ROLES.forEach((r) => roles.add(r));
    else if ((ROLES as readonly string[]).includes(name)) roles.add(name as Role);
    else throw new Error(`--role: unknown role "${name.slice(0, 40)}" (all, api, projections, processes, ingestion)`);
  }
  return roles;
};

export type PlatformParts = {
  db: Database;
  store: EventStore;
  logger: Logger;
  clock: Clock;
  ids: IdGenerator;
  /** Device controllers; simulated (seeded, real time) when omitted. */
  devices?: DeviceController;
  /** The facilities the economic controller decides for. */
  facilities?: readonly FacilitySpec[];
  /** The background work this process offers to lead (default: projections and processes). */
  roles?: ReadonlySet<Role>;
  /** Where GPU telemetry arrives; the process managers' leader aggregates it into health. */
  bus?: MessageBus;
};


/**
 * The core of a process: the change feed its API serves subscriptions from and, for each
 * background role it has, an offer to lead that work (infra/postgres/leader.ts): the projection
 * runner, and the process managers. On a PostgreSQL server several processes can make the offer
 * and one of them leads each; changes reach every process's feed through the change log. On
 * embedded PGlite the one process leads everything and its feed is told directly.
 */
export const startCore = async ({
  db,
  store,
  logger,
  clock,
  ids,
  devices = createSimulatedDevices({ random: createRng('devices').next }),
  facilities = SEED_SCENARIO,
  roles = new Set<Role>(['projections', 'processes']),
  bus,
}: PlatformParts) => {
  await migrateProjections(db, []);
  await migrateVersions(db);
  // read models built by an older definition keep serving, unfollowed, while the new one is built beside them
  const staleNow = await staleProjections(db, PROJECTIONS);
  await migrateProjections(db, PROJECTIONS.filter((p) => !staleNow.includes(p)));
  const deps: CommandDeps = { store, readModels: db, clock, ids };
  await ensurePriceList(deps);
  const feed = createChangeFeed();
  // on a server, API instances anywhere hear the projections' changes through the change log
  const follower = db.session ? await followChangeLog({ db, feed, logger }) : undefined;
  let runner: ProjectionRunner | undefined;
  let runnerStarted!: () => void;
  const runnerReady = new Promise<void>((resolve) => (runnerStarted = resolve));
  // the process managers may ask before the projections' lead has started the runner: wait for it
  // (within the time asked) rather than answer "behind" at once
  const local = async (position: GlobalPosition | undefined, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    if (!runner) {
      let timer: NodeJS.Timeout | undefined;
      const ready = await Promise.race([runnerReady.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
      clearTimeout(timer);
      if (!ready) return false;
    }
    // what is left of the time asked, not all of it again
    return runner!.waitFor(position, Math.max(0, deadline - Date.now()));
  };
  // where this process applies the projections itself it knows first, without the log's notification and read
  const progress: ReadModelProgress = follower
    ? { waitFor: (position, timeoutMs) => (runner ? eitherCaughtUp(local(position, timeoutMs), follower.waitFor(position, timeoutMs)) : follower.waitFor(position, timeoutMs)) }
    : { waitFor: local };

  const projections = roles.has('projections')
    ? lead({
        db,
        name: 'projections',
        logger,
        start: async () => {
          const stale = await staleProjections(db, PROJECTIONS);
          await migrateProjections(db, PROJECTIONS.filter((p) => !stale.includes(p)));
          // on PGlite a batch's transaction holds the one connection (and the event loop, which runs
          // its WASM): smaller batches let API reads in between (bench:scale, 36,000×: p50 1.2 s → 0.6 s)
          const batchSize = db.kind === 'pglite' ? 50 : 500;
          const running = createProjectionRunner({ db, store, projections: PROJECTIONS, feed, logger, paused: new Set(stale.map((p) => p.name)), changeLog: follower?.writer, batchSize });
          runner = running;
          running.start();
          runnerStarted();
          const stopping = new AbortController();
          const rebuilding =
            stale.length === 0
              ? Promise.resolve()
              : rebuildStale({ db, store, stale, runner: running, logger, signal: stopping.signal }).catch((error) => {
                  if (!stopping.signal.aborted) logger.error({ err: error }, 'rebuilding changed projections failed: they stay on their old read models; restart to try again');
                });
          return {
            async stop() {
              stopping.abort();
              await rebuilding;
              await running.stop();
            },
          };
        },
      })
    : undefined;

  const processes = roles.has('processes')
    ? lead({ db, name: 'processes', logger, start: (signal) => startProcessManagers({ db, store, logger, clock, deps, devices, facilities, progress, bus, signal }) })
    : undefined;

  await projections?.settled;
  await processes?.settled;
  return {
    feed,
    /** How far the read models are (what a mutation waits for before it answers). */
    progress,
    deps,
    /** Read models built as of a moment (hcp projections rebuild … --as-of), for the API's asOf. */
    versions: readModelVersions(db),
    /** Whether this process leads each background role now. */
    leading: () => ({ projections: projections?.leading() ?? false, processes: processes?.leading() ?? false }),
    /** Stops following the store; closes neither the store nor the database. */
    async stop() {
      await processes?.stop();
      await projections?.stop();
      await follower?.stop();
    },
  };
};

/**
 * The process managers, started by the process that leads them: after the read models they read
 * hold what they saw (and after any changed projection definition is swapped in), each goes on
 * from its checkpoint; switches and handovers under way go on from their last completed phase.
 */
const startProcessManagers = async ({
  db,
  store,
  logger,
  clock,
  deps,
  devices,
  facilities,
  progress,
  bus,
  signal,
}: {
  db: Database;
  store: EventStore;
  logger: Logger;
  clock: Clock;
  deps: CommandDeps;
  devices: DeviceController;
  facilities: readonly FacilitySpec[];
  progress: ReadModelProgress;
  bus?: MessageBus;
  /** Ends a wait for the swap when the process stops first. */
  signal: AbortSignal;
}): Promise<Work> => {
  // the process managers read the read models: with some being rebuilt, they start after the swap
  for (let waited = 0; (await staleProjections(db, PROJECTIONS)).length > 0; waited++) {
    if (waited % 60 === 0) logger.info('process managers wait for changed projections to be rebuilt and swapped in');
    await sleepUnlessAborted(1000, signal);
    if (signal.aborted) return { stop: async () => {} };
  }
  const executor = switchExecutor(deps, devices, logger);
  const handovers = handoverExecutor(deps, devices, logger);
  const poolTypes = new Map<string, GpuType>(facilities.flatMap((f) => resourcesOf(f).filter((r) => r.kind === 'gpu_pool').map((r) => [r.resourceId, r.model as GpuType] as const)));
  const health = await createGpuHealthMonitor({ deps, db, logger, gpuTypeOf: (poolId) => poolTypes.get(poolId) });
  const scheduler = createScheduler({ deps, facilities, logger, temperaturesOf: health.temperaturesOf });
  const metering = createMetering(deps, logger);
  // the scheduler and metering keep views of their own: rebuilt from the read models once these hold what they saw
  for (const [name, projection] of [['pm:scheduler', 'workloads'], ['pm:metering', 'billing']] as const)
    if (!(await progress.waitFor(await readCheckpoint(db, name), 120_000))) logger.warn({ processManager: name, projection }, 'read models still behind after 2 minutes');
  await scheduler.recover(clock.now().getTime());
  await metering.recover();
  const managers = [
    runProcessManager({ db, store, manager: workloadQuotaManager(deps), logger }),
    runProcessManager({ db, store, manager: executor, logger }),
    runProcessManager({ db, store, manager: handovers, logger }),
    runProcessManager({ db, store, manager: economicController(deps, facilities, logger), logger }),
    runProcessManager({ db, store, manager: scheduler, logger, clock }),
    runProcessManager({ db, store, manager: metering, logger, clock }),
  ];
  // switches and handovers that were under way go on from their last completed phase; the read
  // models that list them first catch up with what their executors saw
  for (const name of ['pm:switch-executor', 'pm:handover-executor'])
    if (!(await progress.waitFor(await readCheckpoint(db, name), 120_000)))
      logger.warn({ processManager: name }, 'read models still behind after 2 minutes: switches and handovers they do not list yet are resumed at the next start');
  for (const { resource_id } of await db.query<{ resource_id: string }>(`SELECT resource_id FROM rm_resources WHERE switch_in_flight IS NOT NULL`)) executor.resume(resource_id);
  for (const { handover_id } of await db.query<{ handover_id: string }>(`SELECT handover_id FROM rm_handovers WHERE status IN ('in_flight', 'rolling_back')`)) handovers.resume(handover_id);
  const telemetry = bus ? await health.consume(bus) : undefined;
  return {
    async stop() {
      await telemetry?.stop();
      executor.stop();
      handovers.stop();
      await Promise.all(managers.map((m) => m.stop()));
    },
  };
};
