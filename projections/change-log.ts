/**
 * Read-model changes across processes. On a PostgreSQL server the projection runner writes each
 * batch's changes to `hcp_change_log` in the transaction that applies the batch, and notifies
 * `hcp_changes` (delivered on commit, never for a rolled-back batch). Every process that serves
 * subscriptions follows the log: it LISTENs, and reads the rows after the last one it saw when
 * notified, every `pollMs` whatever happens, and after reconnecting, so a notification lost with
 * a connection delays a change but never loses it. Rows are numbered in commit order: the runner's
 * transactions queue on the checkpoints' row locks before they insert. The log keeps a few minutes.
 *
 * A row also says how far the projections have got (the batch's last position), which is what
 * an API instance waits for before it answers a mutation (read your writes).
 *
 * Where the runner runs in the follower's own process it hands each committed batch to the
 * follower (`ChangeLogWriter.committed`), which publishes it at once; its notification names the
 * runner as sender, so the follower does not read back what it already has, and a read (at a poll,
 * or on another sender's notification) fetches such rows without their changes.
 */
import type { Logger } from 'pino';
import { comparePositions, START, type GlobalPosition } from '../infra/event-store/position.ts';
import type { Database, Sql } from '../infra/postgres/database.ts';
import { listenToSchema, senderToken } from '../infra/postgres/listen.ts';
import type { ChangeFeed } from './change-feed.ts';
import type { Change } from './projection.ts';

