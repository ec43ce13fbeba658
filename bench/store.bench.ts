/**
 * npm run bench:store [-- --json]
 *
 * Append and read throughput of the PostgreSQL event store on the real server, side by side
 * in the same run with a peer and a ceiling on the same server: Emmett's PostgreSQL store
 * appending the same events (support/emmett.ts; appends only), and the same rows written and
 * read with plain SQL (support/ceiling.ts). Runs in a fresh schema (and, for Emmett, a database)
 * of its own and drops them at the end.
 */
import { randomBytes } from 'node:crypto';
import { createPostgresEventStore } from '../infra/event-store/postgres/store.ts';
import { createPgDatabase } from '../infra/postgres/database.ts';
import { EMMETT_VERSION, openEmmett } from './support/emmett.ts';
import { ceilingAppend, ceilingPageWalk, ceilingReadStream, createCeilingTable } from './support/ceiling.ts';
import { benchEvents } from './support/events.ts';
import { describeMachine, formatMachine, formatRow, formatTableHeader, type ResultRow } from './support/report.ts';
import { storeAppend, storePageWalk, storeReadStream } from './support/store.ts';
import { summarize, timeSequential, type Sample, type Summary } from './support/stats.ts';
import { createContendedWriters, createWriters, STREAMS_PER_WRITER, type AppendBatch, type ConflictOf } from './support/writers.ts';
import { WrongExpectedRevisionError } from '../infra/event-store/expected-revision.ts';

const CONFIG = {
  repetitions: 5,
  appendRunMs: 1_000,
  writerCounts: [1, 4, 16],
  batchSizes: [1, 10],
  /** Contended: this many writers on as many streams they all share, retrying on conflict. */
  contendedWriters: 16,
  streamsPerWriter: STREAMS_PER_WRITER,
  /** Written before any measurement, in appends of 10; the first is the stream readStream reads. */
  historyStreams: 20,
  streamLength: 1_000,
  streamReadsPerRun: 50,
  pageSize: 1_000,
};

const json = process.argv.includes('--json');
const url = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `bench_store_${randomBytes(4).toString('hex')}`;

const MAX_CONNECTIONS = 20;
const db = await createPgDatabase({ connectionString: url, schema, maxConnections: MAX_CONNECTIONS });
const dropSchema = () => db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
process.once('SIGINT', () => void dropSchema().finally(() => process.exit(130)));

type Run = () => Promise<Sample>;

/** One uncounted warm-up each, then alternating repetitions, so drift (table growth, checkpoints) hits all alike. */
const compare = async (workload: string, store: Run, ceiling: Run, emmett?: Run): Promise<ResultRow> => {
  const runs = [store, ceiling, ...(emmett ? [emmett] : [])];
  for (const run of runs) await run();
  const samples = runs.map((): Sample[] => []);
  for (let rep = 0; rep < CONFIG.repetitions; rep++) for (const [i, run] of runs.entries()) samples[i]!.push(await run());
  const [storeSummary, ceilingSummary, emmettSummary] = samples.map(summarize) as [Summary, Summary, Summary | undefined];
  return {
    workload,
    store: storeSummary,
    ceiling: ceilingSummary,
    storeToCeiling: storeSummary.eventsPerSecond / ceilingSummary.eventsPerSecond,
    ...(emmettSummary ? { emmett: emmettSummary, storeToEmmett: storeSummary.eventsPerSecond / emmettSummary.eventsPerSecond } : {}),
  };
};

const historyStream = (index: number) => `bench-history-${index}`;

const writeHistory = async (append: AppendBatch) => {
  for (let s = 0; s < CONFIG.historyStreams; s++) {
    for (let first = 0; first < CONFIG.streamLength; first += 10) {
      const lastRevision = first === 0 ? undefined : BigInt(first - 1);
      await append(historyStream(s), lastRevision, benchEvents(historyStream(s), BigInt(first), 10));
    }
  }
};

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

