/**
 * The ceiling: the same rows in a table of the same shape, written and read with plain SQL,
 * none of the store's logic (no stream row lock, idempotency check, revision check or function).
 */
import type { Sql, SqlQuery } from '../../infra/postgres/database.ts';
import type { AppendBatch } from './writers.ts';

// LIKE ... INCLUDING ALL copies columns, defaults, identity and every index of hcp_events,
// so the two tables differ only in how they are written
export const createCeilingTable = (db: Sql) => db.query(`CREATE TABLE ceiling_events (LIKE hcp_events INCLUDING ALL)`);

const COLUMNS = ['stream_name', 'stream_revision', 'event_id', 'event_type', 'data', 'metadata'];

const insertStatement = (rows: number): SqlQuery => ({
  name: `ceiling_insert_${rows}`,
  text: `INSERT INTO ceiling_events (${COLUMNS.join(', ')}) VALUES ${Array.from(
    { length: rows },
    (_, r) => `(${COLUMNS.map((_, c) => `$${r * COLUMNS.length + c + 1}`).join(', ')})`,
  ).join(', ')}`,
});

/** One multi-row INSERT per batch, autocommit. */
export const ceilingAppend = (db: Sql): AppendBatch => {
  const statements = new Map<number, SqlQuery>();
  return async (streamName, lastRevision, events) => {
    let statement = statements.get(events.length);
    if (!statement) statements.set(events.length, (statement = insertStatement(events.length)));
    const first = (lastRevision ?? -1n) + 1n;
    await db.query(
      statement,
      events.flatMap((e, i) => [
        streamName,
        (first + BigInt(i)).toString(),
        e.id,
        e.type,
        JSON.stringify(e.data),
        JSON.stringify(e.metadata),
      ]),
    );
  };
};

const SELECTED = `position, transaction_id, stream_name, stream_revision, event_id, event_type, data, metadata`;

const PAGE_AFTER = {
  name: 'ceiling_page_after',
  text: `SELECT ${SELECTED} FROM ceiling_events WHERE position > $1 ORDER BY position LIMIT $2`,
};

const STREAM = {
  name: 'ceiling_stream',
  text: `SELECT ${SELECTED} FROM ceiling_events WHERE stream_name = $1 ORDER BY stream_revision`,
};

/** Keyset page walk in position order; each call returns the next page. */
export const ceilingPageWalk = (db: Sql, pageSize: number) => {
  let after = '0';
  return async () => {
    const rows = await db.query<{ position: string }>(PAGE_AFTER, [after, pageSize]);
    after = rows.at(-1)?.position ?? after;
    return rows.length;
  };
};

export const ceilingReadStream = async (db: Sql, streamName: string) => (await db.query(STREAM, [streamName])).length;
