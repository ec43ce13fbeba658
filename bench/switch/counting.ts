/**
 * A database wrapper that counts what the platform asks of it: statements by name (the
 * prepared-statement name, or the start of the SQL), rows returned, time spent, and
 * transactions. Behaves exactly like the database it wraps.
 */
import type { Database, Sql, SqlQuery } from '../../infra/postgres/database.ts';

export type StatementCount = { calls: number; rows: number; empty: number; ms: number };
export type Counts = { statements: Map<string, StatementCount>; transactions: number };

const nameOf = (q: string | SqlQuery) => {
  if (typeof q !== 'string' && q.name) return q.name;
  const text = (typeof q === 'string' ? q : q.text).replace(/\s+/g, ' ').trim();
  return text.length > 48 ? `${text.slice(0, 47)}…` : text;
};

export const createCounts = (): Counts => ({ statements: new Map(), transactions: 0 });

export const snapshot = (c: Counts): Counts => ({
  statements: new Map([...c.statements].map(([k, v]) => [k, { ...v }])),
  transactions: c.transactions,
});

/** What happened between two snapshots. */
export const difference = (after: Counts, before: Counts): Counts => ({
  statements: new Map(
    [...after.statements].map(([k, v]) => {
      const b = before.statements.get(k) ?? { calls: 0, rows: 0, empty: 0, ms: 0 };
      return [k, { calls: v.calls - b.calls, rows: v.rows - b.rows, empty: v.empty - b.empty, ms: v.ms - b.ms }];
    }),
  ),
  transactions: after.transactions - before.transactions,
});

/** Told of every statement as it is sent, with its parameters. */
export type StatementListener = (text: string, params: readonly unknown[] | undefined) => void;

export const countingDatabase = (db: Database, counts: Counts, onStatement?: StatementListener): Database => {
  const counted =
    (sql: Sql): Sql['query'] =>
    async (q, params) => {
      onStatement?.(typeof q === 'string' ? q : q.text, params);
      const start = performance.now();
      const rows = await sql.query(q, params);
      const key = nameOf(q);
      let c = counts.statements.get(key);
      if (!c) counts.statements.set(key, (c = { calls: 0, rows: 0, empty: 0, ms: 0 }));
      c.calls++;
      c.rows += rows.length;
      if (rows.length === 0) c.empty++;
      c.ms += performance.now() - start;
      return rows as never;
    };
  return {
    kind: db.kind,
    query: counted(db),
    transaction: (fn) => {
      counts.transactions++;
      return db.transaction((tx) => fn({ query: counted(tx) }));
    },
    exec: (script) => db.exec(script),
    close: () => db.close(),
  };
};