export const CHANGE_LOG_SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS hcp_change_log (
  id               bigserial PRIMARY KEY,
  commit_position  bigint NOT NULL,
  prepare_position bigint NOT NULL,
  changes          jsonb NOT NULL,
  recorded_at      timestamptz NOT NULL DEFAULT now()
);`;

export const CHANGES_CHANNEL = 'hcp_changes';

/** How long rows are kept: a follower further behind than this has missed changes (and says so). */
export const CHANGE_LOG_KEEP_MS = 10 * 60_000;

/** What a projection runner records its batches as: the sender its notifications name, and who in its own process hears each batch once committed. */
export type ChangeLogWriter = { sender: string; committed?: (position: GlobalPosition, changes: readonly Change[]) => void };

/** A writer no follower in this process hears directly (its batches are read from the log). */
export const changeLogWriter = (): ChangeLogWriter => ({ sender: senderToken() });

/** The statement that records a batch's changes and position, its values as one JSON (a write of checkpoints.ts's writeBatch). */
export const changesWrite = (writer: ChangeLogWriter, position: GlobalPosition, changes: readonly Change[]): [string, string] => [
  `WITH recorded AS (
     INSERT INTO hcp_change_log (commit_position, prepare_position, changes)
     SELECT ($1::json->>'c')::bigint, ($1::json->>'p')::bigint, ($1::json->'changes')::jsonb RETURNING id)
   SELECT pg_notify('${CHANGES_CHANNEL}', current_schema() || ':' || ($1::json->>'sender') || ':changed') FROM recorded`,
  JSON.stringify({ c: position.commit.toString(), p: position.prepare.toString(), changes, sender: writer.sender }),
];

/** Inside the batch's transaction: its changes and its position, told to listeners on commit. */
export const recordChanges = (tx: Sql, writer: ChangeLogWriter, position: GlobalPosition, changes: readonly Change[]) => {
  const [text, values] = changesWrite(writer, position, changes);
  return tx.query(text, [values]);
};

/** Drops rows older than `keepMs`, always keeping the last (it holds the projections' position). */
export const pruneChangeLog = (db: Sql, keepMs = CHANGE_LOG_KEEP_MS) =>
  db.query(`DELETE FROM hcp_change_log WHERE recorded_at < now() - make_interval(secs => $1) AND id < (SELECT max(id) FROM hcp_change_log)`, [keepMs / 1000]);

export type ReadModelProgress = {
  /** Resolves once the read models hold the event at `position` (or after `timeoutMs`, with false). */
  waitFor(position: GlobalPosition | undefined, timeoutMs?: number): Promise<boolean>;
};

/** True as soon as either says the read models hold the position; false only when both give up. */
export const eitherCaughtUp = (a: Promise<boolean>, b: Promise<boolean>) =>
  new Promise<boolean>((resolve) => {
    let left = 2;
    const done = (caughtUp: boolean) => {
      if (caughtUp) resolve(true);
      else if (--left === 0) resolve(false);
    };
    for (const p of [a, b]) p.then(done, () => done(false));
  });

export type ChangeLogFollower = ReadModelProgress & {
  /** For a projection runner in this process: its batches reach this follower without a read. */
  writer: ChangeLogWriter;
  stop(): Promise<void>;
};

type Row = { id: string; c: string; p: string; changes: Change[] | null };

/** Publishes to `feed` every change any process's projections record, from now on. */
export const followChangeLog = async ({ db, feed, logger, pollMs = 1000 }: { db: Database; feed: ChangeFeed; logger: Logger; pollMs?: number }): Promise<ChangeLogFollower> => {
  if (!db.session) throw new Error('the change log is followed on a PostgreSQL server');
  const log = logger.child({ component: 'change-log' });
  const [start] = await db.query<{ id: string | null; c: string | null; p: string | null }>(
    `SELECT id::text, commit_position::text AS c, prepare_position::text AS p FROM hcp_change_log ORDER BY id DESC LIMIT 1`,
  );
  let lastId = BigInt(start?.id ?? 0);
  let heard: GlobalPosition = start?.c ? { commit: BigInt(start.c), prepare: BigInt(start.p!) } : START;
  let stopped = false;
  let waiters: Array<() => void> = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  /** A batch at a position past what was heard: published (its caller then wakes the waiters). */
  const hear = (position: GlobalPosition, changes: readonly Change[] | null) => {
    if (comparePositions(position, heard) <= 0) return;
    heard = position;
    if (changes) feed.publish(changes);
  };
  const me = senderToken();

  // one read at a time; a notification during a read asks for one more
  let reading: Promise<void> | undefined;
  let again = false;
  const readNew = async () => {
    for (;;) {
      // rows at or before what was heard (a runner of this process handed them over) come without their changes
      const rows = await db.query<Row>(
        `SELECT id::text, commit_position::text AS c, prepare_position::text AS p,
                CASE WHEN (commit_position, prepare_position) > ($2::bigint, $3::bigint) THEN changes END AS changes
           FROM hcp_change_log WHERE id > $1 ORDER BY id LIMIT 500`,
        [lastId.toString(), heard.commit.toString(), heard.prepare.toString()],
      );
      if (rows.length > 0 && BigInt(rows[0]!.id) > lastId + 1n && lastId > 0n) {
        const [{ min } = { min: null }] = await db.query<{ min: string | null }>(`SELECT min(id)::text AS min FROM hcp_change_log`);
        // ids are taken by rolled-back batches too: only rows pruned before they were read are missed
        if (min !== null && BigInt(min) > lastId + 1n) log.warn({ after: lastId.toString(), next: rows[0]!.id }, 'changes pruned before this process read them: live subscribers missed some updates');
      }
      for (const row of rows) {
        lastId = BigInt(row.id);
        hear({ commit: BigInt(row.c), prepare: BigInt(row.p) }, row.changes);
      }
      wake();
      if (rows.length < 500) return;
    }
  };
  const pull = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (reading) {
      again = true;
      return reading;
    }
    reading = readNew()
      .catch((error: unknown) => log.warn({ err: error }, 'reading the change log failed: read again at the next notification or poll'))
      .finally(() => {
        reading = undefined;
        if (again) {
          again = false;
          void pull();
        }
      });
    return reading;
  };

  // the listening connection, opened again when lost; each time it listens, a read catches up
  const listener = await listenToSchema(db, CHANGES_CHANNEL, {
    onNotified: ({ sender }) => sender !== me && void pull(),
    onListening: pull,
    retryMs: pollMs,
    warn: (message, error) => log.warn(error === undefined ? {} : { err: error }, message),
  });
  const poller = setInterval(() => void pull(), pollMs);

  return {
    writer: {
      sender: me,
      committed: (position, changes) => {
        hear(position, changes);
        wake();
      },
    },
    async waitFor(position, timeoutMs = 5000) {
      if (position === undefined) return true;
      const deadline = Date.now() + timeoutMs;
      while (comparePositions(heard, position) < 0) {
        const left = deadline - Date.now();
        if (left <= 0 || stopped) return false;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, pollMs));
          waiters.push(() => (clearTimeout(t), resolve()));
        });
      }
      return true;
    },
    async stop() {
      stopped = true;
      clearInterval(poller);
      await listener.stop();
      await reading;
      wake();
    },
  };
};
