/**
 * The two PostgreSQL backends of the platform: embedded PGlite in memory, and the real
 * server in a fresh schema of its own, dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPgDatabase, createPgliteDatabase, type Database } from '../../infra/postgres/database.ts';

export type BackendName = 'pglite' | 'postgres';

export type OpenBackend = {
  name: BackendName;
  label: string;
  db: Database;
  /** Drops what the bench created and closes the database. Idempotent. */
  dispose(): Promise<void>;
};

export const serverUrl = () => process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Whether the server answers, and if not why (the bench then reports it and skips it). */
export const probeServer = async (url: string): Promise<string | undefined> => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
};

export const openPglite = async (): Promise<OpenBackend> => {
  const db = await createPgliteDatabase();
  let disposed = false;
  return {
    name: 'pglite',
    label: 'PGlite (embedded, in memory)',
    db,
    async dispose() {
      if (disposed) return;
      disposed = true;
      await db.close();
    },
  };
};

export const openServer = async (url: string, prefix: string, settings?: Readonly<Record<string, string>>): Promise<OpenBackend> => {
  const schema = `${prefix}_${randomBytes(4).toString('hex')}`;
  const db = await createPgDatabase({ connectionString: url, schema, maxConnections: 20, settings });
  let disposed = false;
  return {
    name: 'postgres',
    label: `PostgreSQL server (schema ${schema})`,
    db,
    async dispose() {
      if (disposed) return;
      disposed = true;
      // another connection drops the schema: the pool's may still be finishing their work
      await db.close().catch(() => {});
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
};

/** Why a backend cannot be measured here (the server does not answer), or undefined when it can. */
export const unavailable = (name: BackendName): Promise<string | undefined> => (name === 'postgres' ? probeServer(serverUrl()) : Promise.resolve(undefined));

/** A fresh database on a backend: a schema of its own on the server (named from `prefix`), or PGlite in memory. */
export const openBackend = (name: BackendName, prefix: string, settings?: Readonly<Record<string, string>>): Promise<OpenBackend> =>
  name === 'postgres' ? openServer(serverUrl(), prefix, settings) : openPglite();
