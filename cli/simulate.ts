/**
 * `hcp simulate --day`: one simulated day of the whole platform (the market replayed, the
 * controller and its switches, the demand simulator's customers, scheduling, the lifecycle,
 * metering and billing), as fast as it runs, then a summary.
 *
 * On embedded PGlite in memory by default (nothing kept); with --database-url on a PostgreSQL
 * server, in a schema of its own (--schema), where a run that was stopped goes on from where it
 * was when started again with the same options (--fresh starts over).
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createLogger } from '../infra/logger.ts';
import { createPgDatabase, createPgliteDatabase, type Database } from '../infra/postgres/database.ts';
import { createPostgresEventStore } from '../infra/event-store/postgres/store.ts';
import { createChangeFeed } from '../projections/change-feed.ts';
import { createProjectionRunner, migrateProjections } from '../projections/runner.ts';
import { createReplaySource } from '../simulators/market/replay.ts';
import { simulate } from '../simulators/platform/simulate.ts';
import { fleetSize, SCALES, type ScaleName } from '../simulators/platform/scales.ts';
import { formatSummary, summarizeSimulation, type SimulationSummary } from '../simulators/platform/summary.ts';
import { PROJECTIONS } from './platform.ts';
import { iso } from '../domain/time.ts';

export const SIMULATE_USAGE = `usage: hcp simulate [--day | --hours N] [--date 2023-08-20] [--scale seed|designed] [--per-day N]
                    [--seed S] [--database-url URL [--schema hcp_simulation] [--fresh] [--durable]] [--json]`;

export class SimulateArgsError extends Error {}

export type SimulateArgs = {
  startMs: number;
  hours: number;
  scale: ScaleName;
  perDay: number;
  seed: string;
  databaseUrl: string | undefined;
  schema: string;
  fresh: boolean;
  /** Each commit waits for its WAL flush, as the live platform's appends do (off by default: see openSimulationDatabase). */
  durable: boolean;
  json: boolean;
};

export const parseSimulateArgs = (argv: readonly string[]): SimulateArgs => {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        day: { type: 'boolean', default: false },
        hours: { type: 'string' },
        date: { type: 'string', default: '2023-08-20' },
        scale: { type: 'string', default: 'seed' },
        'per-day': { type: 'string' },
        seed: { type: 'string', default: 'hcp' },
        'database-url': { type: 'string' },
        schema: { type: 'string', default: 'hcp_simulation' },
        fresh: { type: 'boolean', default: false },
        durable: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    throw new SimulateArgsError((error as Error).message);
  }
  if (values.day && values.hours !== undefined) throw new SimulateArgsError('--day and --hours: give one');
  const hours = values.hours === undefined ? 24 : Number(values.hours);
  if (!Number.isFinite(hours) || hours <= 0 || hours > 24 * 31) throw new SimulateArgsError(`--hours must be a number of hours between 0 and 744, got ${values.hours}`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(values.date) || Number.isNaN(Date.parse(`${values.date}T00:00:00Z`)))
    throw new SimulateArgsError(`--date must be a day as YYYY-MM-DD, got ${values.date}`);
  if (!(values.scale in SCALES)) throw new SimulateArgsError(`--scale must be one of ${Object.keys(SCALES).join(', ')}, got ${values.scale}`);
  const scale = values.scale as ScaleName;
  const perDay = values['per-day'] === undefined ? SCALES[scale].workloadsPerDay : Number(values['per-day']);
  if (!Number.isInteger(perDay) || perDay < 0 || perDay > 1_000_000) throw new SimulateArgsError(`--per-day must be a whole number of workloads from 0 to 1,000,000, got ${values['per-day']}`);
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(values.schema)) throw new SimulateArgsError(`--schema must be a lower-case SQL name, got ${values.schema}`);
  return {
    startMs: Date.parse(`${values.date}T00:00:00Z`),
    hours,
    scale,
    perDay,
    seed: values.seed,
    databaseUrl: values['database-url'],
    schema: values.schema,
    fresh: values.fresh,
    durable: values.durable,
    json: values.json,
  };
};

export type SimulationRun = {
  backend: 'pglite' | 'postgres';
  scale: ScaleName;
  fleet: { gpus: number; asics: number };
  workloadsPerDay: number;
  wallSeconds: number;
  eventsAppended: number;
  placements: number;
  /** Wall milliseconds the scheduler spent deciding its rounds and carrying placements out. */
  schedulerMs: { deciding: number; placing: number };
  /** Scheduling rounds run. */
  rounds: number;
  /** Milliseconds spent in each part of the driver. */
  spentMs: Record<string, number>;
  summary: SimulationSummary;
};

