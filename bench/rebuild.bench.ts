/**
 * npm run bench:rebuild [-- --json] [--repetitions 3] [--pglite-events 100000] [--parallel 2] [--batch 20000] [--server-only]
 *
 * Every read model rebuilt beside the live ones and swapped in (what `hcp projections rebuild
 * all` does), from the events of a simulated platform: on the PostgreSQL server over the whole
 * log (about a million events) and on embedded PGlite over its first `--pglite-events`. While it
 * runs, a reader keeps asking what the API asks (a customer's newest workloads, the running
 * count): its latency during the rebuild and the swap's own transaction time are the pause
 * queries see. Then `hcp audit verify` over the same log: the chains alone, and with every
 * derived fact recomputed.
 *
 * The log is made once by `hcp simulate` into the schema BENCH_REBUILD_SCHEMA (default
 * hcp_bench_1m) on DATABASE_URL, and reused: about 10 minutes on a 2-core machine (a simulation commits without waiting for the WAL flush).
 */
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { derivedChecks } from '../audit/derived.ts';
import { verifyStore } from '../audit/verify.ts';
import { PROJECTIONS } from '../cli/platform.ts';
import { createPostgresEventStore } from '../infra/event-store/postgres/store.ts';
import type { EventStore, RecordedEvent } from '../infra/event-store/types.ts';
import { createPgDatabase, createPgliteDatabase, type Database, type Sql } from '../infra/postgres/database.ts';
import { migrateProjections } from '../projections/runner.ts';
import { rebuildBeside } from '../projections/versions.ts';
import { describeMachine, formatMachine } from './support/report.ts';
import { median, quantile } from './support/stats.ts';

const { values: flags } = parseArgs({
  options: { json: { type: 'boolean' }, repetitions: { type: 'string' }, 'pglite-events': { type: 'string' }, parallel: { type: 'string' }, batch: { type: 'string' }, 'server-only': { type: 'boolean' } },
});
const CONFIG = {
  url: process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  schema: process.env.BENCH_REBUILD_SCHEMA ?? 'hcp_bench_1m',
  /** Simulated hours of the seed-scale platform (10,000 workloads a day): about 1.08 million events. */
  simulateHours: 216,
  minimumEvents: Number(process.env.BENCH_REBUILD_MIN_EVENTS ?? 1_000_000),
  repetitions: Number(flags.repetitions ?? 3),
  pgliteEvents: Number(flags['pglite-events'] ?? 100_000),
  /** Projections a server build applies at once (BuildOptions.parallel). */
  parallel: flags.parallel === undefined ? undefined : Number(flags.parallel),
  /** Events per batch of a server build (BuildOptions.batchSize). */
  batch: flags.batch === undefined ? undefined : Number(flags.batch),
  /** The server's rebuild alone: no PGlite, no verify. */
  serverOnly: flags['server-only'] === true,
  /** The reader's pause between two questions. */
  probeEveryMs: 5,
};
const json = flags.json === true;
const say = (line: string) => !json && console.log(line);

/** `hcp simulate` into the schema, once. */
const ensureLog = async (db: Sql) => {
  const [{ n }] = (await db.query<{ n: string }>(`SELECT (SELECT count(*) FROM hcp_events)::text AS n`).catch(() => [{ n: '0' }])) as [{ n: string }];
  if (Number(n) >= CONFIG.minimumEvents) return Number(n);
  say(`generating the log: hcp simulate --hours ${CONFIG.simulateHours} into schema ${CONFIG.schema} (a few minutes, once)`);
  const bin = path.resolve(import.meta.dirname, '../bin/hcp.js');
  const args = [bin, 'simulate', '--hours', String(CONFIG.simulateHours), '--database-url', CONFIG.url, '--schema', CONFIG.schema, '--fresh'];
  const code = await new Promise<number | null>((resolve) => spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] }).on('exit', resolve));
  if (code !== 0) throw new Error(`hcp simulate exited with ${code}`);
  return ensureLog(db);
};

/** What the API asks: a customer's newest workloads, and the running count. */
const QUESTIONS = [
  `SELECT workload_id, status FROM rm_workloads WHERE customer_id = (SELECT min(customer_id) FROM rm_workloads) ORDER BY submitted_at DESC LIMIT 20`,
  `SELECT count(*) FROM rm_workloads WHERE status = 'running'`,
];

