/**
 * The change log across processes (PostgreSQL server): a follower hears each recorded batch once,
 * in order, on the notification; a batch whose notification never came is heard at the next read
 * anyway (delayed, not lost); a rolled-back batch is never heard; waitFor follows the positions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../infra/logger.ts';
import { migrate } from '../infra/postgres/migrate.ts';
import { pgServerDatabase, TEST_DATABASE_URL, type TestDatabase } from '../tests/support/databases.ts';
import { createChangeFeed } from './change-feed.ts';
import { CHANGE_LOG_SCHEMA, changeLogWriter, eitherCaughtUp, followChangeLog, recordChanges } from './change-log.ts';
import type { Change } from './projection.ts';

const at = (n: number) => ({ commit: BigInt(n), prepare: BigInt(n) });
const change = (id: string): Change => ({ topic: 'customer', customerId: id });
/** A runner in another process, as far as the followers here can tell. */
const writer = changeLogWriter();

describe('eitherCaughtUp (a local runner beside the log)', () => {
  const after = <T>(ms: number, value: T) => new Promise<T>((r) => setTimeout(() => r(value), ms));
  it('answers true as soon as one says so, and false only when both give up', async () => {
    expect(await eitherCaughtUp(after(50, false), after(5, true))).toBe(true);
    expect(await eitherCaughtUp(after(5, false), after(30, true))).toBe(true);
    expect(await eitherCaughtUp(Promise.reject(new Error('stopped')), after(5, true))).toBe(true);
    expect(await eitherCaughtUp(after(5, false), after(10, false))).toBe(false);
    // does not wait for the other at all
    expect(await eitherCaughtUp(after(5, true), new Promise<boolean>(() => {}))).toBe(true);
  });
});

describe.skipIf(!TEST_DATABASE_URL)('change log (PostgreSQL server)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await pgServerDatabase(TEST_DATABASE_URL!);
    await migrate(db, 'hcp_change_log', CHANGE_LOG_SCHEMA);
    await db.transaction((tx) => recordChanges(tx, writer, at(1), [change('before')]));
  });
  afterAll(() => db?.drop());

  it('delivers every committed batch in order, a missed notification late, a rolled-back one never', async () => {
    const feed = createChangeFeed();
    const heard: string[] = [];
    feed.subscribe((c) => c.topic === 'customer' && heard.push(c.customerId));
    const follower = await followChangeLog({ db, feed, logger: createLogger('silent'), pollMs: 200 });
    try {
      expect(await follower.waitFor(at(1), 100)).toBe(true);
      expect(await follower.waitFor(at(2), 100)).toBe(false);

      await db.transaction((tx) => recordChanges(tx, writer, at(2), [change('a'), change('b')]));
      await expect(db.transaction(async (tx) => {
        await recordChanges(tx, writer, at(3), [change('rolled-back')]);
        throw new Error('the batch failed');
      })).rejects.toThrow('the batch failed');
      await db.transaction((tx) => recordChanges(tx, writer, at(4), [change('c')]));
      expect(await follower.waitFor(at(4), 2_000)).toBe(true);
      // written behind the notifications' back, as if the notification was lost with a connection
      await db.query(`INSERT INTO hcp_change_log (commit_position, prepare_position, changes) VALUES (5, 5, $1::jsonb)`, [JSON.stringify([change('quiet')])]);
      const started = Date.now();
      expect(await follower.waitFor(at(5), 2_000)).toBe(true);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(heard).toEqual(['a', 'b', 'c', 'quiet']);

      // a runner of the follower's own process: its batch is heard at once, and never again from the log
      await db.transaction((tx) => recordChanges(tx, follower.writer, at(6), [change('here')]));
      follower.writer.committed!(at(6), [change('here')]);
      expect(await follower.waitFor(at(6), 0)).toBe(true);
      await new Promise((r) => setTimeout(r, 500)); // two polls read the row back
      await db.transaction((tx) => recordChanges(tx, writer, at(7), [change('d')]));
      expect(await follower.waitFor(at(7), 2_000)).toBe(true);
      expect(heard).toEqual(['a', 'b', 'c', 'quiet', 'here', 'd']);
    } finally {
      await follower.stop();
    }
  });
});
