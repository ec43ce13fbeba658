/**
 * Runs projections: follows the event store from each projection's checkpoint and
 * applies events in batches, each batch and its checkpoint in one transaction, then
 * tells the change feed, so a live subscriber never hears of a change a query
 * cannot see yet. Delivery is at least once; the checkpoint check inside the
 * transaction makes the effect exactly once (invariant 7).
 */
import type { Logger } from 'pino';
import type { Database, Sql } from '../infra/postgres/database.ts';
import { lazyTransaction } from '../infra/postgres/lazy-transaction.ts';
import { migrate } from '../infra/postgres/migrate.ts';
import { projectionBatchDuration, projectionBatchEvents } from '../infra/metrics.ts';
import { comparePositions, START, type GlobalPosition } from '../infra/event-store/position.ts';
import type { EventStore, RecordedEvent } from '../infra/event-store/types.ts';
import type { ChangeFeed } from './change-feed.ts';
import { CHANGE_LOG_SCHEMA, changesWrite, pruneChangeLog, recordChanges, type ChangeLogWriter } from './change-log.ts';
import { CHECKPOINT_SCHEMA, lockCheckpoint, moveCheckpoints, readCheckpoint, saveCheckpoint, writeBatch } from './checkpoints.ts';
import { applyOwn, definitionVersion } from './projection.ts';
import { createRowCache, type RowsSql } from './rows.ts';
import type { Change, Projection } from './projection.ts';

/** Thrown in a batch's transaction to roll back its projections' own writes: a checkpoint moved under it. */
const STALE = Symbol('stale checkpoint');

export type BatchOutcome =
  | { type: 'applied'; checkpoint: GlobalPosition; applied: number; changes: Change[] }
  /** The stored checkpoint is behind the batch (a rebuild reset it): restart from it. */
  | { type: 'behind'; checkpoint: GlobalPosition };

/** Applies the events after the stored checkpoint, and moves it, in one transaction. */
export const applyBatch = (
  db: Database,
  projection: Projection,
  events: readonly RecordedEvent[],
  deliveredAfter: GlobalPosition,
): Promise<BatchOutcome> =>
  db.transaction(async (tx) => {
    const checkpoint = await lockCheckpoint(tx, projection.name);
    if (comparePositions(checkpoint, deliveredAfter) < 0) return { type: 'behind', checkpoint };
    const fresh = events.filter((e) => comparePositions(e.position, checkpoint) > 0);
    const changes = await applyOwn(tx, projection, fresh);
    const last = fresh.at(-1)?.position;
    if (last) await saveCheckpoint(tx, projection.name, last, fresh.length);
    return { type: 'applied', checkpoint: last ?? checkpoint, applied: fresh.length, changes };
  });

export const migrateProjections = async (db: Database, projections: readonly Projection[]) => {
  await migrate(db, 'hcp_checkpoints', CHECKPOINT_SCHEMA);
  await migrate(db, 'hcp_change_log', CHANGE_LOG_SCHEMA);
  for (const p of projections) await migrate(db, `hcp_projection_${p.name}`, p.schema);
};

/** Empties a projection's tables and checkpoint in one transaction. */
export const resetProjection = (db: Database, projection: Projection) =>
  db.transaction(async (tx) => {
    await lockCheckpoint(tx, projection.name);
    for (const table of projection.tables) await tx.query(`DELETE FROM ${table}`);
    await tx.query(`DELETE FROM hcp_checkpoints WHERE projection = $1`, [projection.name]);
  });

/**
 * Rebuilds a read model from the first event; returns the number of events applied. On a
 * PostgreSQL server it is one transaction: whoever reads the read model meanwhile (the API
 * authenticating keys from rm_api_keys, say) sees the old rows until the new ones are complete,
 * never a half-built model (every key refused, or a revoked key accepted again), and the live
 * projection waits on the checkpoint's lock, then goes on from the rebuilt position. On embedded
 * PGlite (one connection: the store cannot be read inside the transaction) the tables are emptied
 * and refilled in batches; no other process can be serving then (cli/data-lock.ts).
 */
