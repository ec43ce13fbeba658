/**
 * One leader per singleton (the projection runner, the process managers, the market feed): of
 * all the processes that offer to do a piece of work, the one holding a PostgreSQL advisory
 * lock does it. The lock is a session lock on a connection of its own, so it goes with the
 * connection: a process that dies (SIGKILL included) drops its connection and the server frees
 * the lock at once; a standby asking every `retryMs` takes over and starts the work, which goes
 * on from its checkpoints. Work done twice in the moment of a takeover is harmless: projections
 * apply under their checkpoints' row locks (exactly once), process managers react with command
 * ids derived from the events (idempotent appends).
 *
 * The key is the lock's name within the current schema, so platforms in different schemas of one
 * database (tests, side-by-side installs) elect their own leaders. On embedded PGlite there is one
 * process (the data folder is locked to it), which simply leads.
 */
import type { Logger } from 'pino';
import { sleepUnlessAborted } from '../clock.ts';
import type { Database, Session } from './database.ts';

export type Work = { stop(): Promise<void> };

export type Leadership = {
  /** Whether this process does the work now. */
  leading(): boolean;
  /**
   * Settles after the first attempt: the work started here, or another process holds it (or, on a
   * server, starting failed and is tried again). Alone on PGlite, rejects when the work cannot start.
   */
  readonly settled: Promise<void>;
  /** Stops the work if it runs here and gives the lock up. */
  stop(): Promise<void>;
};

export type LeadOptions = {
  db: Database;
  /** The singleton's name, e.g. `projections`. */
  name: string;
  logger: Logger;
  /** Starts the work; resolves once it runs. `signal` aborts when the process stops meanwhile. */
  start: (signal: AbortSignal) => Promise<Work>;
  /** How often a standby asks for the lock. */
  retryMs?: number;
  /** How often the leader checks its connection; a check unanswered for two periods counts as lost. */
  heartbeatMs?: number;
};

const LOCK_KEY = `hashtextextended(current_schema() || ':hcp-leader:' || $1, 0)`;


/** Resolves when the session stops answering (or ends), checking every `everyMs`. */
const lost = async (session: Session, everyMs: number, signal: AbortSignal): Promise<void> => {
  let ended = false;
  void session.ended.then(() => (ended = true));
  while (!signal.aborted && !ended) {
    const answered = await Promise.race([
      session.query('SELECT 1').then(
        () => true,
        () => false,
      ),
      session.ended.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(false), 2 * everyMs).unref()),
    ]);
    if (!answered) return;
    await Promise.race([sleepUnlessAborted(everyMs, signal), session.ended]);
  }
};

export const lead = ({ db, name, logger, start, retryMs = 1000, heartbeatMs = 2000 }: LeadOptions): Leadership => {
  const log = logger.child({ leader: name });
  const stopping = new AbortController();
  let leading = false;
  let settle!: () => void;
  let fail!: (error: unknown) => void;
  const settled = new Promise<void>((resolve, reject) => ((settle = resolve), (fail = reject)));

  const run = async () => {
    if (!db.session) {
      leading = true;
      // alone, a work that cannot start is the caller's failure, told through `settled`
      const work = await start(stopping.signal).catch((error: unknown) => {
        leading = false;
        fail(error);
      });
      if (!work) return;
      settle();
      await new Promise((r) => stopping.signal.addEventListener('abort', r, { once: true }));
      leading = false;
      await work.stop();
      return;
    }
    let failures = 0;
    while (!stopping.signal.aborted) {
      let session: Session | undefined;
      try {
        session = await db.session();
        let standingBy = false;
        while (!stopping.signal.aborted) {
          const [row] = await session.query<{ held: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS held`, [name]);
          if (row?.held) break;
          if (!standingBy) log.info('another process leads: standing by');
          standingBy = true;
          settle();
          await Promise.race([sleepUnlessAborted(retryMs, stopping.signal), session.ended]);
        }
        if (stopping.signal.aborted) break;
        log.info('leading');
        leading = true;
        const work = await start(stopping.signal);
        settle();
        failures = 0;
        await lost(session, heartbeatMs, stopping.signal);
        leading = false;
        if (!stopping.signal.aborted) log.warn('lost the connection that holds the lead: stopping the work, then asking again');
        await work.stop();
      } catch (error) {
        leading = false;
        failures++;
        if (!stopping.signal.aborted) log.error({ err: error, failures }, 'leading failed: asking again');
        settle();
        await sleepUnlessAborted(Math.min(10_000, retryMs * failures), stopping.signal);
      } finally {
        // ending the session frees the lock
        await session?.close();
      }
    }
  };
  const running = run();
  return {
    leading: () => leading,
    settled,
    async stop() {
      stopping.abort();
      await running;
    },
  };
};
