/**
 * A batch's rows in memory. A projection that sees many events per row (a workload's lifecycle,
 * a customer's balance, a GPU's allocations) loads the rows its batch touches in one query per
 * table, changes them in TypeScript event by event, and writes back the changed ones in one
 * statement per table: a few round trips per batch instead of one or two per event, which is what
 * a rebuild from a million events spends its time on.
 *
 * Rows travel as JSON (`json_populate_recordset` with the table's own row type), so the table's
 * column types do the conversions and no column list is written twice. A new row must carry every
 * column (an absent one is NULL, not its default).
 */
import type { Sql } from '../infra/postgres/database.ts';

export type Row = Record<string, unknown>;

/** A bigint column's value: a string from the server, a number from PGlite, a string once added to. */
export type Int8 = string | number;

/** A timestamptz column's value: a Date as loaded, ISO text as an event gives it. */
export type Time = string | Date;

/** Adds exactly (money is integer, and may pass 2^53 micro-USD in a sum). */
export const addInt8 = (value: Int8 | null | undefined, delta: Int8 | bigint): string => (BigInt(value ?? 0) + BigInt(delta)).toString();

export type RowTable = {
  /** Unqualified: it resolves on the transaction's search path (a version's schema first). */
  name: string;
  /** The primary key's columns. */
  key: readonly string[];
};

export type TableRows<R extends Row> = {
  get(...key: unknown[]): R | undefined;
  /** Adds a row, or replaces the one with its key. */
  put(row: R): R;
  /** Marks a row as changed (a row changed in place). */
  changed(row: R): void;
  /** Sets `values` on a row and marks it changed; a row not there (undefined) is left alone. */
  change(row: R | undefined, values: Partial<R>): R | undefined;
  /** The rows added or changed since they were loaded. */
  dirty(): R[];
  readonly table: RowTable;
};

/**
 * Rows a live projection runner keeps from one batch to the next, per table, so a batch loads from
 * the database only the rows it has not seen: the live runner is the only writer of its tables,
 * and each of its batches is otherwise two round trips per table on the path of every mutation
 * that waits for the read models. The runner empties it whenever the rows could differ from the
 * database: a transaction that failed (its rows were changed in place), a
 * stored checkpoint other than the one it committed last, a new start. The oldest rows go first
 * beyond `limit` per table.
 */
export type RowCache = {
  table(name: string): Map<string, Row>;
  clear(): void;
  /** After a batch: each table back within the limit. */
  trim(): void;
};

export const createRowCache = (limit = 20_000): RowCache => {
  const tables = new Map<string, Map<string, Row>>();
  return {
    table(name) {
      let rows = tables.get(name);
      if (!rows) tables.set(name, (rows = new Map()));
      return rows;
    },
    clear() {
      tables.clear();
    },
    trim() {
      for (const rows of tables.values())
        for (const key of rows.keys()) {
          if (rows.size <= limit) break;
          rows.delete(key);
        }
    },
  };
};

/**
 * A transaction, as the live runner gives it to projections: the rows it keeps between batches,
 * and `deferWrite`, which takes a write of saveRows or insertRows (its statement, and its rows as
 * JSON for $1) to send later with the batch's others in one round trip.
 */
export type RowsSql = Sql & { readonly rowCache?: RowCache; readonly deferWrite?: (text: string, json: string) => void };

const write = async (tx: RowsSql, text: string, rows: readonly Row[]) => {
  if (tx.deferWrite) tx.deferWrite(text, JSON.stringify(rows));
  else await tx.query(text, [JSON.stringify(rows)]);
};

const keyPart = (v: unknown) => (v instanceof Date ? v.toISOString() : String(v));
const keyText = (values: readonly unknown[]) => (values.length === 1 ? keyPart(values[0]) : values.map(keyPart).join('\u001f'));

/**
 * The rows of `table` with the given keys (each the key's values, in the key's column order).
 * `created`: keys whose rows the batch itself creates (an event that opens its stream), which are
 * not looked for.
 */
export const loadRows = async <R extends Row>(tx: RowsSql, table: RowTable, keys: Iterable<readonly unknown[]>, created: Iterable<readonly unknown[]> = []): Promise<TableRows<R>> => {
  const rows = new Map<string, R>();
  const kept = tx.rowCache?.table(table.name);
  // a batch changes the same row many times (a workload's dozen events): its key is worked out once
  const keyOf = new WeakMap<Row, string>();
  const dirty = new Set<string>();
  const wanted = new Map<string, Row>();
  const opened = new Set([...created].map(keyText));
  for (const k of keys) {
    const text = keyText(k);
    if (rows.has(text) || wanted.has(text) || opened.has(text)) continue;
    const row = kept?.get(text) as R | undefined;
    if (row) {
      // used again: it goes to the back of the line for eviction
      kept!.delete(text);
      kept!.set(text, row);
      rows.set(text, row);
    } else wanted.set(text, Object.fromEntries(table.key.map((c, i) => [c, k[i]])));
  }
  const keyOfRow = (row: Row) => {
    let k = keyOf.get(row);
    if (k === undefined) keyOf.set(row, (k = keyText(table.key.map((c) => row[c]))));
    return k;
  };
  if (wanted.size > 0) {
    const columns = table.key.map((c) => `"${c}"`).join(', ');
    const found = await tx.query<R>(
      `SELECT t.* FROM ${table.name} t WHERE (${table.key.map((c) => `t."${c}"`).join(', ')}) IN (SELECT ${columns} FROM json_populate_recordset(NULL::${table.name}, $1::json))`,
      [JSON.stringify([...wanted.values()])],
    );
    for (const row of found) {
      rows.set(keyOfRow(row), row);
      kept?.set(keyOfRow(row), row);
    }
  }
  return {
    table,
    get: (...key) => rows.get(keyText(key)),
    put(row) {
      const k = keyOfRow(row);
      rows.set(k, row);
      kept?.set(k, row);
      dirty.add(k);
      return row;
    },
    changed(row) {
      dirty.add(keyOfRow(row));
    },
    change(row, values) {
      if (row) {
        Object.assign(row, values);
        dirty.add(keyOfRow(row));
      }
      return row;
    },
    dirty: () => [...dirty].map((k) => rows.get(k)!),
  };
};

/** Writes back the rows added or changed since they were loaded: one statement. */
export const saveRows = async <R extends Row>(tx: RowsSql, rows: TableRows<R>) => {
  const changed = rows.dirty();
  if (changed.length === 0) return;
  const { name, key } = rows.table;
  const columns = Object.keys(changed[0]!).filter((c) => !key.includes(c));
  await write(
    tx,
    `INSERT INTO ${name} SELECT * FROM json_populate_recordset(NULL::${name}, $1::json)
     ON CONFLICT (${key.map((c) => `"${c}"`).join(', ')}) DO UPDATE SET ${columns.map((c) => `"${c}" = excluded."${c}"`).join(', ')}`,
    changed,
  );
};

/** Inserts new rows (each with every column), skipping those whose key exists: one statement. */
export const insertRows = async (tx: RowsSql, table: string, rows: readonly Row[]) => {
  if (rows.length === 0) return;
  await write(tx, `INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1::json) ON CONFLICT DO NOTHING`, rows);
};
