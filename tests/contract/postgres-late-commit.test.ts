/**
 * The hard part of a PostgreSQL event store (docs/design.md §2): a transaction that took
 * its place in the order first but commits last must still be delivered, and
 * before the events ordered after it. Needs real concurrent connections, so it runs
 * against the server (TEST_DATABASE_URL); PGlite has a single connection.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createPostgresEventStore } from '../../infra/event-store/postgres/store.ts';
import type { RecordedEvent } from '../../infra/event-store/types.ts';
import { pgServerDatabase, TEST_DATABASE_URL } from '../support/databases.ts';
import { testEvents } from '../support/events.ts';

/** A store in a fresh schema, and a connection of its own to the same schema for hand-made transactions. */
const storeWithSecondConnection = async () => {
  const db = await pgServerDatabase(TEST_DATABASE_URL!);
  const store = await createPostgresEventStore(db);
  const searchPath = (await db.query<{ search_path: string }>('SHOW search_path'))[0]!.search_path;
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${searchPath}` });
  await client.connect();
  return { db, store, client };
};

describe.runIf(TEST_DATABASE_URL)('postgres event store: late commits (server)', () => {
  it('delivers an event whose transaction commits after later-ordered ones, in one consistent order', async () => {
    const { db, store, client: slow } = await storeWithSecondConnection();
    const seen: RecordedEvent[] = [];
    const subscription = store.subscribeToAll({ after: 'start' });
    const reading = (async () => {
      for await (const e of subscription) seen.push(e);
    })();
    try {
      // the slow writer takes its transaction id first, appends, and holds its commit
      await slow.query('BEGIN');
      await slow.query('SELECT pg_current_xact_id()');
      const late = testEvents(2, 'late', 'late');
      await slow.query('SELECT * FROM hcp_append($1, $2, $3::jsonb)', ['late-1', 'any', JSON.stringify(late)]);
      // meanwhile others append and commit
      for (let i = 0; i < 5; i++) await store.appendToStream(`fast-${i}`, testEvents(1));
      await new Promise((r) => setTimeout(r, 400));
      // nothing ordered after the open transaction is delivered while it is open
      expect(seen).toEqual([]);
      expect(await store.readAll()).toEqual([]);
      await slow.query('COMMIT');
      const deadline = Date.now() + 5000;
      while (seen.length < 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(seen.map((e) => e.streamName)).toEqual(['late-1', 'late-1', 'fast-0', 'fast-1', 'fast-2', 'fast-3', 'fast-4']);
      // the late events hold lower sequence numbers than events committed before them: a reader
      // that followed the sequence alone would have moved past them and skipped them for good
      expect(seen[0]!.position.prepare < seen[2]!.position.prepare).toBe(true);
      expect((await store.readAll()).map((e) => e.id)).toEqual(seen.map((e) => e.id));
    } finally {
      await subscription.close();
      await reading;
      await slow.end();
      await db.drop();
    }
  });

  it('a writer holding a stream in one schema does not hold up the stream of that name in another', async () => {
    const { db, client: holder } = await storeWithSecondConnection();
    const other = await pgServerDatabase(TEST_DATABASE_URL!);
    const otherStore = await createPostgresEventStore(other);
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM hcp_append($1, $2, $3::jsonb)', ['shared-name', 'any', JSON.stringify(testEvents(1))]);
      // the lock that queues a stream's writers is the schema's own: a store in another schema
      // (a parallel test, a second benchmark in the same database) appends at once
      const appended = await Promise.race([otherStore.appendToStream('shared-name', testEvents(1)).then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 3000))]);
      expect(appended).toBe(true);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
      await other.drop();
      await db.drop();
    }
  });

  it('an aborted transaction leaves no event and does not stall subscribers', async () => {
    const { db, store, client: aborted } = await storeWithSecondConnection();
    try {
      await aborted.query('BEGIN');
      await aborted.query('SELECT * FROM hcp_append($1, $2, $3::jsonb)', ['gone-1', 'any', JSON.stringify(testEvents(1))]);
      await store.appendToStream('kept-1', testEvents(1));
      await aborted.query('ROLLBACK');
      const all = await store.readAll();
      expect(all.map((e) => e.streamName)).toEqual(['kept-1']);
    } finally {
      await aborted.end();
      await db.drop();
    }
  });
});
