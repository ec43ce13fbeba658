/**
 * The simulation delivers what its driver and process managers append from memory, once it has
 * read the store to its end: what the managers are given must be the store's events, in the
 * store's order, each once.
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../infra/logger.ts';
import { createPgliteDatabase } from '../../infra/postgres/database.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres/store.ts';
import type { RecordedEvent } from '../../infra/event-store/types.ts';
import { PROJECTIONS } from '../../cli/platform.ts';
import { createChangeFeed } from '../../projections/change-feed.ts';
import { createProjectionRunner, migrateProjections } from '../../projections/runner.ts';
import { createReplaySource } from '../market/replay.ts';
import { SCALES } from './scales.ts';
import { simulate } from './simulate.ts';

describe('simulate', () => {
  it('gives the process managers every event of the store, in its order, each once', async () => {
    const db = await createPgliteDatabase();
    const store = await createPostgresEventStore(db);
    const startMs = Date.parse('2023-08-20T00:00:00Z');
    const delivered: RecordedEvent[] = [];
    await migrateProjections(db, PROJECTIONS);
    const runner = createProjectionRunner({ db, store, projections: PROJECTIONS, feed: createChangeFeed(), logger: createLogger('silent') });
    try {
      const result = await simulate({
        store,
        db,
        logger: createLogger('silent'),
        facilities: SCALES.seed.facilities,
        market: createReplaySource(),
        startMs,
        endMs: startMs + 2 * 3_600_000,
        seed: 'delivery',
        workloadsPerDay: 2_000,
        project: (upTo) => runner.drain(upTo),
        onDelivered: (e) => delivered.push(e),
      });
      const stored: RecordedEvent[] = [];
      for (let batch = await store.readAll({ maxCount: 1000 }); batch.length > 0; batch = await store.readAll({ after: batch.at(-1)!.position, maxCount: 1000 })) stored.push(...batch);
      const key = (e: RecordedEvent) => `${e.streamName}@${e.revision} ${e.id} ${e.type}`;
      expect(result.scheduler.placements).toBeGreaterThan(20); // work was placed, started and ended: many appends to deliver
      expect(delivered.map(key)).toEqual(stored.map(key));
      expect(delivered.map((e) => e.data)).toEqual(stored.map((e) => e.data));
    } finally {
      await runner.stop();
      await store.close();
      await db.close();
    }
  }, 120_000);
});
