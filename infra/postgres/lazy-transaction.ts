/**
 * A transaction begun only when something needs one. Most projection batches read nothing and
 * end in one statement (projections/checkpoints.ts writeBatch), which is atomic on its own: for
 * them BEGIN and COMMIT were two of three round trips. A batch that reads begins the transaction
 * at its first read, and its last statement and commit run inside it.
 */
import type { Database, Sql } from './database.ts';

export type LazyTransaction = {
  /** The transaction, begun on the first call. */
  sql(): Promise<Sql>;
  /** Runs `last` and commits the transaction if one was begun; otherwise `last` runs on its own. */
  commit<T>(last: (sql: Sql) => Promise<T>): Promise<T>;
  /** Rolls back a begun transaction (nothing when none was); never throws. */
  rollback(): Promise<void>;
};

type Outcome = 'commit' | 'rollback';
const ROLLED_BACK = Symbol('rolled back');

export const lazyTransaction = (db: Database): LazyTransaction => {
  let begun: { sql: Promise<Sql>; end: (outcome: Outcome) => Promise<void> } | undefined;

  const begin = () => {
    let decide!: (outcome: Outcome) => void;
    const outcome = new Promise<Outcome>((resolve) => (decide = resolve));
    let opened!: (sql: Sql) => void;
    let failed!: (error: unknown) => void;
    const sql = new Promise<Sql>((resolve, reject) => ((opened = resolve), (failed = reject)));
    // db.transaction commits when its function resolves: the function waits for the caller's word
    const ended = db.transaction(async (tx) => {
      opened(tx);
      if ((await outcome) === 'rollback') throw ROLLED_BACK;
    });
    // a transaction that could not begin fails its first read; one that ends in error, its commit
    ended.catch(failed);
    return {
      sql,
      end: async (o: Outcome) => {
        decide(o);
        await ended.catch((error: unknown) => {
          if (error !== ROLLED_BACK) throw error;
        });
      },
    };
  };

  return {
    sql: () => (begun ??= begin()).sql,
    async commit(last) {
      if (!begun) return last(db);
      const result = await last(await begun.sql);
      await begun.end('commit');
      return result;
    },
    async rollback() {
      await begun?.end('rollback').catch(() => {});
    },
  };
};
