/**
 * `hcp projections rebuild|list|drop` and `hcp export`: an analyst's read models, rebuilt beside
 * the live ones (or as of a moment, kept under a name), listed with their position, lag and size,
 * dropped, and written out as CSV or JSON Lines.
 */
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import type { EventStore } from '../infra/event-store/types.ts';
import { encodePosition, type GlobalPosition } from '../infra/event-store/position.ts';
import type { Database, Sql } from '../infra/postgres/database.ts';
import { readCheckpoint } from '../projections/checkpoints.ts';
import type { Projection } from '../projections/projection.ts';
import {
  asOfTarget,
  asOfVersionName,
  checkVersionName,
  dropVersion,
  findVersion,
  listVersions,
  liveSchemaOf,
  migrateVersions,
  parseAsOf,
  rebuildAsOf,
  rebuildBeside,
  resumeAsOf,
  VersionError,
} from '../projections/versions.ts';

export const PROJECTIONS_USAGE = (names: readonly string[]) => `usage:
  hcp projections rebuild <name|all> [--as-of POSITION|ISO-TIME] [--name hcp_asof_…]
                                       rebuild beside the live read models and swap when caught up; with --as-of,
                                       build as of that moment into a version kept for analysis (${names.join(', ')})
  hcp projections list                 the live read models and every version: position, lag, size
  hcp projections drop <version>       drop a version (hcp_asof_… or a stuck hcp_build_…)
  hcp export <table> [--as-of VERSION|POSITION|ISO-TIME] [--format csv|jsonl] [--out FILE]
                                       a read-model table (workloads, billing_lines, … or rm_workloads) as CSV or JSON Lines`;

/** A usage mistake, named; exit code 2. */
export class ProjectionsUsageError extends Error {}

type Context = { db: Database; store: EventStore; projections: readonly Projection[]; out: (text: string) => Promise<void> };

const flags = <R>(parse: () => R): R => {
  try {
    return parse();
  } catch (error) {
    throw new ProjectionsUsageError((error as Error).message);
  }
};

const progressLine = (label: string) => {
  let last = 0;
  return (applied: number, at: GlobalPosition) => {
    if (applied - last < 50_000) return;
    last = applied;
    process.stderr.write(`… ${label}: ${applied} events (at ${encodePosition(at)})\n`);
  };
};

/** Checks the arguments first; returns what runs against the databases. */
export const projectionsCommand = (sub: string | undefined, argv: readonly string[], all: readonly Projection[]): ((ctx: Context) => Promise<void>) => {
  const usage = (message: string) => new ProjectionsUsageError(`${message}\n${PROJECTIONS_USAGE(all.map((p) => p.name))}`);
  if (sub === 'rebuild') {
    const { values, positionals } = flags(() => parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: { 'as-of': { type: 'string' }, name: { type: 'string' } } }));
    const [name, ...extra] = positionals;
    const targets = name === 'all' ? all : all.filter((p) => p.name === name);
    if (targets.length === 0 || extra.length > 0) throw usage(`unknown projection ${JSON.stringify(name ?? '')}`);
    const asOf = values['as-of'] === undefined ? undefined : flags(() => parseAsOf(values['as-of']!));
    const versionName = values.name === undefined ? undefined : flags(() => checkVersionName(values.name!));
    if (versionName && !asOf) throw usage('--name: only a version built --as-of a moment is kept under a name');
    return async ({ db, store, out }) => {
      await migrateVersions(db);
      const started = Date.now();
      if (asOf) {
        const named = versionName ?? asOfVersionName(asOf);
        const existing = await findVersion(db, named);
        const version = existing?.status === 'building' ? await resumeAsOf(db, store, all, named, { onProgress: progressLine(named) }) : await rebuildAsOf(db, store, targets, asOf, { name: named, onProgress: progressLine(named) });
        await out(`built ${version.name} (${version.projections.join(', ')}) as of ${version.asOf}: ${version.eventsApplied} events, up to position ${encodePosition(version.position)}, in ${Date.now() - started} ms\n`);
        return;
      }
      const applied = await rebuildBeside(db, store, targets, { onProgress: progressLine(name!) });
      await out(`rebuilt ${targets.map((p) => p.name).join(', ')} beside the live read models and swapped: ${applied} events in ${Date.now() - started} ms\n`);
    };
  }
  if (sub === 'list') {
    flags(() => parseArgs({ args: [...argv], strict: true, options: {} }));
    return async ({ db, store, projections, out }) => {
      await migrateVersions(db);
      const live = await liveSchemaOf(db);
      const lines = ['read model     position          lag (events)  size', ...(await Promise.all(projections.map(async (p) => {
        const at = await readCheckpoint(db, p.name);
        return `${p.name.padEnd(14)} ${encodePosition(at).padEnd(17)} ${(await lagAfter(store, at)).padEnd(13)} ${formatBytes(await sizeOf(db, live, p.tables))}`;
      })))];
      const versions = await listVersions(db);
      lines.push('', versions.length === 0 ? 'no versions (hcp projections rebuild <name|all> --as-of …)' : 'version                                 kind     as of                      position          events    status    size');
      for (const v of versions) {
        const tables = projections.filter((p) => v.projections.includes(p.name)).flatMap((p) => p.tables);
        lines.push(`${v.name.padEnd(39)} ${v.kind.padEnd(8)} ${(v.asOf ?? '—').padEnd(26)} ${encodePosition(v.position).padEnd(17)} ${String(v.eventsApplied).padEnd(9)} ${v.status.padEnd(9)} ${formatBytes(await sizeOf(db, v.name, tables))}`);
      }
      await out(`${lines.join('\n')}\n`);
    };
  }
  if (sub === 'drop') {
    const { positionals } = flags(() => parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: {} }));
    if (positionals.length !== 1) throw usage('drop: expected one version name');
    const name = flags(() => checkVersionName(positionals[0]!));
    return async ({ db, out }) => {
      await migrateVersions(db);
      await dropVersion(db, name);
      await out(`dropped ${name}\n`);
    };
  }
  throw usage(`projections: expected rebuild, list or drop`);
};

