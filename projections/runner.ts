/**
 * Runs projections: follows the event store from each projection's checkpoint and
 * applies events in batches, each batch and its checkpoint in one transaction, then
 * tells the change feed, so a live subscriber never hears of a change a query
 * cannot see yet. Delivery is at least once; the checkpoint check inside the
 * transaction makes the effect exactly once (invariant 7).
 */
import type { Logger } from 'pino';
import type { Database } from '../infra/postgres/database.ts';
import { migrate } from '../infra/postgres/migrate.ts';
import { comparePositions, encodePosition, START, type GlobalPosition } from '../infra/event-store/position.ts';
import type { EventStore, RecordedEvent } from '../infra/event-store/types.ts';
import type { ChangeFeed } from './change-feed.ts';
import { CHECKPOINT_SCHEMA, lockCheckpoint, readCheckpoint, saveCheckpoint } from './checkpoints.ts';
import type { Change, Projection } from './projection.ts';

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
    const changes: Change[] = [];
    for (const event of fresh) changes.push(...(await projection.apply(tx, event)));
    const last = fresh.at(-1)?.position;
    if (last) await saveCheckpoint(tx, projection.name, last, fresh.length);
    return { type: 'applied', checkpoint: last ?? checkpoint, applied: fresh.length, changes };
  });

export const migrateProjections = async (db: Database, projections: readonly Projection[]) => {
  await migrate(db, 'hcp_checkpoints', CHECKPOINT_SCHEMA);
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
      for (const event of events) await projection.apply(tx, event);
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
  /** Resolves once every projection has applied the event at `position` (or after `timeoutMs`, with false). */
  waitFor(position: GlobalPosition | undefined, timeoutMs?: number): Promise<boolean>;
  stop(): Promise<void>;
};

export type RunnerOptions = {
  db: Database;
  store: EventStore;
  projections: readonly Projection[];
  feed: ChangeFeed;
  logger: Logger;
  batchSize?: number;
};

export const createProjectionRunner = ({ db, store, projections, feed, logger, batchSize = 500 }: RunnerOptions): ProjectionRunner => {
  let stopped = false;
  const reached = new Map<string, GlobalPosition>();
  const closers = new Set<() => Promise<void>>();
  const loops: Promise<void>[] = [];
  let waiters: Array<() => void> = [];
  const wakeWaiters = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };

  const runOne = async (projection: Projection) => {
    const log = logger.child({ projection: projection.name });
    let failures = 0;
    while (!stopped) {
      try {
        let delivered = await readCheckpoint(db, projection.name);
        reached.set(projection.name, delivered);
        wakeWaiters();
        const subscription = store.subscribeToAll({ after: delivered });
        const close = () => subscription.close();
        closers.add(close);
        try {
          for await (const batch of batched(subscription, batchSize)) {
            const outcome = await applyBatch(db, projection, batch, delivered);
            if (outcome.type === 'behind') {
              log.info({ checkpoint: encodePosition(outcome.checkpoint) }, 'checkpoint was reset; restarting from it');
              break;
            }
            delivered = batch.at(-1)!.position;
            failures = 0;
            reached.set(projection.name, outcome.checkpoint);
            feed.publish(outcome.changes);
            wakeWaiters();
          }
        } finally {
          closers.delete(close);
          await close();
        }
      } catch (error) {
        failures++;
        log.error({ err: error, failures }, 'projection failed; restarting from its checkpoint');
        await new Promise((r) => setTimeout(r, Math.min(5000, 50 * 2 ** failures)));
      }
    }
  };

  const caughtUp = (position: GlobalPosition) =>
    projections.every((p) => {
      const at = reached.get(p.name);
      return at !== undefined && comparePositions(at, position) >= 0;
    });

  return {
    start() {
      for (const p of projections) loops.push(runOne(p));
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
