/**
 * A server database's connections: settings for every one (a simulation's commits without the
 * WAL flush), applied to the pool's and to a session's, each beside the schema's search path (a
 * name or value that could carry more than one setting is refused); and a connection kept after
 * an error the server answered on it, replaced after one it ended.
 */
import { describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL } from '../../tests/support/databases.ts';
import { createPgDatabase } from './database.ts';

describe.skipIf(!TEST_DATABASE_URL)('a server database with settings', () => {
  it('applies them to every connection, beside its schema', async () => {
    const db = await createPgDatabase({ connectionString: TEST_DATABASE_URL!, schema: 'hcp_settings_test', settings: { synchronous_commit: 'off' } });
    try {
      const [pooled] = await db.query<{ synchronous_commit: string }>(`SHOW synchronous_commit`);
      expect(pooled!.synchronous_commit).toBe('off');
      const [path] = await db.query<{ search_path: string }>(`SHOW search_path`);
      expect(path!.search_path).toBe('hcp_settings_test');
      const session = await db.session!();
      const [own] = await session.query<{ synchronous_commit: string }>(`SHOW synchronous_commit`);
      expect(own!.synchronous_commit).toBe('off');
      await session.close();
    } finally {
      await db.exec(`DROP SCHEMA IF EXISTS hcp_settings_test CASCADE`);
      await db.close();
    }
    const plain = await createPgDatabase({ connectionString: TEST_DATABASE_URL! });
    const [flushed] = await plain.query<{ synchronous_commit: string }>(`SHOW synchronous_commit`);
    expect(flushed!.synchronous_commit).toBe('on');
    await plain.close();
  });

  it('keeps a connection after an error the server answered on it, and replaces one it ended', async () => {
    const db = await createPgDatabase({ connectionString: TEST_DATABASE_URL!, maxConnections: 1 });
    try {
      const pid = async () => (await db.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid`))[0]!.pid;
      const first = await pid();
      // a refused statement (as a refused append is): the same server process answers next
      await expect(db.query(`SELECT 1 / 0`)).rejects.toThrow(/division by zero/);
      expect(await pid()).toBe(first);
      // ended by the server: a statement may fail with it (unless the pool heard first), and then
      // the pool has a new connection, not the dead one
      const other = await createPgDatabase({ connectionString: TEST_DATABASE_URL! });
      await other.query(`SELECT pg_terminate_backend($1)`, [first]);
      await other.close();
      await db.query(`SELECT 1`).catch(() => undefined);
      expect(await pid()).not.toBe(first);
    } finally {
      await db.close();
    }
  });

  it('refuses a setting that could smuggle in another', async () => {
    await expect(createPgDatabase({ connectionString: TEST_DATABASE_URL!, settings: { synchronous_commit: 'off -c fsync=off' } })).rejects.toThrow(/invalid setting/);
    await expect(createPgDatabase({ connectionString: TEST_DATABASE_URL!, settings: { 'a b': 'on' } })).rejects.toThrow(/invalid setting/);
  });
});
