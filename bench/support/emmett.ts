/**
 * Emmett's PostgreSQL event store (@event-driven-io/emmett-postgresql), the peer the store is
 * measured against, behind the same small shapes as the store and the ceiling. It gets a
 * database of its own (its tables are unqualified), dropped at the end, and a pool as large as
 * the store's, so neither waits for connections the other has.
 */
import { isExpectedVersionConflictError } from '@event-driven-io/emmett';
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { benchDatabase } from './processes.ts';
import type { AppendBatch, ConflictOf } from './writers.ts';

export const EMMETT_VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.resolve('@event-driven-io/emmett-postgresql')), 'utf8')).version;

export const openEmmett = async (maxConnections: number) => {
  const database = await benchDatabase('bench_store_emmett');
  const pool = new pg.Pool({ connectionString: database.url, max: maxConnections });
  const store = getPostgreSQLEventStore(database.url, { connectionOptions: { pool } });
  await store.schema.migrate();

  /** Emmett counts a stream's version from 1 (its number of events): our last revision + 1, 0 for no stream. */
  const append: AppendBatch = async (streamName, lastRevision, events) => {
    await store.appendToStream(
      streamName,
      events.map((e) => ({ type: e.type, data: e.data, metadata: e.metadata })),
      { expectedStreamVersion: lastRevision === undefined ? 0n : lastRevision + 1n },
    );
  };

  /** Emmett's conflict does not say the actual version (it reports -1): the writer reads it, as the ceiling does. */
  const conflictOf: ConflictOf = async (error, streamName) => {
    if (!isExpectedVersionConflictError(error)) return undefined;
    const { rows } = await pool.query<{ version: string }>(`SELECT stream_position::text AS version FROM emt_streams WHERE stream_id = $1`, [streamName]);
    return { lastRevision: rows[0] ? BigInt(rows[0].version) - 1n : undefined };
  };

  const close = async () => {
    await store.close().catch(() => {});
    await pool.end().catch(() => {});
    await database.drop();
  };
  return { append, conflictOf, close };
};
