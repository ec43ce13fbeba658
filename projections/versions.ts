/**
 * Read-model versions: a read model built again from the events into a PostgreSQL schema of its
 * own, beside the live one, while the live one keeps serving and keeps following the events.
 *
 * - A rebuild builds every table of its projections in `hcp_build_…`, catches up with the live
 *   checkpoints, then swaps: in one transaction it locks the live checkpoints (the projection
 *   runner waits on them), applies nothing more (the version is exactly where the live one is),
 *   drops the live tables and moves the new ones in. A query waits out that transaction, a few
 *   milliseconds, and sees the old rows or the new, never a half-built model and never an older
 *   state than it saw before.
 * - An as-of version is built up to a position, or up to a moment (the longest prefix of the log
 *   whose events all occurred by then, so it is a state the platform was really in), and kept
 *   under its name (`hcp_asof_…`) for analysis and export until dropped.
 *
 * Projections name their tables unqualified, so a version is built by running the projection's
 * own DDL and `apply` with the version's schema first on the transaction's search path.
 */
import { createHash } from 'node:crypto';
import type { Database, Sql } from '../infra/postgres/database.ts';
import { migrate, splitStatements } from '../infra/postgres/migrate.ts';
import { comparePositions, decodePosition, encodePosition, START, type GlobalPosition } from '../infra/event-store/position.ts';
import { pagesAhead } from '../infra/event-store/read-ahead.ts';
import type { EventStore, RecordedEvent } from '../infra/event-store/types.ts';
import { lockCheckpoint } from './checkpoints.ts';
import { applyOwn, definitionVersion, type Projection } from './projection.ts';
import { iso } from '../domain/time.ts';