type Reader = { stop(): Promise<number[]> };

/** Asks what the API asks until stopped, in this process (embedded PGlite: the API shares it); the latency of every answer. */
const readerHere = (db: Sql): Reader => {
  const latencies: number[] = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const t0 = performance.now();
      for (const q of QUESTIONS) await db.query(q);
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, CONFIG.probeEveryMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return latencies;
    },
  };
};

/**
 * The same on a server, from a thread with its own event loop and connection, as an API process
 * would: what it measures is the database under the build, not this process's event loop.
 */
const readerThread = (): Reader => {
  const worker = new Worker(
    `const { parentPort, workerData: w } = require('node:worker_threads');
     const pg = require('pg');
     (async () => {
       const client = new pg.Client({ connectionString: w.url, options: '-c search_path=' + w.schema });
       await client.connect();
       let stopped = false;
       parentPort.on('message', () => (stopped = true));
       const latencies = [];
       while (!stopped) {
         const t0 = performance.now();
         for (const q of w.questions) await client.query(q);
         latencies.push(performance.now() - t0);
         await new Promise((r) => setTimeout(r, w.everyMs));
       }
       await client.end();
       parentPort.postMessage(latencies);
     })();`,
    { eval: true, workerData: { url: CONFIG.url, schema: CONFIG.schema, questions: QUESTIONS, everyMs: CONFIG.probeEveryMs } },
  );
  const answered = new Promise<number[]>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    async stop() {
      worker.postMessage('stop');
      const latencies = await answered;
      await worker.terminate();
      return latencies;
    },
  };
};

type RebuildRun = { events: number; seconds: number; eventsPerSecond: number; swapMs: number; readerP50Ms: number; readerP99Ms: number; readerMaxMs: number; readerQuestions: number };

const rebuildOnce = async (db: Database, store: EventStore, r: Reader, build: { parallel?: number; batchSize?: number } = {}): Promise<RebuildRun> => {
  let swapMs = Number.NaN;
  const t0 = performance.now();
  const events = await rebuildBeside(db, store, PROJECTIONS, { stalledMs: 0, onSwap: (ms) => (swapMs = ms), ...build });
  const seconds = (performance.now() - t0) / 1000;
  const latencies = await r.stop();
  return {
    events,
    seconds,
    eventsPerSecond: events / seconds,
    swapMs,
    readerP50Ms: quantile(latencies, 0.5),
    readerP99Ms: quantile(latencies, 0.99),
    readerMaxMs: Math.max(...latencies),
    readerQuestions: latencies.length,
  };
};

const medianRun = (runs: RebuildRun[]): RebuildRun =>
  Object.fromEntries(Object.keys(runs[0]!).map((k) => [k, median(runs.map((r) => r[k as keyof RebuildRun]))])) as RebuildRun;

const formatRun = (label: string, r: RebuildRun) =>
  `${label.padEnd(26)} ${Math.round(r.events).toLocaleString('en-US').padStart(10)} ${r.seconds.toFixed(1).padStart(8)} ${Math.round(r.eventsPerSecond).toLocaleString('en-US').padStart(9)} ${r.swapMs.toFixed(1).padStart(8)} ${r.readerP50Ms.toFixed(1).padStart(8)} ${r.readerP99Ms.toFixed(1).padStart(8)} ${r.readerMaxMs.toFixed(1).padStart(8)}`;

/** The first `count` events of `from`, appended to `to` stream by stream (hashes recomputed by `to`, and equal). */
const copyPrefix = async (from: EventStore, to: EventStore, count: number) => {
  let after: RecordedEvent['position'] | 'start' = 'start';
  let copied = 0;
  while (copied < count) {
    const page = await from.readAll({ after, maxCount: Math.min(1000, count - copied) });
    if (page.length === 0) break;
    for (let i = 0; i < page.length; ) {
      let j = i + 1;
      while (j < page.length && page[j]!.streamName === page[i]!.streamName) j++;
      const run = page.slice(i, j);
      const first = run[0]!;
      await to.appendToStream(
        first.streamName,
        run.map(({ id, type, data, metadata }) => ({ id, type, data, metadata })),
        { expectedRevision: first.revision === 0n ? 'no_stream' : first.revision - 1n },
      );
      i = j;
    }
    copied += page.length;
    after = page.at(-1)!.position;
  }
  return copied;
};

