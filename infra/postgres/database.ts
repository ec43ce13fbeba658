/**
 * One small SQL surface over a real PostgreSQL server (`pg`) and embedded PGlite,
 * so the event store and the read models run the same SQL on both.
 * Values of int8/xid8 are selected as text by callers and parsed with BigInt:
 * pg returns int8 as string, PGlite as number, so neither driver's choice leaks.
 */
import pg from 'pg';
import type { PGlite } from '@electric-sql/pglite';

export type SqlQuery = {
  text: string;
  /** Prepared once per connection under this name (pg); PGlite ignores it. */
  name?: string;
};

export type Sql = {
  query<R = Record<string, unknown>>(query: string | SqlQuery, params?: readonly unknown[]): Promise<R[]>;
};

export type Database = Sql & {
  readonly kind: 'pg' | 'pglite';
  /** Runs `fn` in one transaction: commit when it resolves, roll back when it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /** Runs a script of several statements (schema migrations). */
  exec(script: string): Promise<void>;
  close(): Promise<void>;
  /**
   * A connection of its own, outside the pool, for what lives as long as a session: an advisory
   * lock held by a leader, a LISTEN. Only on a PostgreSQL server (PGlite is one connection in
   * one process, where neither is needed).
   */
  session?(): Promise<Session>;
  /**
   * The same database for the API's reads, ahead of background work where they share one
   * connection (PGlite); a server's pool needs no such thing.
   */
  foreground?(): Sql;
};

/** One dedicated server connection; `ended` settles when it is lost or closed. */
export type Session = Sql & {
  /** Calls `listener` with each notification's payload on `channel` (after LISTEN). */
  listen(channel: string, listener: (payload: string) => void): Promise<void>;
  readonly ended: Promise<void>;
  close(): Promise<void>;
};

const text = (q: string | SqlQuery) => (typeof q === 'string' ? { text: q } : q);

export type PgDatabaseOptions = {
  connectionString: string;
  /** A schema of its own (created if missing), e.g. one per test file. */
  schema?: string;
  maxConnections?: number;
  /**
   * Settings for every connection, e.g. `{ synchronous_commit: 'off' }` for a simulation, which
   * resumes from its saved place after a crash and need not wait for each commit's WAL flush.
   */
  settings?: Readonly<Record<string, string>>;
};