const openSimulationDatabase = async (args: SimulateArgs): Promise<Database> => {
  if (!args.databaseUrl) return createPgliteDatabase();
  if (args.fresh) {
    const admin = new pg.Client({ connectionString: args.databaseUrl });
    await admin.connect();
    try {
      await admin.query(`DROP SCHEMA IF EXISTS ${args.schema} CASCADE`);
    } finally {
      await admin.end();
    }
  }
  return createPgDatabase({ connectionString: args.databaseUrl, schema: args.schema, maxConnections: 4, settings: simulationSettings(args) });
};

/**
 * A simulation's commits do not wait for their WAL flush unless --durable: it appends one step
 * after another, so every flush is waited for in turn (a quarter of a seed day's time on this
 * machine), and it needs none of them. A crash of the server loses at most the last commits, in
 * order, never a part of one; the simulation then goes on from its saved place, delivering again
 * what came after it, which every reaction takes harmlessly. The live platform's appends always
 * wait for the flush.
 */
export const simulationSettings = (args: Pick<SimulateArgs, 'durable'>): Record<string, string> => (args.durable ? {} : { synchronous_commit: 'off' });

export type SimulationSpec = Pick<SimulateArgs, 'startMs' | 'hours' | 'scale' | 'perDay' | 'seed'>;

/**
 * Runs a simulation on a database (its store and read models both), the projections brought up
 * to date after every step; `onProgress` hears of each simulated hour.
 */
export const runSimulation = async (db: Database, backend: SimulationRun['backend'], spec: SimulationSpec, onProgress?: (line: string) => void): Promise<SimulationRun> => {
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const store = await createPostgresEventStore(db);
  const scale = SCALES[spec.scale];
  try {
    await migrateProjections(db, PROJECTIONS);
    const runner = createProjectionRunner({ db, store, projections: PROJECTIONS, feed: createChangeFeed(), logger });
    const { startMs } = spec;
    const endMs = startMs + spec.hours * 3_600_000;
    const started = performance.now();
    const result = await simulate({
      store,
      db,
      logger,
      facilities: scale.facilities,
      market: createReplaySource(),
      startMs,
      endMs,
      seed: spec.seed,
      workloadsPerDay: spec.perDay,
      project: (upTo) => runner.drain(upTo),
      onProgress: (p) =>
        onProgress?.(
          `${iso(p.atMs).slice(0, 16)}Z  ${p.arrivals} arrived, ${p.placements} placed, ${p.running} running, ${p.waiting} waiting  (${((performance.now() - started) / 1000).toFixed(0)} s)`,
        ),
    });
    const wallSeconds = (performance.now() - started) / 1000;
    const fleet = fleetSize(scale.facilities);
    const summary = await summarizeSimulation(db, store, { startMs, endMs, gpus: fleet.gpus });
    await runner.stop();
    return {
      backend,
      scale: spec.scale,
      fleet,
      workloadsPerDay: spec.perDay,
      wallSeconds,
      eventsAppended: result.events,
      placements: result.scheduler.placements,
      schedulerMs: { deciding: result.scheduler.decidingMs, placing: result.scheduler.placingMs },
      rounds: result.scheduler.rounds,
      spentMs: result.spentMs,
      summary,
    };
  } finally {
    await store.close();
  }
};

export const formatRun = (r: SimulationRun) =>
  [
    `${r.scale} scale: ${r.fleet.gpus.toLocaleString('en-US')} GPUs, ${r.fleet.asics.toLocaleString('en-US')} ASICs, ${r.workloadsPerDay.toLocaleString('en-US')} workloads a day, on ${r.backend}`,
    formatSummary(r.summary),
    `run        ${r.wallSeconds.toFixed(1)} s: ${r.eventsAppended} events delivered (${Math.round(r.eventsAppended / r.wallSeconds)}/s), ${r.placements} placements (${Math.round(r.placements / r.wallSeconds)}/s)`,
  ].join('\n');

export const simulateCommand = async (argv: readonly string[]) => {
  let args: SimulateArgs;
  try {
    args = parseSimulateArgs(argv);
  } catch (error) {
    if (!(error instanceof SimulateArgsError)) throw error;
    process.stderr.write(`hcp simulate: ${error.message}\n${SIMULATE_USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const db = await openSimulationDatabase(args);
  let run: SimulationRun;
  try {
    run = await runSimulation(db, args.databaseUrl ? 'postgres' : 'pglite', args, args.json ? undefined : (line) => process.stderr.write(`${line}\n`));
  } finally {
    await db.close();
  }
  process.stdout.write(args.json ? `${JSON.stringify(run, null, 2)}\n` : `${formatRun(run)}\n`);
};
