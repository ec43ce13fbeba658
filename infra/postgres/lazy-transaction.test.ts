/**
 * A lazy transaction on both databases: without a read it begins nothing (its last statement runs
 * on its own), with one the reads see the transaction's own writes, the commit makes them
 * visible, and a rollback undoes them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL } from '../../tests/support/databases.ts';
import { createPgDatabase, createPgliteDatabase, type Database } from './database.ts';
import { lazyTransaction } from './lazy-transaction.ts';

const backends: Array<[string, () => Promise<Database>]> = [
  ['PGlite', () => createPgliteDatabase()],
  ...(TEST_DATABASE_URL ? [['PostgreSQL', () => createPgDatabase({ connectionString: TEST_DATABASE_URL!, schema: 'hcp_lazy_tx_test' })] as [string, () => Promise<Database>]] : []),
];

describe.each(backends)('a lazy transaction on %s', (_, open) => {
  let db: Database;
  const count = async () => Number((await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM lazy_t`))[0]!.n);
  /** The database, counting the transactions begun on it. */
  const counted = () => {
    const seen = { begun: 0 };
    const wrapped: Database = { ...db, transaction: (fn) => (seen.begun++, db.transaction(fn)) };
    return { wrapped, seen };
  };
  beforeAll(async () => {
    db = await open();
    await db.exec(`DROP TABLE IF EXISTS lazy_t; CREATE TABLE lazy_t (v int)`);
  });
  afterAll(async () => {
    await db.exec(`DROP TABLE IF EXISTS lazy_t`);
    if (db.kind === 'pg') await db.exec(`DROP SCHEMA IF EXISTS hcp_lazy_tx_test CASCADE`);
    await db.close();
  });

  it('runs its last statement on its own when nothing began it', async () => {
    const before = await count();
    const { wrapped, seen } = counted();
    await lazyTransaction(wrapped).commit((sql) => sql.query(`INSERT INTO lazy_t VALUES (1)`));
    expect(seen.begun).toBe(0);
    expect(await count()).toBe(before + 1);
  });

  it('begins at the first read: its reads see its writes, the commit shows them, one begun once', async () => {
    const before = await count();
    const { wrapped, seen } = counted();
    const txn = lazyTransaction(wrapped);
    const sql = await txn.sql();
    expect(await txn.sql()).toBe(sql);
    expect(seen.begun).toBe(1);
    await sql.query(`INSERT INTO lazy_t VALUES (2)`);
    expect(Number((await sql.query<{ n: string }>(`SELECT count(*)::text AS n FROM lazy_t`))[0]!.n)).toBe(before + 1);
    if (db.kind === 'pg') expect(await count()).toBe(before);
    await txn.commit((s) => s.query(`INSERT INTO lazy_t VALUES (3)`));
    expect(await count()).toBe(before + 2);
  });

  it('rolls back what a begun transaction wrote, and a failed last statement too', async () => {
    const before = await count();
    const txn = lazyTransaction(db);
    await (await txn.sql()).query(`INSERT INTO lazy_t VALUES (4)`);
    await txn.rollback();
    expect(await count()).toBe(before);
    const failing = lazyTransaction(db);
    await (await failing.sql()).query(`INSERT INTO lazy_t VALUES (5)`);
    await expect(failing.commit((s) => s.query(`SELECT 1 / 0`))).rejects.toThrow(/division by zero/);
    await failing.rollback();
    expect(await count()).toBe(before);
  });
});
