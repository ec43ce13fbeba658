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
import type { Clock } from '../infra/clock.ts';
import type { Config } from '../infra/config.ts';
import { createPostgresEventStore } from '../infra/event-store/postgres/store.ts';
import type { EventStore } from '../infra/event-store/types.ts';
import type { IdGenerator } from '../infra/ids.ts';
import { createPgDatabase, createPgliteDatabase, type Database } from '../infra/postgres/database.ts';
import { lockDataFolder } from './data-lock.ts';
import { createChangeFeed } from '../projections/change-feed.ts';
import { customersProjection } from '../projections/customers.ts';
import type { Projection } from '../projections/projection.ts';
import { createProjectionRunner, migrateProjections } from '../projections/runner.ts';
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

export const openEventStore = async (config: Config, db: Database): Promise<EventStore> => {
  if (config.ESDB_CONNECTION_STRING) {
    const { createEsdbEventStore } = await import('../infra/event-store/esdb/store.ts');
    return createEsdbEventStore(config.ESDB_CONNECTION_STRING);
  }
  return createPostgresEventStore(db);
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
};

/** The running core: projections and process managers following the store. */
export const startCore = async ({
  db,
  store,
  logger,
  clock,
  ids,
  devices = createSimulatedDevices({ random: createRng('devices').next }),
  facilities = SEED_SCENARIO,
}: PlatformParts) => {
  await migrateProjections(db, []);
  await migrateVersions(db);
  // read models built by an older definition keep serving, unfollowed, while the new one is built beside them
  const stale = await staleProjections(db, PROJECTIONS);
  await migrateProjections(db, PROJECTIONS.filter((p) => !stale.includes(p)));
  const feed = createChangeFeed();
  const runner = createProjectionRunner({ db, store, projections: PROJECTIONS, feed, logger, paused: new Set(stale.map((p) => p.name)) });
  const deps: CommandDeps = { store, readModels: db, clock, ids };
  runner.start();
  await ensurePriceList(deps);
  const executor = switchExecutor(deps, devices, logger);
  const handovers = handoverExecutor(deps, devices, logger);
  const poolTypes = new Map<string, GpuType>(facilities.flatMap((f) => resourcesOf(f).filter((r) => r.kind === 'gpu_pool').map((r) => [r.resourceId, r.model as GpuType] as const)));
  const health = await createGpuHealthMonitor({ deps, db, logger, gpuTypeOf: (poolId) => poolTypes.get(poolId) });
  const scheduler = createScheduler({ deps, facilities, logger, temperatureOf: health.temperatureOf });
  const metering = createMetering(deps, logger);
  const managers: Array<ReturnType<typeof runProcessManager>> = [];
  const startManagers = async () => {
    // the scheduler and metering keep views of their own: rebuilt from the read models once these hold what they saw
    for (const [name, projection] of [['pm:scheduler', 'workloads'], ['pm:metering', 'billing']] as const)
      if (!(await runner.waitFor(await readCheckpoint(db, name), 120_000))) logger.warn({ processManager: name, projection }, 'read models still behind after 2 minutes');
    await scheduler.recover(clock.now().getTime());
    await metering.recover();
    managers.push(
      runProcessManager({ db, store, manager: workloadQuotaManager(deps), logger }),
      runProcessManager({ db, store, manager: executor, logger }),
      runProcessManager({ db, store, manager: handovers, logger }),
      runProcessManager({ db, store, manager: economicController(deps, facilities, logger), logger }),
      runProcessManager({ db, store, manager: scheduler, logger, clock }),
      runProcessManager({ db, store, manager: metering, logger, clock }),
    );
    // switches and handovers that were under way when the process stopped go on from their last
    // completed phase; the read models that list them first catch up with what their executors saw
    for (const name of ['pm:switch-executor', 'pm:handover-executor'])
      if (!(await runner.waitFor(await readCheckpoint(db, name), 120_000)))
        logger.warn({ processManager: name }, 'read models still behind after 2 minutes: switches and handovers they do not list yet are resumed at the next start');
    for (const { resource_id } of await db.query<{ resource_id: string }>(`SELECT resource_id FROM rm_resources WHERE switch_in_flight IS NOT NULL`))
      executor.resume(resource_id);
    for (const { handover_id } of await db.query<{ handover_id: string }>(`SELECT handover_id FROM rm_handovers WHERE status IN ('in_flight', 'rolling_back')`))
      handovers.resume(handover_id);
  };
  // the process managers read the read models: with some being rebuilt, they start after the swap
  const stopping = new AbortController();
  const managersStarted =
    stale.length === 0
      ? await startManagers()
      : rebuildStale({ db, store, stale, runner, logger, signal: stopping.signal })
          .then(startManagers)
          .catch((error) => {
            if (!stopping.signal.aborted) logger.error({ err: error }, 'rebuilding changed projections failed: process managers not started; restart to try again');
          });
  return {
    feed,
    runner,
    deps,
    /** Read models built as of a moment (hcp projections rebuild … --as-of), for the API's asOf. */
    versions: readModelVersions(db),
    /** Stops following the store; closes neither the store nor the database. */
    executor,
    handovers,
    scheduler,
    metering,
    health,
    async stop() {
      stopping.abort();
      await managersStarted;
      executor.stop();
      handovers.stop();
      await Promise.all(managers.map((m) => m.stop()));
      await runner.stop();
    },
  };
};
