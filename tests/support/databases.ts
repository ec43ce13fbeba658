/**
 * Databases for tests: the real PostgreSQL server when TEST_DATABASE_URL is set
 * (CI), each test file in a schema of its own; embedded PGlite otherwise.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPgDatabase, createPgliteDatabase, type Database } from '../../infra/postgres/database.ts';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;

export type TestDatabase = Database & { readonly label: string; drop(): Promise<void> };

export const pgServerDatabase = async (url: string): Promise<TestDatabase> => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const db = await createPgDatabase({ connectionString: url, schema, maxConnections: 20 });
  return {
    ...db,
    label: 'postgres-server',
    async drop() {
      await db.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => c.end());
    },
  };
};

// Starting PGlite takes about a second, so a test file shares one instance and each
// test database is a fresh schema in it (PGlite is one connection: tests in a file run one at a time).
let sharedPglite: Promise<Database> | undefined;

export const pgliteDatabase = async (): Promise<TestDatabase> => {
  sharedPglite ??= createPgliteDatabase();
  const db = await sharedPglite;
  const schema = `t_${randomBytes(6).toString('hex')}`;
  await db.exec(`CREATE SCHEMA ${schema}; SET search_path TO ${schema}`);
  return {
    ...db,
    label: 'pglite',
    async close() {},
    drop: () => db.exec(`SET search_path TO public; DROP SCHEMA ${schema} CASCADE`),
  };
};

/** Every PostgreSQL backend available here: PGlite always, the server when configured. */
export const postgresBackends = (): Array<{ label: string; open: () => Promise<TestDatabase> }> => [
  { label: 'pglite', open: pgliteDatabase },
  ...(TEST_DATABASE_URL ? [{ label: 'postgres-server', open: () => pgServerDatabase(TEST_DATABASE_URL) }] : []),
];