/** Events after a position, counted up to a bound (a read model far behind says so, without reading the whole log). */
const LAG_BOUND = 100_000;
const lagAfter = async (store: EventStore, at: GlobalPosition) => {
  let count = 0;
  let after = at;
  while (count < LAG_BOUND) {
    const page = await store.readAll({ after, maxCount: 10_000 });
    count += page.length;
    if (page.length < 10_000) return String(count);
    after = page.at(-1)!.position;
  }
  return `> ${LAG_BOUND}`;
};

const sizeOf = async (db: Sql, schema: string, tables: readonly string[]) => {
  const [row] = await db.query<{ bytes: string | null }>(
    `SELECT sum(pg_total_relation_size(c.oid))::text AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = ANY ($2)`,
    [schema, tables],
  );
  return Number(row?.bytes ?? 0);
};

const formatBytes = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`);

const csvCell = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  const text = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

/** `hcp export`: checks the arguments, then streams the table out a thousand rows at a time. */
export const exportCommand = (argv: readonly string[], all: readonly Projection[]): ((ctx: Context) => Promise<void>) => {
  const tables = all.flatMap((p) => p.tables);
  const { values, positionals } = flags(() =>
    parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: { 'as-of': { type: 'string' }, format: { type: 'string' }, out: { type: 'string' } } }),
  );
  const usage = (message: string) => new ProjectionsUsageError(`${message}\n${PROJECTIONS_USAGE(all.map((p) => p.name))}`);
  if (positionals.length !== 1) throw usage('export: expected one table');
  const table = positionals[0]!.startsWith('rm_') ? positionals[0]! : `rm_${positionals[0]}`;
  if (!tables.includes(table)) throw usage(`export: unknown table ${JSON.stringify(positionals[0])}; one of ${tables.map((t) => t.slice(3)).join(', ')}`);
  const format = values.format ?? 'csv';
  if (format !== 'csv' && format !== 'jsonl') throw usage(`--format: expected csv or jsonl, got ${JSON.stringify(format)}`);
  const asOfText = values['as-of'];
  const target = asOfText === undefined ? undefined : flags(() => asOfTarget(asOfText));
  return async ({ db, store, out }) => {
    await migrateVersions(db);
    let schema = await liveSchemaOf(db);
    if (target) {
      const { name, asOf } = target;
      let version = await findVersion(db, name);
      if (!version && !asOf) throw new VersionError(`no version named ${name} (hcp projections list)`);
      // a moment not built yet: build every read model as of it, and keep it for the next export
      version ??= await rebuildAsOf(db, store, all, asOf!, { name, onProgress: progressLine(name) });
      if (version.status !== 'ready') version = await resumeAsOf(db, store, all, name);
      if (!version.projections.some((p) => all.find((x) => x.name === p)?.tables.includes(table))) throw new VersionError(`${name} holds no ${table}`);
      schema = name;
    }
    const file = values.out === undefined ? undefined : createWriteStream(values.out);
    const write = file ? (text: string) => new Promise<void>((resolve, reject) => (file.write(text) ? resolve() : file.once('drain', resolve).once('error', reject))) : out;
    let rows = 0;
    const columns = (
      await db.query<{ column_name: string }>(`SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, [schema, table])
    ).map((c) => c.column_name);
    if (format === 'csv') await write(`${columns.join(',')}\n`);
    await db.transaction(async (tx) => {
      await tx.query(`SET TRANSACTION READ ONLY`);
      await tx.query(`DECLARE hcp_export NO SCROLL CURSOR FOR SELECT to_jsonb(t) AS r FROM "${schema}"."${table}" t`);
      for (;;) {
        const page = await tx.query<{ r: Record<string, unknown> }>(`FETCH 1000 FROM hcp_export`);
        if (page.length === 0) break;
        let text = '';
        for (const { r } of page) {
          text += format === 'jsonl' ? `${JSON.stringify(r)}\n` : `${columns.map((c) => csvCell(r[c])).join(',')}\n`;
        }
        rows += page.length;
        await write(text);
      }
    });
    if (file) await new Promise<void>((resolve, reject) => file.end((error?: Error | null) => (error ? reject(error) : resolve())));
    process.stderr.write(`${rows} row(s) of ${table}${schema.startsWith('hcp_asof_') ? ` as of ${schema}` : ''}${values.out ? ` written to ${values.out}` : ''}\n`);
  };
};