const emmett = await openEmmett(MAX_CONNECTIONS);
try {
  const store = await createPostgresEventStore(db);
  await createCeilingTable(db);
  const machine = await describeMachine(db);
  const rows: ResultRow[] = [];
  const record = (row: ResultRow) => {
    rows.push(row);
    if (!json) console.log(formatRow(row));
  };

  if (!json) {
    const { writerCounts, streamsPerWriter, appendRunMs, pageSize, repetitions } = CONFIG;
    console.log(
      [
        `workload: appends by ${writerCounts.join('/')} concurrent writers, each to ${streamsPerWriter} streams of its own`,
        `          (and contended: ${CONFIG.contendedWriters} writers all on ${CONFIG.contendedWriters} shared streams, retrying each lost race`,
        `          with the revision the conflict reports; the ceiling learns it from a unique violation and a SELECT)`,
        `          in turn, with the exact expected revision; ~300 bytes of JSON data + metadata per event;`,
        `          ${appendRunMs} ms per append run; reads in pages of ${pageSize}; medians of ${repetitions} runs`,
        `          after a warm-up run; op = one append / INSERT / page or stream read`,
        `Emmett:   @event-driven-io/emmett-postgresql ${EMMETT_VERSION}, the same events and expected revisions, in a database of its own;`,
        `          contended, it reads the actual version after a conflict (its error does not carry it)`,
        `ceiling:  the same rows in a table of the same columns and indexes, one multi-row INSERT per batch`,
        `          (autocommit, no function), read by SELECT ... ORDER BY position LIMIT ${pageSize} (keyset walk)`,
        formatMachine(machine),
        '',
        formatTableHeader(),
      ].join('\n'),
    );
  }

  // hcp_append's statements are planned once per connection and the plans cached: planned
  // against an empty hcp_events, its idempotency check scans the whole table on every append
  // until the next ANALYZE (autovacuum's, within about a minute). Measure a store with a history.
  await writeHistory(storeAppend(store));
  await writeHistory(emmett.append);
  await writeHistory(ceilingAppend(db));
  await db.query(`VACUUM (ANALYZE) hcp_events, ceiling_events`);

  for (const writers of CONFIG.writerCounts) {
    for (const batchSize of CONFIG.batchSizes) {
      const name = `bench-${writers}x${batchSize}`;
      const storeWriters = createWriters(name, writers, batchSize, storeAppend(store));
      const ceilingWriters = createWriters(name, writers, batchSize, ceilingAppend(db));
      const emmettWriters = createWriters(name, writers, batchSize, emmett.append);
      record(
        await compare(
          `append ${plural(writers, 'writer')} × ${plural(batchSize, 'event')}`,
          () => storeWriters.runFor(CONFIG.appendRunMs),
          () => ceilingWriters.runFor(CONFIG.appendRunMs),
          () => emmettWriters.runFor(CONFIG.appendRunMs),
        ),
      );
    }
  }

  // contended: every writer on every stream, each learning the actual revision from its conflicts
  const storeConflict: ConflictOf = async (error) => (error instanceof WrongExpectedRevisionError ? { lastRevision: error.actual } : undefined);
  const ceilingConflict: ConflictOf = async (error, streamName) => {
    if ((error as { code?: string }).code !== '23505') return undefined; // unique (stream, revision)
    const [row] = await db.query<{ last: string | null }>(`SELECT max(stream_revision)::text AS last FROM ceiling_events WHERE stream_name = $1`, [streamName]);
    return { lastRevision: row?.last == null ? undefined : BigInt(row.last) };
  };
  for (const batchSize of CONFIG.batchSizes) {
    const { contendedWriters: n } = CONFIG;
    const name = `bench-contended-${batchSize}`;
    const storeWriters = createContendedWriters(name, n, n, batchSize, storeAppend(store), storeConflict);
    const ceilingWriters = createContendedWriters(name, n, n, batchSize, ceilingAppend(db), ceilingConflict);
    const emmettWriters = createContendedWriters(name, n, n, batchSize, emmett.append, emmett.conflictOf);
    record(
      await compare(
        `contended ${n} writers, ${n} shared streams × ${plural(batchSize, 'event')}`,
        () => storeWriters.runFor(CONFIG.appendRunMs),
        () => ceilingWriters.runFor(CONFIG.appendRunMs),
        () => emmettWriters.runFor(CONFIG.appendRunMs),
      ),
    );
  }

  // set hint bits and statistics now, so no read run pays for them
  await db.query(`VACUUM (ANALYZE) hcp_events, ceiling_events`);

  // the ceiling, being faster, wrote more rows: it walks as many as the store holds
  const [{ count: storedEvents } = { count: 0 }] = await db.query<{ count: number }>(`SELECT count(*)::int AS count FROM hcp_events`);
  record(
    await compare(
      `readAll ${Math.round(storedEvents / 1000)}k events, pages of ${CONFIG.pageSize}`,
      () => timeSequential(storedEvents, storePageWalk(store, CONFIG.pageSize)),
      () => timeSequential(storedEvents, ceilingPageWalk(db, CONFIG.pageSize)),
    ),
  );
  const streamEventsPerRun = CONFIG.streamReadsPerRun * CONFIG.streamLength;
  record(
    await compare(
      `readStream of ${CONFIG.streamLength} events`,
      () => timeSequential(streamEventsPerRun, () => storeReadStream(store, historyStream(0))),
      () => timeSequential(streamEventsPerRun, () => ceilingReadStream(db, historyStream(0))),
    ),
  );

  if (json) console.log(JSON.stringify({ machine, config: CONFIG, emmett: EMMETT_VERSION, results: rows }, null, 2));
} finally {
  await dropSchema();
  await db.close();
  await emmett.close();
}
