/**
 * Invariant 7 on the whole platform's history, through the loop the platform runs: an hour of
 * simulated time (market, controller, switches and handovers, GPU health, workloads placed,
 * preempted, completed, billed and credited) is projected by runners that crash mid-batch (a
 * statement fails, the transaction rolls back) and are started again with other batch sizes;
 * every read model and checkpoint then equals a clean rebuild in one pass.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECTIONS } from '../cli/platform.ts';
import { SEED_SCENARIO } from '../domain/fleet/inventory.ts';
import { createMemoryEventStore } from '../infra/event-store/memory.ts';
import type { EventStore } from '../infra/event-store/types.ts';
import { createLogger } from '../infra/logger.ts';
import { createPgliteDatabase, type Database, type Sql } from '../infra/postgres/database.ts';
import { createReplaySource } from '../simulators/market/replay.ts';
import { simulate } from '../simulators/platform/simulate.ts';
import { createChangeFeed } from './change-feed.ts';
import { readCheckpoint } from './checkpoints.ts';
import { createProjectionRunner, migrateProjections, rebuildProjection, type ProjectionRunner } from './runner.ts';

const TABLES = [...PROJECTIONS.flatMap((p) => p.tables), 'hcp_checkpoints'];
const logger = createLogger('silent');

/** Every table's rows, as sorted JSON lines (the order rows were written in does not matter). */
const dump = async (db: Sql) => {
  const out: Record<string, string[]> = {};
  for (const table of TABLES) out[table] = (await db.query<{ r: unknown }>(`SELECT to_jsonb(t) AS r FROM ${table} t`)).map((row) => JSON.stringify(row.r)).sort();
  return out;
};

/**
 * A database that crashes: a statement fails at the given counts (in a transaction or not: a
 * transaction under way rolls back), or the process "dies" right after the given transactions
 * commit (the caller sees an error, the commit stands): the moment a non-atomic design loses.
 */
const crashing = (db: Database, atStatements: ReadonlySet<number>, afterCommits: ReadonlySet<number>) => {
  let [statements, transactions] = [0, 0];
  const crashes = { count: 0 };
  const wrap = (tx: Sql): Sql => ({
    query: (q, params) => {
      if (atStatements.has(++statements)) {
        crashes.count++;
        return Promise.reject(new Error(`crash at statement ${statements}`));
      }
      return tx.query(q, params);
    },
  });
  const transaction = async <T>(fn: (tx: Sql) => Promise<T>) => {
    const result = await db.transaction((tx) => fn(wrap(tx)));
    if (afterCommits.has(++transactions)) {
      crashes.count++;
      throw new Error(`crash after commit ${transactions}`);
    }
    return result;
  };
  return { db: { ...db, query: wrap(db).query, transaction } as Database, crashes };
};

