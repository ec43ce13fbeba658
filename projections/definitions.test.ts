/**
 * A projection whose definition changed: the platform keeps serving the read model the old
 * definition built, never runs the new code on it, builds the new version beside it while events
 * keep coming, swaps it in, and follows it from there. Nothing read meanwhile mixes the two.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresEventStore } from '../infra/event-store/postgres/store.ts';
import type { EventStore } from '../infra/event-store/types.ts';
import { createLogger } from '../infra/logger.ts';
import { postgresBackends, type TestDatabase } from '../tests/support/databases.ts';
import { createChangeFeed } from './change-feed.ts';
import { rebuildStale, staleProjections } from './definitions.ts';
import { oneByOne, type Projection } from './projection.ts';
import { createProjectionRunner, migrateProjections } from './runner.ts';

const logger = createLogger('silent');

/** Counts each stream's events; which definition counted them is in every row. */
const counter = (version: number): Projection => ({
  name: 'tally',
  version,
  eventTypes: new Set(['Ticked']),
  tables: ['rm_tally'],
  schema: `CREATE TABLE IF NOT EXISTS rm_tally (stream text PRIMARY KEY, n int NOT NULL, definition int NOT NULL)`,
  apply: oneByOne(async (tx, e) => {
    await tx.query(
      `INSERT INTO rm_tally (stream, n, definition) VALUES ($1, 1, $2) ON CONFLICT (stream) DO UPDATE SET n = rm_tally.n + 1, definition = $2`,
      [e.streamName, version],
    );
    return [];
  }),
});

const tick = (store: EventStore, stream: string) =>
  store.appendToStream(stream, [
    { id: randomUUID(), type: 'Ticked', data: {}, metadata: { commandId: randomUUID(), correlationId: 'c', causationId: 'c', actor: 'test', schemaVersion: 1, occurredAt: new Date().toISOString() } },
  ]);

for (const backend of postgresBackends()) {
  describe(`a changed projection definition (${backend.label})`, () => {
    let db: TestDatabase;
    let store: EventStore;
    beforeAll(async () => {
      db = await backend.open();
      store = await createPostgresEventStore(db);
    });
    afterAll(() => db.drop());

    it('serves the old read model until the new version is built beside it and swapped in, then follows it', async () => {
      const v1 = counter(1);
      await migrateProjections(db, [v1]);
      const first = createProjectionRunner({ db, store, projections: [v1], feed: createChangeFeed(), logger });
      for (let i = 0; i < 300; i++) await tick(store, `s-${i % 5}`);
      await first.drain();
      expect(await staleProjections(db, [v1])).toEqual([]);

      // the definition changes: version 2 finds version 1's read model
      const v2 = counter(2);
      const stale = await staleProjections(db, [v2]);
      expect(stale.map((p) => p.name)).toEqual(['tally']);
      const runner = createProjectionRunner({ db, store, projections: [v2], feed: createChangeFeed(), logger, paused: new Set(['tally']) });
      runner.start();
      const seen: Array<number[]> = [];
      let rebuilding = true;
      const reader = (async () => {
        while (rebuilding) {
          seen.push((await db.query<{ d: number }>(`SELECT DISTINCT definition AS d FROM rm_tally ORDER BY 1`)).map((r) => r.d));
          await tick(store, `s-${seen.length % 7}`);
          // embedded PGlite answers without leaving the microtask queue: give the rebuild its turn
          await new Promise((r) => setTimeout(r, 1));
        }
      })();
      try {
        await rebuildStale({ db, store, stale, runner, logger });
      } finally {
        rebuilding = false;
        await reader;
      }
      // never a mix: version 1 throughout, then version 2
      expect(seen.every((d) => d.length === 1)).toBe(true);
      expect(seen[0]).toEqual([1]);
      // followed from the swap on: every event counted once, by the new definition
      // waited for up to the last append: the store's head is only what is readable yet (a projection
      // batch in flight holds the read horizon back), so it may stand before ticks just appended
      let last = (await tick(store, 's-late')).position;
      for (let i = 1; i < 20; i++) last = (await tick(store, 's-late')).position;
      expect(await runner.waitFor(last, 10_000)).toBe(true);
      await runner.stop();
      const rows = await db.query<{ n: number; definition: number }>(`SELECT n, definition FROM rm_tally`);
      expect(rows.reduce((sum, r) => sum + r.n, 0)).toBe((await store.readAll({ maxCount: 100_000 })).length);
      expect(new Set(rows.map((r) => r.definition))).toEqual(new Set([2]));
      expect(await staleProjections(db, [v2])).toEqual([]);
    });
  });
}