export const rebuildProjection = async (db: Database, store: EventStore, projection: Projection, batchSize = 1000): Promise<number> => {
  if (db.kind === 'pglite') {
    await resetProjection(db, projection);
    return catchUp(db, store, projection, batchSize);
  }
  return db.transaction(async (tx) => {
    await lockCheckpoint(tx, projection.name);
    for (const table of projection.tables) await tx.query(`DELETE FROM ${table}`);
    let after: GlobalPosition = START;
    let applied = 0;
    for (;;) {
      const events = await store.readAll({ after, maxCount: batchSize });
      if (events.length === 0) break;
      await applyOwn(tx, projection, events);
      after = events.at(-1)!.position;
      applied += events.length;
    }
    await tx.query(`UPDATE hcp_checkpoints SET commit_position = $2, prepare_position = $3, events_applied = $4 WHERE projection = $1`, [
      projection.name,
      after.commit.toString(),
      after.prepare.toString(),
      applied,
    ]);
    return applied;
  });
};

/** Applies everything up to the store's current end; returns the number of events applied. */
export const catchUp = async (db: Database, store: EventStore, projection: Projection, batchSize = 1000) => {
  let total = 0;
  for (;;) {
    const after = await readCheckpoint(db, projection.name);
    const events = await store.readAll({ after, maxCount: batchSize });
    if (events.length === 0) return total;
    const outcome = await applyBatch(db, projection, events, after);
    if (outcome.type === 'applied') total += outcome.applied;
  }
};

/** Groups what an async iterator has ready now into batches (up to `max`), without waiting for more. */
export async function* batched<T>(source: AsyncIterable<T>, max: number): AsyncGenerator<T[]> {
  const it = source[Symbol.asyncIterator]();
  let pending = it.next();
  for (;;) {
    const first = await pending;
    if (first.done) return;
    const batch = [first.value];
    pending = it.next();
    while (batch.length < max) {
      const ready = await Promise.race([pending, new Promise<'later'>((r) => setImmediate(() => r('later')))]);
      if (ready === 'later') break;
      if (ready.done) {
        yield batch;
        return;
      }
      batch.push(ready.value);
      pending = it.next();
    }
    yield batch;
  }
}

export type ProjectionRunner = {
  start(): void;
  /**
   * Applies everything the store holds now (for a caller that does not start the runner), or
   * everything up to and including `upTo` and nothing after it (a caller that appends meanwhile).
   */
  drain(upTo?: GlobalPosition): Promise<void>;
  /** Resolves once every projection has applied the event at `position` (or after `timeoutMs`, with false). */
  waitFor(position: GlobalPosition | undefined, timeoutMs?: number): Promise<boolean>;
  /**
   * Follows a paused projection again, from its stored checkpoint (a new version swapped in):
   * the loop starts again from the earliest checkpoint, the others skip what they hold.
   */
  resume(name: string): void;
  stop(): Promise<void>;
};

export type RunnerOptions = {
  db: Database;
  store: EventStore;
  projections: readonly Projection[];
  feed: ChangeFeed;
  logger: Logger;
  batchSize?: number;
  /**
   * Projections not followed for now: their stored tables are from an older definition, and a
   * new version is being built beside them (projections/definitions.ts). Queries read the old
   * version meanwhile; waitFor does not wait for them.
   */
  paused?: ReadonlySet<string>;
  /**
   * Record each batch's changes in the change log, in its transaction, for every process to hear
   * (projections/change-log.ts), instead of telling this process's feed: on a PostgreSQL server,
   * where API instances may run elsewhere. The writer's `committed` hears each batch once it has
   * committed (this process's follower of the log).
   */
  changeLog?: ChangeLogWriter;
};

/**
 * One loop for every projection: each batch is read once and applied to every projection in one
 * transaction, each projection from its own checkpoint (an event at or before it is skipped),
 * every checkpoint moved in that transaction (in one statement), then the change feed is told. When
 * a projection's stored checkpoint went back (a rebuild reset it), the loop starts again from the
 * earliest checkpoint; the others skip what they hold.
 */