describe('invariant 7 over a simulated stretch of the whole platform, through the projection loop', () => {
  let store: EventStore;
  let events = 0;
  let rebuilt: Record<string, string[]>;
  const opened: Database[] = [];
  const open = async () => {
    const db = await createPgliteDatabase();
    opened.push(db);
    await migrateProjections(db, PROJECTIONS);
    return db;
  };

  beforeAll(async () => {
    // the history: a simulated hour of the seed's platform at a busy rate
    store = createMemoryEventStore();
    const simDb = await open();
    const simRunner = createProjectionRunner({ db: simDb, store, projections: PROJECTIONS, feed: createChangeFeed(), logger });
    const startMs = Date.parse('2023-08-20T12:00:00Z');
    await simulate({
      store,
      db: simDb,
      logger,
      facilities: SEED_SCENARIO,
      market: createReplaySource(),
      startMs,
      endMs: startMs + 3_600_000,
      seed: 'invariant-7',
      workloadsPerDay: 8_000,
      project: () => simRunner.drain(),
    });
    events = (await store.readAll()).length;
    // the reference: one runner, one pass, no crash
    const clean = await open();
    const runner = createProjectionRunner({ db: clean, store, projections: PROJECTIONS, feed: createChangeFeed(), logger, batchSize: 1_000_000 });
    await runner.drain();
    rebuilt = await dump(clean);
  }, 120_000);
  afterAll(async () => {
    await Promise.all(opened.map((db) => db.close()));
  });

  it('covers the whole lifecycle', async () => {
    const types = new Set((await store.readAll()).map((e) => e.type));
    for (const t of ['ResourcesAllocated', 'WorkloadStarted', 'WorkloadCompleted', 'BillingLineRecorded', 'QuotaConsumed', 'RecommendationIssued', 'ModeSwitched', 'HandoverCompleted', 'PriceTicked'])
      expect(types, `no ${t} in the history`).toContain(t);
    expect(rebuilt['rm_billing_lines']!.length).toBeGreaterThan(20);
    // the driver delivers what a step appended (one stream or several at once) within the step:
    // most first runs are placed at the very moment their workload was queued
    const queuedAt = new Map<string, string>();
    const placedAt = new Map<string, string>();
    for (const e of await store.readAll()) {
      const id = (e.data as { workloadId?: string }).workloadId!;
      if (e.type === 'WorkloadQueued' && !queuedAt.has(id)) queuedAt.set(id, e.metadata.occurredAt);
      if (e.type === 'ResourcesAllocated' && !placedAt.has(id)) placedAt.set(id, e.metadata.occurredAt);
    }
    const atOnce = [...placedAt].filter(([id, at]) => queuedAt.get(id) === at).length;
    expect(atOnce / placedAt.size, `${atOnce} of ${placedAt.size} placed as they were queued`).toBeGreaterThan(0.8);
    console.log(`history: ${events} events, ${rebuilt['rm_billing_lines']!.length} billing lines`);
  });

  it('builds, crashing and restarting with any batch sizes, exactly what a clean rebuild builds', { timeout: 180_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 8 }),
        // a batch makes few statements (its rows mostly kept, its writes in one): crashes come early
        fc.uniqueArray(fc.integer({ min: 1, max: 200 }), { maxLength: 5 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 4 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
        async (batchSizes, atStatements, afterCommits, goOn) => {
          const db = await open();
          const crashPoints = [...atStatements, ...afterCommits];
          const { db: flaky, crashes } = crashing(db, new Set(atStatements), new Set(afterCommits));
          // each start is a new process with its own batch size, going on from the stored
          // checkpoints, or the same runner going on after the failure (the rows it kept dropped)
          let runner: ProjectionRunner | undefined;
          for (let start = 0; ; start++) {
            if (!runner || !goOn[start % goOn.length]) {
              await runner?.stop();
              runner = createProjectionRunner({ db: flaky, store, projections: PROJECTIONS, feed: createChangeFeed(), logger, batchSize: batchSizes[start % batchSizes.length]! });
            }
            try {
              await runner.drain();
              break;
            } catch (error) {
              expect((error as Error).message).toMatch(/^crash (at statement|after commit)/);
              if (start > crashPoints.length) throw error;
            }
          }
          await runner.stop();
          expect(crashes.count).toBeLessThanOrEqual(crashPoints.length);
          const built = await dump(db);
          for (const table of TABLES) expect(built[table], table).toEqual(rebuilt[table]);
          await db.close();
          opened.splice(opened.indexOf(db), 1);
        },
      ),
      { numRuns: 3 },
    );
  });

  it('a runner whose checkpoint a rebuild in place moved starts again from it, never from the rows it kept', async () => {
    const db = await open();
    const customers = PROJECTIONS.find((p) => p.name === 'customers')!;
    // half way, with rows kept from its batches
    const { db: flaky } = crashing(db, new Set([300]), new Set());
    const runner = createProjectionRunner({ db: flaky, store, projections: PROJECTIONS, feed: createChangeFeed(), logger, batchSize: 25 });
    await expect(runner.drain()).rejects.toThrow(/crash at statement/);
    const halfWay = await readCheckpoint(db, 'customers');
    expect(halfWay.commit).toBeGreaterThan(0n);
    // another process rebuilds customers in place, to the end of the log
    await rebuildProjection(db, store, customers);
    expect((await readCheckpoint(db, 'customers')).commit).toBeGreaterThan(halfWay.commit);
    await runner.drain();
    await runner.stop();
    const built = await dump(db);
    for (const table of TABLES.filter((t) => t !== 'hcp_checkpoints')) expect(built[table], table).toEqual(rebuilt[table]);
  });
});
