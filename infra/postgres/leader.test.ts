/**
 * One leader per singleton on a PostgreSQL server: of two processes offering, exactly one does the
 * work; when it stops, or its connection is cut behind its back, the other takes over, and the
 * one that lost its connection stops its work.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.ts';
import { pgServerDatabase, TEST_DATABASE_URL, type TestDatabase } from '../../tests/support/databases.ts';
import { lead, type Leadership } from './leader.ts';

const until = async (condition: () => boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
};

describe.skipIf(!TEST_DATABASE_URL)('leader election by advisory lock (PostgreSQL server)', () => {
  let db: TestDatabase;
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  beforeAll(async () => {
    db = await pgServerDatabase(TEST_DATABASE_URL!);
  });
  afterAll(() => db?.drop());

  /** Offers `who` as a leader; its work is in `working` while it runs, and each stop is recorded. */
  const offer = (working: Set<string>, who: string, stops: string[] = []): Leadership =>
    lead({
      db,
      name: 'singleton',
      logger,
      retryMs: 100,
      heartbeatMs: 100,
      start: async () => {
        working.add(who);
        return { stop: async () => void (working.delete(who), stops.push(who)) };
      },
    });

  it('runs the work in exactly one process, and hands it over when the leader stops', async () => {
    const working = new Set<string>();
    const a = offer(working, 'a');
    await a.settled;
    const b = offer(working, 'b');
    await b.settled;
    expect([...working]).toEqual(['a']);
    expect([a.leading(), b.leading()]).toEqual([true, false]);
    await a.stop();
    expect(await until(() => working.has('b'), 2_000)).toBe(true);
    expect([...working]).toEqual(['b']);
    await b.stop();
    expect(working.size).toBe(0);
  });

  it('stops the work of a leader whose connection is cut; then exactly one process leads again', async () => {
    const working = new Set<string>();
    const stops: string[] = [];
    const a = offer(working, 'a', stops);
    await a.settled;
    const b = offer(working, 'b', stops);
    await b.settled;
    // the lock's holder, cut off as a network failure or an operator would
    const [holder] = await db.query<{ pid: number }>(
      `WITH k AS (SELECT hashtextextended(current_schema() || ':hcp-leader:singleton', 0) AS key)
       SELECT l.pid FROM pg_locks l, k WHERE l.locktype = 'advisory' AND l.granted
          AND l.classid::bigint = ((k.key >> 32) & 4294967295) AND l.objid::bigint = (k.key & 4294967295) LIMIT 1`,
    );
    expect(holder).toBeDefined();
    await db.query(`SELECT pg_terminate_backend($1)`, [holder!.pid]);
    expect(await until(() => stops.includes('a'), 3_000)).toBe(true);
    // whoever asks first leads; never both
    expect(await until(() => working.size === 1, 3_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(working.size).toBe(1);
    expect([a.leading(), b.leading()].filter(Boolean)).toHaveLength(1);
    await Promise.all([a.stop(), b.stop()]);
    expect(working.size).toBe(0);
  });
});