export const createPgDatabase = async ({ connectionString, schema, maxConnections = 10, settings = {} }: PgDatabaseOptions): Promise<Database> => {
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
  for (const [name, value] of Object.entries(settings))
    if (!/^[a-z_][a-z0-9_.]{0,62}$/.test(name) || !/^[A-Za-z0-9_.:-]{1,64}$/.test(value)) throw new Error(`invalid setting ${name}=${value}`);
  const options = [...(schema ? [`-c search_path=${schema}`] : []), ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`)].join(' ');
  if (schema) {
    const setup = new pg.Client({ connectionString });
    await setup.connect();
    try {
      await setup.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    } finally {
      await setup.end();
    }
  }
  const pool = new pg.Pool({
    connectionString,
    max: maxConnections,
    ...(options ? { options } : {}),
  });
  // an idle client's error (server restart) must not crash the process
  pool.on('error', () => {});
  const run = async <R>(client: pg.Pool | pg.PoolClient | pg.Client, q: string | SqlQuery, params?: readonly unknown[]) =>
    (await client.query({ ...text(q), values: params as unknown[] })).rows as R[];
  return {
    kind: 'pg',
    async query(q, params) {
      // not pool.query: it closes the connection after any error, and a refused append (a stream
      // that moved on, a repeated id) is an error PostgreSQL answers on a connection that is fine,
      // which then cost a new connection (a server process started) each time; a connection the
      // server ended or lost (SQLSTATE classes 57 and 08) is closed
      const client = await pool.connect();
      try {
        const rows = await run<never>(client, q, params);
        client.release();
        return rows;
      } catch (error) {
        client.release(error instanceof pg.DatabaseError && !/^(08|57)/.test(error.code ?? '') ? undefined : (error as Error));
        throw error;
      }
    },
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn({ query: (q, params) => run(client, q, params) });
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async exec(script) {
      await pool.query(script);
    },
    async close() {
      await pool.end();
    },
    async session() {
      const client = new pg.Client({ connectionString, keepAlive: true, ...(options ? { options } : {}) });
      let end!: () => void;
      const ended = new Promise<void>((resolve) => (end = resolve));
      // a lost connection is reported through `ended`, never as an unhandled error
      client.on('error', end);
      client.on('end', end);
      const listeners = new Map<string, (payload: string) => void>();
      client.on('notification', (n) => listeners.get(n.channel)?.(n.payload ?? ''));
      await client.connect();
      return {
        query: (q, params) => run(client, q, params),
        async listen(channel, listener) {
          if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new Error(`invalid channel name ${channel}`);
          listeners.set(channel, listener);
          await client.query(`LISTEN ${channel}`);
        },
        ended,
        async close() {
          await client.end().catch(() => {});
          end();
        },
      };
    },
  };
};

export type PgliteDatabaseOptions = {
  /** A folder for the data; in memory when omitted. */
  dataDir?: string;
};

/**
 * Turns for PGlite's one connection: an operation (a query, a transaction) runs when the one before
 * it ends, a waiting foreground one (the API's reads) before any background one (projections,
 * process managers, ingestion), though never more than `burst` in a row while background work
 * waits. PGlite queues in arrival order on its own, so a busy background made every API read wait
 * behind all of it; now a read waits for one operation at most, and a fast simulation slows
 * itself instead of the API.
 *
 * PGlite answers on this thread in microtasks: a run of operations, each started when the one
 * before resolved, never lets the event loop read a request (catching up at start, blocks of ten
 * seconds were measured). So an operation that starts more than `yieldEveryMs` after the last
 * yield first lets the loop turn, and a background one then lets a request that came in meanwhile
 * go first.
 */
export const createTurns = (burst = 8, yieldEveryMs = 10) => {
  const waiting = { foreground: [] as Array<() => void>, background: [] as Array<() => void> };
  let busy = false;
  let inARow = 0;
  let yieldedAt = performance.now();
  const next = () => {
    const fg = waiting.foreground.length > 0 && (inARow < burst || waiting.background.length === 0);
    const wake = fg ? waiting.foreground.shift() : waiting.background.shift();
    if (!wake) return void (busy = false);
    inARow = fg ? inARow + 1 : 0;
    wake();
  };
  return async <T>(lane: 'foreground' | 'background', op: () => Promise<T>): Promise<T> => {
    if (busy) await new Promise<void>((resolve) => waiting[lane].push(resolve));
    else {
      busy = true;
      if (performance.now() - yieldedAt > yieldEveryMs) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        yieldedAt = performance.now();
        if (lane === 'background' && waiting.foreground.length > 0)
          await new Promise<void>((resolve) => {
            waiting.background.unshift(resolve);
            next();
          });
      }
    }
    try {
      return await op();
    } finally {
      next();
    }
  };
};

export const createPgliteDatabase = async ({ dataDir }: PgliteDatabaseOptions = {}): Promise<Database> => {
  const { PGlite } = await import('@electric-sql/pglite');
  const db: PGlite = await PGlite.create(dataDir ? { dataDir } : {});
  const turn = createTurns();
  const query = async (q: string | SqlQuery, params?: readonly unknown[]) => (await db.query(text(q).text, params as unknown[])).rows as never[];
  return {
    kind: 'pglite',
    query: (q, params) => turn('background', () => query(q, params)),
    foreground: () => ({ query: (q, params) => turn('foreground', () => query(q, params)) }),
    async transaction(fn) {
      return turn('background', () =>
        db.transaction(async (tx) => fn({ query: async (q, params) => (await tx.query(text(q).text, params as unknown[])).rows as never[] })),
      );
    },
    async exec(script) {
      await turn('background', () => db.exec(script));
    },
    async close() {
      await db.close();
    },
  };
};