export const VERSIONS_SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS hcp_read_model_versions (
  name             text PRIMARY KEY,
  kind             text NOT NULL,
  projections      text[] NOT NULL,
  as_of            text,
  commit_position  bigint NOT NULL,
  prepare_position bigint NOT NULL,
  events_applied   bigint NOT NULL DEFAULT 0,
  status           text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
-- when the last event the version holds occurred: the moment a version as of a position stands at
ALTER TABLE hcp_read_model_versions ADD COLUMN IF NOT EXISTS last_occurred_at timestamptz;
`;

/** Where an as-of version stops: after the event at a position, or at the last event of the log's prefix that occurred by a moment. */
export type AsOf = { kind: 'position'; position: GlobalPosition } | { kind: 'time'; ms: number };

export class VersionError extends Error {}

/** `commit/prepare` (a position as `hcp audit replay` prints it) or an ISO time. */
export const parseAsOf = (text: string): AsOf => {
  if (/^\d+\/\d+$/.test(text)) return { kind: 'position', position: decodePosition(text) };
  const ms = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) throw new VersionError(`--as-of: expected a position (commit/prepare) or an ISO time such as 2023-08-22T12:00:00Z, got ${JSON.stringify(text)}`);
  return { kind: 'time', ms };
};

export const describeAsOf = (a: AsOf) => (a.kind === 'position' ? encodePosition(a.position) : iso(a.ms));

/** The schema name an as-of version gets unless named: `hcp_asof_2023_08_22t12_00_00z`, `hcp_asof_p1435_150`. */
export const asOfVersionName = (a: AsOf) =>
  `hcp_asof_${a.kind === 'position' ? `p${a.position.commit}_${a.position.prepare}` : iso(a.ms).replace(/\.000Z$/, 'Z').toLowerCase().replace(/[^a-z0-9]+/g, '_')}`;

/**
 * What an `--as-of` / `asOf` argument names: a kept version by its name (`hcp_asof_…`), or the
 * version built as of a position or moment (with that moment, so a caller can build it).
 */
export const asOfTarget = (text: string): { name: string; asOf?: AsOf } => {
  if (/^hcp_asof_/.test(text)) return { name: checkVersionName(text) };
  const asOf = parseAsOf(text);
  return { name: asOfVersionName(asOf), asOf };
};

const VERSION_NAME = /^hcp_(asof|build)_[a-z0-9_]{1,50}$/;

export const checkVersionName = (name: string) => {
  if (!VERSION_NAME.test(name)) throw new VersionError(`version name: expected hcp_asof_… or hcp_build_… (lowercase letters, digits, _), got ${JSON.stringify(name)}`);
  return name;
};

const ident = (name: string) => `"${name}"`;

/** The schema the live read models (and the event store) resolve to on this database. */
export const liveSchemaOf = async (db: Sql) => (await db.query<{ s: string }>(`SELECT current_schema() AS s`))[0]!.s;

/**
 * Runs `fn` in a transaction whose unqualified names resolve to `schema` first. Its statements are
 * prepared (below) but planned for their parameters every time: a generic plan for a batch's
 * row lookups (`projections/rows.ts`) scans the whole table, and a rebuild then slows as it grows.
 * It commits without waiting for its WAL flush: a crash can only lose a last batch together with
 * the progress that says it was applied, and a resumed build applies it again.
 */
const inSchema = <T>(db: Database, schema: string, live: string, fn: (tx: Sql) => Promise<T>) =>
  db.transaction(async (tx) => {
    await tx.query(`SELECT set_config('search_path', $1, true), set_config('plan_cache_mode', 'force_custom_plan', true), set_config('synchronous_commit', 'off', true)`, [`${ident(schema)}, ${ident(live)}`]);
    return fn(db.kind === 'pg' ? prepared(tx, schema) : tx);
  });

/**
 * Each statement text prepared once per connection (by a name derived from it) instead of parsed
 * and planned at every event of a rebuild; named per version, so a statement never outlives the
 * tables it was planned for (a changed definition may give a table other columns).
 */
const statementNames = new Map<string, string>();
const prepared = (tx: Sql, schema: string): Sql => ({
  query: (q, params) => {
    if (typeof q !== 'string') return tx.query(q, params);
    const key = `${schema}\n${q}`;
    let name = statementNames.get(key);
    if (name === undefined) {
      if (statementNames.size > 5_000) statementNames.clear();
      statementNames.set(key, (name = `hcp_v_${createHash('sha1').update(key).digest('hex').slice(0, 20)}`));
    }
    return tx.query({ name, text: q }, params);
  },
});

/**
 * A Sql whose queries read a version's tables: each runs in a read-only transaction with only the
 * version on its search path, so a table the version lacks is an error, never the live one's rows.
 */
export const versionSql = (db: Database, schema: string): Sql => ({
  query: (q, params) =>
    db.transaction(async (tx) => {
      await tx.query(`SELECT set_config('search_path', $1, true), set_config('transaction_read_only', 'on', true)`, [ident(checkVersionName(schema))]);
      return tx.query(typeof q === 'string' ? q : q.text, params);
    }),
});

/** What the API reads as-of versions through. */
export type ReadModelVersions = { find(name: string): Promise<VersionRow | undefined>; sql(name: string): Sql };
export const readModelVersions = (db: Database): ReadModelVersions => ({ find: (name) => findVersion(db, name), sql: (name) => versionSql(db, name) });

export type VersionRow = {
  name: string;
  kind: 'rebuild' | 'as-of';
  projections: string[];
  asOf: string | null;
  position: GlobalPosition;
  eventsApplied: number;
  /** When the last event it holds occurred (undefined: it holds none). */
  lastOccurredAt?: string;
  status: 'building' | 'ready';
  createdAt: string;
  updatedAt: string;
};

type Row = {
  name: string;
  kind: VersionRow['kind'];
  projections: string[];
  as_of: string | null;
  c: string;
  p: string;
  events_applied: string | number;
  last_occurred_at: string | Date | null;
  status: VersionRow['status'];
  created_at: string | Date;
  updated_at: string | Date;
};

const toVersion = (r: Row): VersionRow => ({
  name: r.name,
  kind: r.kind,
  projections: r.projections,
  asOf: r.as_of,
  position: { commit: BigInt(r.c), prepare: BigInt(r.p) },
  eventsApplied: Number(r.events_applied),
  ...(r.last_occurred_at ? { lastOccurredAt: iso(r.last_occurred_at) } : {}),
  status: r.status,
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});

const VERSION_COLUMNS = `name, kind, projections, as_of, commit_position::text AS c, prepare_position::text AS p, events_applied, last_occurred_at, status, created_at, updated_at`;

export const migrateVersions = (db: Database) => migrate(db, 'hcp_read_model_versions', VERSIONS_SCHEMA);

export const listVersions = async (db: Sql): Promise<VersionRow[]> =>
  (await db.query<Row>(`SELECT ${VERSION_COLUMNS} FROM hcp_read_model_versions ORDER BY created_at, name`)).map(toVersion);

export const findVersion = async (db: Sql, name: string): Promise<VersionRow | undefined> => {
  const [row] = await db.query<Row>(`SELECT ${VERSION_COLUMNS} FROM hcp_read_model_versions WHERE name = $1`, [name]);
  return row && toVersion(row);
};

/** Creates the version's schema and its projections' tables (empty), and registers it. */
const createVersion = async (db: Database, name: string, kind: VersionRow['kind'], projections: readonly Projection[], asOf: string | null) => {
  await migrateVersions(db);
  const live = await liveSchemaOf(db);
  if (await findVersion(db, name)) throw new VersionError(`a version named ${name} exists already (hcp projections list; hcp projections drop ${name})`);
  await db.query(`DROP SCHEMA IF EXISTS ${ident(name)} CASCADE`); // left by a build that died before registering
  await db.query(`CREATE SCHEMA ${ident(name)}`);
  await inSchema(db, name, live, async (tx) => {
    for (const p of projections) for (const statement of splitStatements(p.schema)) await tx.query(statement);
  });
  await db.query(
    `INSERT INTO hcp_read_model_versions (name, kind, projections, as_of, commit_position, prepare_position, status) VALUES ($1, $2, $3, $4, $5, $6, 'building')`,
    [name, kind, projections.map((p) => p.name), asOf, START.commit.toString(), START.prepare.toString()],
  );
  return live;
};

export type BuildOptions = {
  /**
   * Events per transaction. Larger batches touch each row fewer times (a workload's dozen events
   * fall in one batch more often) and make fewer round trips; on embedded PGlite a batch holds the
   * API's only thread, so it stays small there.
   */
  batchSize?: number;
  /**
   * Projections applied at once, each in its own transaction on its own connection (a server
   * only): while PostgreSQL writes one projection's rows, this process computes the next one's.
   * Two keep both cores of a small machine busy (three were no faster there).
   */
  parallel?: number;
  onProgress?: (applied: number, at: GlobalPosition) => void;
  /** Stops the build between batches (a platform stopping); it throws, and a rebuild cleans up. */
  signal?: AbortSignal;
};

/**
 * A build in the API's own process (the platform's rebuild of a changed definition): small
 * batches, one projection at a time, so the build never holds the event loop for long (on the
 * million-event bench a reader in the same process saw a p99 of 45 ms, against 188 ms with the
 * defaults, which a reader in another process does not feel: 21 ms).
 */
export const gentleBuild = (db: Pick<Database, 'kind'>): BuildOptions => ({ batchSize: db.kind === 'pg' ? 4000 : 1000, parallel: 1 });

/**
 * Where each projection of a version stands, in the version's own schema: a batch's projections
 * commit separately (BuildOptions.parallel), so after a crash each one goes on from its own
 * position and never applies an event twice. The version's row holds the position every one of
 * them has reached.
 */
const PROGRESS = 'hcp_version_progress';

const readProgress = async (db: Database, version: VersionRow, projections: readonly Projection[]) => {
  const at = ident(version.name);
  await db.query(`CREATE TABLE IF NOT EXISTS ${at}.${PROGRESS} (projection text PRIMARY KEY, commit_position bigint NOT NULL, prepare_position bigint NOT NULL)`);
  // a version begun before progress was kept per projection: each stands where the version does
  await db.query(
    `INSERT INTO ${at}.${PROGRESS} (projection, commit_position, prepare_position) SELECT unnest($1::text[]), $2, $3 ON CONFLICT DO NOTHING`,
    [projections.map((p) => p.name), version.position.commit.toString(), version.position.prepare.toString()],
  );
  const rows = await db.query<{ projection: string; c: string; p: string }>(`SELECT projection, commit_position::text AS c, prepare_position::text AS p FROM ${at}.${PROGRESS}`);
  return new Map(rows.map((r) => [r.projection, { commit: BigInt(r.c), prepare: BigInt(r.p) }]));
};

/** Runs `work` for every item, at most `limit` at a time, in the items' order; rejects with the first failure once all have settled. */
const eachLimited = async <T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) => {
  let next = 0;
  const failures: unknown[] = [];
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item).catch((error: unknown) => void failures.push(error));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) throw failures[0];
};

/**
 * Applies the events after the version's position up to `until` (inclusive; or, for a moment, the
 * prefix that occurred by it; or the store's end), a batch at a time: each projection's share in
 * a transaction with its progress, then the version's position. Returns the position reached.
 */
const buildVersion = async (
  db: Database,
  store: EventStore,
  version: VersionRow,
  live: string,
  projections: readonly Projection[],
  until: AsOf | 'end',
  { batchSize = db.kind === 'pg' ? 20_000 : 1000, parallel = db.kind === 'pg' ? 2 : 1, onProgress, signal }: BuildOptions = {},
) => {
  let at = version.position;
  let applied = version.eventsApplied;
  const progress = await readProgress(db, version, projections);
  // the next page is read while this one is applied
  for await (const page of pagesAhead<RecordedEvent>((last) => store.readAll({ after: last?.position ?? at, maxCount: batchSize }), batchSize)) {
    if (signal?.aborted) throw new VersionError(`${version.name}: stopped`);
    const stop = page.findIndex((e) => (until === 'end' ? false : until.kind === 'position' ? comparePositions(e.position, until.position) > 0 : Date.parse(e.metadata.occurredAt) > until.ms));
    const batch: RecordedEvent[] = stop < 0 ? page : page.slice(0, stop);
    if (batch.length > 0) {
      const last = batch.at(-1)!.position;
      await eachLimited(projections, parallel, (p) =>
        inSchema(db, version.name, live, async (tx) => {
          const held = progress.get(p.name)!;
          await applyOwn(tx, p, comparePositions(held, batch[0]!.position) < 0 ? batch : batch.filter((e) => comparePositions(e.position, held) > 0));
          await tx.query(`UPDATE ${ident(version.name)}.${PROGRESS} SET commit_position = $2, prepare_position = $3 WHERE projection = $1`, [p.name, last.commit.toString(), last.prepare.toString()]);
        }).then(() => void progress.set(p.name, last)),
      );
      await db.query(
        `UPDATE hcp_read_model_versions
            SET commit_position = $2, prepare_position = $3, events_applied = events_applied + $4, last_occurred_at = $5, updated_at = now() WHERE name = $1`,
        [version.name, last.commit.toString(), last.prepare.toString(), batch.length, batch.at(-1)!.metadata.occurredAt],
      );
      at = last;
      applied += batch.length;
      onProgress?.(applied, at);
      // embedded PGlite answers on this thread without yielding: let the server's requests in between batches
      await new Promise((r) => setImmediate(r));
    }
    if (stop >= 0) break;
  }
  if (signal?.aborted) throw new VersionError(`${version.name}: stopped`);
  return at;
};

const projectionsNamed = (all: readonly Projection[], names: readonly string[]) => all.filter((p) => names.includes(p.name));

/** How long a rebuild waits for live checkpoints that stand still behind it before it assumes no runner is live. */
const STALLED_MS = 2_000;

/**
 * Builds `projections` again beside the live read models and swaps them in when caught up; the
 * live ones answer queries and follow the events all along. Returns the events applied.
 *
 * The swap happens only when every live checkpoint stands exactly where the version does: the
 * runner has then applied, and told the change feed about, every event the version holds, so a
 * subscriber misses nothing. A version ahead of the live models waits for them; live models ahead
 * of the version make it build further. Live checkpoints that stand still behind it for
 * STALLED_MS mean no runner follows them (the platform is stopped): the version is swapped in at
 * its own position, and the runner, when it starts, goes on from there.
 */
export const rebuildBeside = async (
  db: Database,
  store: EventStore,
  projections: readonly Projection[],
  options: BuildOptions & { name?: string; stalledMs?: number; /** How long the swap's transaction took (bench:rebuild). */ onSwap?: (ms: number) => void } = {},
) => {
  const name = checkVersionName(options.name ?? `hcp_build_${projections.length === 1 ? projections[0]!.name : 'all'}_${Date.now().toString(36)}`);
  const live = await createVersion(db, name, 'rebuild', projections, null);
  const retired = `${name}_old`;
  try {
    await db.query(`CREATE SCHEMA IF NOT EXISTS ${ident(retired)}`);
    let version = (await findVersion(db, name))!;
    let until: AsOf | 'end' = 'end';
    let stalled: { at: string; since: number } | undefined;
    for (let attempt = 1; attempt <= 1000; attempt++) {
      // 1. catch up: with the end of the log as it was, then with wherever the live models went
      await buildVersion(db, store, version, live, projections, until, options);
      version = (await findVersion(db, name))!;
      // 2. swap, if the live read models stand where the version does
      const swapStarted = performance.now();
      const outcome = await db.transaction(async (tx) => {
        // the checkpoints first, in the runner's order: it waits here, and never holds a table we need
        const now: GlobalPosition[] = [];
        for (const p of projections) now.push(await lockCheckpoint(tx, p.name));
        const ahead = now.filter((c) => comparePositions(c, version.position) > 0);
        if (ahead.length > 0) return { type: 'behind' as const, furthest: ahead.reduce((a, b) => (comparePositions(a, b) >= 0 ? a : b)) };
        const at = now.map(encodePosition).join(',');
        const level = now.every((c) => comparePositions(c, version.position) === 0);
        if (!level) {
          if (stalled?.at !== at) stalled = { at, since: Date.now() };
          if (Date.now() - stalled.since < (options.stalledMs ?? STALLED_MS)) return { type: 'ahead' as const };
        }
        // catalog changes only: the old tables are moved out and dropped after the commit, so
        // queries wait for renames, not for a large table's files to be unlinked
        // one statement for every table, not two round trips per table, while readers wait on the locks
        const moves = projections.flatMap((p) =>
          p.tables.flatMap((table) => [`ALTER TABLE IF EXISTS ${ident(live)}.${ident(table)} SET SCHEMA ${ident(retired)};`, `ALTER TABLE ${ident(name)}.${ident(table)} SET SCHEMA ${ident(live)};`]),
        );
        await tx.query(`DO $swap$ BEGIN ${moves.join(' ')} END $swap$`);
        // built by today's definitions: the checkpoints say so (projections/definitions.ts)
        await tx.query(
          `UPDATE hcp_checkpoints c SET commit_position = $2, prepare_position = $3, events_applied = $4, definition_version = d.version
             FROM unnest($1::text[], $5::int[]) AS d(name, version) WHERE c.projection = d.name`,
          [projections.map((p) => p.name), version.position.commit.toString(), version.position.prepare.toString(), version.eventsApplied, projections.map(definitionVersion)],
        );
        await tx.query(`DELETE FROM hcp_read_model_versions WHERE name = $1`, [name]);
        return { type: 'swapped' as const };
      });
      if (outcome.type === 'swapped') {
        options.onSwap?.(performance.now() - swapStarted);
        return version.eventsApplied;
      }
      if (outcome.type === 'behind') until = { kind: 'position', position: outcome.furthest };
      else {
        until = { kind: 'position', position: version.position };
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    throw new VersionError(`${name}: the live read models kept moving ahead of the rebuild; try again`);
  } finally {
    await db.query(`DROP SCHEMA IF EXISTS ${ident(retired)} CASCADE`);
    await db.query(`DROP SCHEMA IF EXISTS ${ident(name)} CASCADE`);
    await db.query(`DELETE FROM hcp_read_model_versions WHERE name = $1`, [name]).catch(() => {});
  }
};

/** Builds `projections` as of a position or a moment into a version kept under its name. */
export const rebuildAsOf = async (db: Database, store: EventStore, projections: readonly Projection[], asOf: AsOf, options: BuildOptions & { name?: string } = {}): Promise<VersionRow> => {
  const name = checkVersionName(options.name ?? asOfVersionName(asOf));
  const live = await createVersion(db, name, 'as-of', projections, describeAsOf(asOf));
  await buildVersion(db, store, (await findVersion(db, name))!, live, projections, asOf, options);
  await db.query(`UPDATE hcp_read_model_versions SET status = 'ready', updated_at = now() WHERE name = $1`, [name]);
  return (await findVersion(db, name))!;
};

/** Finishes an as-of version a build left half done (a crash, a stop), from where it stopped. */
export const resumeAsOf = async (db: Database, store: EventStore, all: readonly Projection[], name: string, options: BuildOptions = {}) => {
  const version = await findVersion(db, name);
  if (!version || version.kind !== 'as-of' || !version.asOf) throw new VersionError(`no as-of version named ${name}`);
  if (version.status === 'ready') return version;
  await buildVersion(db, store, version, await liveSchemaOf(db), projectionsNamed(all, version.projections), parseAsOf(version.asOf), options);
  await db.query(`UPDATE hcp_read_model_versions SET status = 'ready', updated_at = now() WHERE name = $1`, [name]);
  return (await findVersion(db, name))!;
};

export const dropVersion = async (db: Database, name: string) => {
  checkVersionName(name);
  const known = await findVersion(db, name);
  if (!known) throw new VersionError(`no version named ${name} (hcp projections list shows them)`);
  await db.query(`DROP SCHEMA IF EXISTS ${ident(name)} CASCADE`);
  await db.query(`DELETE FROM hcp_read_model_versions WHERE name = $1`, [name]);
};

/** Rows of a table in a schema, each as JSON, ordered by its primary key (or by every column). */
export const tableRows = async (db: Sql, schema: string, table: string): Promise<Record<string, unknown>[]> => {
  const key = await db.query<{ attname: string }>(
    `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [`${ident(schema)}.${ident(table)}`],
  );
  const order = key.length > 0 ? key.map((k) => ident(k.attname)).join(', ') : 'to_jsonb(t)::text';
  return (await db.query<{ r: Record<string, unknown> }>(`SELECT to_jsonb(t) AS r FROM ${ident(schema)}.${ident(table)} t ORDER BY ${order}`)).map((x) => x.r);
};