const db = await createPgDatabase({ connectionString: CONFIG.url, schema: CONFIG.schema, maxConnections: 4 });
try {
  const events = await ensureLog(db);
  const store = await createPostgresEventStore(db);
  await migrateProjections(db, PROJECTIONS);
  const machine = await describeMachine(db);
  say(
    [
      `workload: every read model (${PROJECTIONS.map((p) => p.name).join(', ')}) rebuilt beside the live ones and swapped in,`,
      `          from ${events.toLocaleString('en-US')} events of a simulated seed-scale platform (PostgreSQL) and its first ${CONFIG.pgliteEvents.toLocaleString('en-US')} (PGlite),`,
      `          batches as hcp projections rebuild makes them (20,000 events per batch on the server, its projections 2 at a time in transactions of their own; 1,000 per transaction on PGlite); a reader asks two API questions every ${CONFIG.probeEveryMs} ms meanwhile (on the server from a thread and connection of its own, as an API process would);`,
      `          medians of ${CONFIG.repetitions} run(s)`,
      formatMachine(machine),
      '',
      `${''.padEnd(26)} ${'events'.padStart(10)} ${'s'.padStart(8)} ${'events/s'.padStart(9)} ${'swap ms'.padStart(8)} ${'read p50'.padStart(8)} ${'read p99'.padStart(8)} ${'read max'.padStart(8)}`,
    ].join('\n'),
  );

  const serverRuns: RebuildRun[] = [];
  for (let i = 0; i < CONFIG.repetitions; i++)
    serverRuns.push(await rebuildOnce(db, store, readerThread(), { ...(CONFIG.parallel ? { parallel: CONFIG.parallel } : {}), ...(CONFIG.batch ? { batchSize: CONFIG.batch } : {}) }));
  const server = medianRun(serverRuns);
  say(formatRun('rebuild all, PostgreSQL', server));
  const goals = () => say(`rebuild on the server: ${Math.round(server.eventsPerSecond).toLocaleString('en-US')} events/s (goal 50,000: ${(server.eventsPerSecond / 50_000).toFixed(2)}×); swap ${server.swapMs.toFixed(1)} ms (goal < 50)`);
  if (CONFIG.serverOnly) {
    goals();
    if (json) console.log(JSON.stringify({ machine, config: CONFIG, server: { runs: serverRuns, median: server } }, null, 2));
  } else {
    const pglite = await createPgliteDatabase();
    const pgliteStore = await createPostgresEventStore(pglite);
    const copied = await copyPrefix(store, pgliteStore, CONFIG.pgliteEvents);
    await migrateProjections(pglite, PROJECTIONS);
    const pgliteRuns: RebuildRun[] = [];
    for (let i = 0; i < CONFIG.repetitions; i++) pgliteRuns.push(await rebuildOnce(pglite, pgliteStore, readerHere(pglite)));
    const embedded = medianRun(pgliteRuns);
    say(formatRun(`rebuild all, PGlite (${Math.round(copied / 1000)}k)`, embedded));
    await pglite.close();

    // hcp audit verify over the whole log, on a store of its own (nothing served from a tail buffer)
    const verify = async (withDerived: boolean) => {
      const runs: number[] = [];
      for (let i = 0; i < CONFIG.repetitions; i++) {
        const fresh = await createPostgresEventStore(db);
        const t0 = performance.now();
        const report = await verifyStore(fresh, { derived: withDerived ? derivedChecks() : [] });
        runs.push(report.events / ((performance.now() - t0) / 1000));
        if (report.chain.count > 0 || report.derived.count > 0) throw new Error(`verify found ${report.chain.count} chain break(s), ${report.derived.count} derived difference(s)`);
      }
      return median(runs);
    };
    const chains = await verify(false);
    const derived = await verify(true);
    say(`\nhcp audit verify, ${events.toLocaleString('en-US')} events: chains ${Math.round(chains).toLocaleString('en-US')} events/s (goal 100,000: ${(chains / 100_000).toFixed(2)}×); with every derived fact ${Math.round(derived).toLocaleString('en-US')} events/s`);
    goals();
    if (json) console.log(JSON.stringify({ machine, config: CONFIG, server: { runs: serverRuns, median: server }, pglite: { events: copied, runs: pgliteRuns, median: embedded }, verify: { chainsEventsPerSecond: chains, derivedEventsPerSecond: derived } }, null, 2));
  }
} finally {
  await db.close();
}