export const createProjectionRunner = ({ db, store, projections, feed, logger, batchSize = 500, paused: initiallyPaused = new Set(), changeLog }: RunnerOptions): ProjectionRunner => {
  let stopped = false;
  const paused = new Set(initiallyPaused);
  // resumed, but followed only from the next start of the loop: the batch under way must not reach them
  const resuming = new Set<string>();
  let restart = false;
  const reached = new Map<string, GlobalPosition>();
  const closers = new Set<() => Promise<void>>();
  const loops: Promise<void>[] = [];
  let waiters: Array<() => void> = [];
  const wakeWaiters = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const names = projections.map((p) => p.name);
  const rowCache = createRowCache();

  /**
   * The stored checkpoints, locked until the transaction ends (created at START if missing). The
   * transaction commits without waiting for its WAL flush (synchronous_commit off, for this
   * transaction only): read models and their checkpoints are rebuilt from the events, and a crash
   * can only lose a last batch together with the checkpoint that says it was applied, which is
   * then applied again. Events themselves are always appended with a flush.
   */
  const lockAll = async (tx: Sql) => {
    const rows = await tx.query<{ projection: string; c: string; p: string }>(
      `WITH unflushed AS (SELECT set_config('synchronous_commit', 'off', true))
       INSERT INTO hcp_checkpoints (projection, commit_position, prepare_position, definition_version)
       SELECT d.name, $2, $3, d.version FROM unnest($1::text[], $4::int[]) AS d(name, version), unflushed
       ON CONFLICT (projection) DO UPDATE SET projection = excluded.projection
       RETURNING projection, commit_position::text AS c, prepare_position::text AS p`,
      [names, START.commit.toString(), START.prepare.toString(), projections.map(definitionVersion)],
    );
    return new Map(rows.map((r) => [r.projection, { commit: BigInt(r.c), prepare: BigInt(r.p) }]));
  };

  type Progress = { stored: Map<string, GlobalPosition> };

  /** Where each projection is, as stored. */
  const progress = async (): Promise<Progress> => {
    rowCache.clear();
    for (const name of resuming) paused.delete(name);
    resuming.clear();
    const stored = await db.transaction(async (tx) => {
      const at = await lockAll(tx);
      // where the read models stand, for processes that wait for them before the next batch comes
      if (changeLog) await recordChanges(tx, changeLog, earliest({ stored: at }), []);
      return at;
    });
    for (const [name, at] of stored) reached.set(name, at);
    wakeWaiters();
    return { stored };
  };
  const earliest = ({ stored }: Progress) => {
    const followed = [...stored].filter(([name]) => !paused.has(name)).map(([, at]) => at);
    return followed.length === 0 ? START : followed.reduce((x, y) => (comparePositions(x, y) <= 0 ? x : y));
  };

  /**
   * One batch for every projection, in one transaction: each projection applies the events after
   * its checkpoint, its writes wait, and then they go together with the checkpoints' moves and the
   * change log in one round trip, only if every checkpoint still stands where this loop left it
   * (writeBatch). 'reset' when one does not (a rebuild reset it, or another process moved it):
   * nothing is written, and the loop starts again from the stored checkpoints.
   */
  const applyToAll = async (batch: readonly RecordedEvent[], { stored }: Progress): Promise<'applied' | 'reset'> => {
    const last = batch.at(-1)!.position;
    const timer = projectionBatchDuration.startTimer();
    projectionBatchEvents.inc(batch.length);
    const followed = projections.filter((p) => !paused.has(p.name));
    const moved: Array<[string, GlobalPosition, number]> = [];
    let changes: Change[];
    // begun only if a projection reads (its first read locks the checkpoints): a batch that only
    // writes goes in writeBatch's one statement, atomic by itself
    const txn = lazyTransaction(db);
    try {
      const expected = new Map(followed.map((p) => [p.name, stored.get(p.name)!]));
      const writes: Array<[string, string]> = [];
      // the checkpoints are locked before any table is touched, as a swap of versions locks them
      // before it moves tables: a projection that queries (a row not kept, a write of its own)
      // has them locked and checked first; one that does not leaves it to the batch's write
      let locked: Promise<Sql> | undefined;
      const lockFirst = () =>
        (locked ??= txn.sql().then(async (sql) => {
          if (!(await writeBatch(sql, expected, []))) throw STALE;
          return sql;
        }));
      const tx: RowsSql = {
        query: async (q, params) => (await lockFirst()).query(q, params),
        rowCache,
        deferWrite: (text, json) => void writes.push([text, json]),
      };
      const applied: Change[] = [];
      for (const projection of followed) {
        const at = stored.get(projection.name)!;
        const fresh = batch.filter((e) => comparePositions(e.position, at) > 0);
        if (fresh.length === 0) continue;
        const mine = fresh.filter((e) => projection.eventTypes.has(e.type));
        if (mine.length > 0) applied.push(...(await projection.apply(tx, mine)));
        moved.push([projection.name, fresh.at(-1)!.position, mine.length]);
      }
      if (moved.length > 0) writes.push(moveCheckpoints(moved));
      if (changeLog) writes.push(changesWrite(changeLog, last, applied));
      await txn.commit(async (sql) => {
        if (!(await writeBatch(sql, expected, writes))) throw STALE;
      });
      changes = applied;
    } catch (error) {
      await txn.rollback();
      // rows were changed in place by a batch that did not commit
      rowCache.clear();
      if (error !== STALE) throw error;
      logger.info('a checkpoint is not where the projections left it (a rebuild, or another process): starting again from the stored ones');
      return 'reset';
    } finally {
      timer();
    }
    rowCache.trim();
    for (const [name, at] of moved) stored.set(name, at);
    for (const name of names) if (!paused.has(name)) reached.set(name, last);
    if (changeLog) {
      changeLog.committed?.(last, changes);
      await pruneNow();
    } else feed.publish(changes);
    wakeWaiters();
    return 'applied';
  };

  let prunedAt = Date.now();
  const pruneNow = async () => {
    if (Date.now() - prunedAt < 60_000) return;
    prunedAt = Date.now();
    await pruneChangeLog(db).catch((error: unknown) => logger.warn({ err: error }, 'change log not pruned'));
  };

  const run = async () => {
    const log = logger.child({ component: 'projections' });
    let failures = 0;
    while (!stopped) {
      try {
        restart = false;
        const state = await progress();
        const subscription = store.subscribeToAll({ after: earliest(state) });
        const close = () => subscription.close();
        closers.add(close);
        try {
          for await (const batch of batched(subscription, batchSize)) {
            if ((await applyToAll(batch, state)) === 'reset' || restart) break;
            failures = 0;
          }
        } finally {
          closers.delete(close);
          await close();
        }
      } catch (error) {
        failures++;
        log.error({ err: error, failures }, 'projections failed; starting again from their checkpoints');
        await new Promise((r) => setTimeout(r, Math.min(5000, 50 * 2 ** failures)));
      }
    }
  };

  /** For a caller that drives the projections itself (a simulation): apply what the store holds now, or up to a place. */
  let drained: { state: Progress; cursor: GlobalPosition } | undefined;
  const drain = async (upTo?: GlobalPosition): Promise<void> => {
    if (!drained) {
      const state = await progress();
      drained = { state, cursor: earliest(state) };
    }
    const d = drained;
    const reached = () => upTo !== undefined && comparePositions(d.cursor, upTo) >= 0;
    while (!reached()) {
      let batch = await store.readAll({ after: d.cursor, maxCount: batchSize });
      if (upTo !== undefined) batch = batch.filter((e) => comparePositions(e.position, upTo) <= 0);
      if (batch.length === 0) {
        if (upTo === undefined) return;
        // committed, but behind a transaction still in flight (the store's read horizon): a moment
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      if ((await applyToAll(batch, d.state)) === 'reset') {
        drained = undefined;
        return drain(upTo);
      }
      d.cursor = batch.at(-1)!.position;
    }
  };

  const caughtUp = (position: GlobalPosition) =>
    projections.every((p) => {
      // paused: not waited for; resumed (followed again from the loop's next start): waited for
      if (paused.has(p.name) && !resuming.has(p.name)) return true;
      const at = reached.get(p.name);
      return at !== undefined && comparePositions(at, position) >= 0;
    });

  return {
    start() {
      loops.push(run());
    },
    drain,
    resume(name) {
      resuming.add(name);
      reached.delete(name);
      restart = true;
      drained = undefined;
      // ends the loop's subscription: it starts again from the checkpoints, the resumed one's included
      for (const close of closers) void close();
    },
    async waitFor(position, timeoutMs = 5000) {
      if (position === undefined) return true;
      const deadline = Date.now() + timeoutMs;
      while (!caughtUp(position)) {
        const left = deadline - Date.now();
        if (left <= 0 || stopped) return false;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return true;
    },
    async stop() {
      stopped = true;
      await Promise.all([...closers].map((close) => close()));
      wakeWaiters();
      await Promise.all(loops);
    },
  };
};
