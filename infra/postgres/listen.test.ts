/**
 * Appends heard across processes (PostgreSQL server): a store told to work across processes
 * notifies its schema after each committed append while another process listens there, and a
 * listener on another pool (another process, as far as the server can tell) hears its own
 * schema's, and none of another schema's.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { APPENDED_CHANNEL, createPostgresEventStore } from '../event-store/postgres/store.ts';
import { pgServerDatabase, TEST_DATABASE_URL, type TestDatabase } from '../../tests/support/databases.ts';
import { testEvents } from '../../tests/support/events.ts';
import { createPgDatabase, type Database } from './database.ts';
import { listenToSchema, notifySchema } from './listen.ts';

describe.skipIf(!TEST_DATABASE_URL)('appends heard across processes (PostgreSQL server)', () => {
  const opened: Array<TestDatabase | Database> = [];
  afterAll(async () => {
    for (const db of opened.reverse()) await ('drop' in db ? db.drop() : db.close());
  });

  it("hears the appends of its schema, and none of another schema's or of a refused append", async () => {
    const ours = await pgServerDatabase(TEST_DATABASE_URL!);
    const theirs = await pgServerDatabase(TEST_DATABASE_URL!);
    opened.push(ours, theirs);
    const [{ schema }] = (await ours.query<{ schema: string }>(`SELECT current_schema() AS schema`)) as [{ schema: string }];
    // another pool on the same schema: the server cannot tell it from another process
    const elsewhere = await createPgDatabase({ connectionString: TEST_DATABASE_URL!, schema, maxConnections: 2 });
    opened.push(elsewhere);
    const across = { acrossProcesses: { warn: () => {} } };
    const writer = await createPostgresEventStore(ours, across);
    const stranger = await createPostgresEventStore(theirs, across);

    let heard = 0;
    let waiting: { count: number; resolve: () => void } | undefined;
    const heardAtLeast = (count: number) => new Promise<void>((resolve) => (heard >= count ? resolve() : (waiting = { count, resolve })));
    let listening!: () => void;
    const started = new Promise<void>((resolve) => (listening = resolve));
    const listener = await listenToSchema(elsewhere, APPENDED_CHANNEL, {
      onNotified: ({ kind }) => {
        if (kind !== 'appended') return;
        heard++;
        if (waiting && heard >= waiting.count) waiting.resolve();
      },
      onListening: async () => listening(),
      retryMs: 100,
      warn: () => {},
    });
    try {
      await started;
      // nobody has said it listens: a store alone on its schema tells nobody
      await writer.appendToStream('s-0', testEvents(1), { expectedRevision: 'no_stream' });
      await new Promise((r) => setTimeout(r, 300));
      expect(heard).toBe(0);
      // another process says it is here (as a store does when it starts listening): now it is told
      await notifySchema(elsewhere, APPENDED_CHANNEL, 'another-process', 'here');
      await new Promise((r) => setTimeout(r, 100));
      await stranger.appendToStream('s-other', testEvents(1), { expectedRevision: 'no_stream' });
      await writer.appendToStream('s-1', testEvents(3), { expectedRevision: 'no_stream' });
      await heardAtLeast(1);
      // a refused append notifies nothing
      await expect(writer.appendToStream('s-1', testEvents(1), { expectedRevision: 'no_stream' })).rejects.toThrow();
      await writer.appendToStream('s-1', testEvents(1), { expectedRevision: 2n });
      await heardAtLeast(2);
      // had the other schema's append or the refused one been heard, a third would come within moments
      await new Promise((r) => setTimeout(r, 300));
      expect(heard).toBe(2);
    } finally {
      await listener.stop();
      await writer.close();
      await stranger.close();
    }
  });
});
