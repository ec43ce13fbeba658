/**
 * One platform clock for every process. Market time runs HCP_MARKET_SPEED times as fast as real
 * time from an anchor (a market instant and the real instant it was reached) kept in PostgreSQL,
 * so two API instances and a worker stamp commands, age queues and publish ticks on the same
 * time, and a worker that takes over goes on where its predecessor was, not from its own start.
 *
 * A process that starts while others run adopts their anchor (and re-reads it every `refreshMs`).
 * The first process to start after the platform was down sets a new anchor: market time then
 * resumes just after the last recorded tick (platformStart), as a single process always did,
 * instead of jumping ahead by the downtime times the speed. Whether others run is told by a
 * shared advisory lock every process holds on a session of its own while it lives (on PGlite
 * there is one process, always the first).
 */
import type { Logger } from 'pino';
import type { Clock } from '../infra/clock.ts';
import type { Config } from '../infra/config.ts';
import type { EventStore } from '../infra/event-store/types.ts';
import type { Database } from '../infra/postgres/database.ts';
import { migrate } from '../infra/postgres/migrate.ts';
import { marketSpeed } from '../infra/metrics.ts';
import { platformStart } from './market-feed.ts';
import { governSpeed } from './speed-governor.ts';

const SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS hcp_platform_clock (
  id           int PRIMARY KEY CHECK (id = 1),
  market_ms    bigint NOT NULL,
  real_ms      bigint NOT NULL,
  speed        double precision NOT NULL
);
-- a heartbeat once written by every process and never read (membership is the advisory lock)
ALTER TABLE hcp_platform_clock DROP COLUMN IF EXISTS heartbeat_ms;`;

const MEMBERS_KEY = `hashtextextended(current_schema() || ':hcp-platform-members', 0)`;

type Anchor = { marketMs: number; realMs: number; speed: number };
type Row = { market_ms: string; real_ms: string; speed: number };

const anchorOf = (r: Row): Anchor => ({ marketMs: Number(r.market_ms), realMs: Number(r.real_ms), speed: Number(r.speed) });

export type PlatformClock = Clock & {
  /** Market time when this process joined. */
  readonly startMs: number;
  /** Whether market time resumed after the last recorded tick (rather than from HCP_MARKET_START). */
  readonly resumed: boolean;
  stop(): void;
};

export const sharedPlatformClock = async ({
  db,
  store,
  config,
  logger,
  real = () => Date.now(),
  refreshMs = 2_000,
  governed = db.kind === 'pglite',
}: {
  db: Database;
  store: EventStore;
  config: Config;
  logger: Logger;
  real?: () => number;
  refreshMs?: number;
  /** Market time slows while the event loop lags (cli/speed-governor.ts): the embedded platform's, one process. */
  governed?: boolean;
}): Promise<PlatformClock> => {
  await migrate(db, 'hcp_platform_clock', SCHEMA);
  const speed = config.HCP_MARKET_SPEED;
  const { startMs, resumed } = await platformStart(config, store);
  // alone if no other process holds the members' lock; then hold it shared for as long as this one lives
  const membership = db.session ? await db.session() : undefined;
  const alone = membership ? (await membership.query<{ held: boolean }>(`SELECT pg_try_advisory_lock(${MEMBERS_KEY}) AS held`))[0]!.held : true;
  const { anchor, joined } = await db.transaction(async (tx) => {
    const [row] = await tx.query<Row>(`SELECT market_ms::text, real_ms::text, speed FROM hcp_platform_clock WHERE id = 1 FOR UPDATE`);
    if (row && !alone && Number(row.speed) === speed) return { anchor: anchorOf(row), joined: true };
    // the first after a stop, or started at another speed: market time goes on from the last tick
    const now = real();
    await tx.query(
      `INSERT INTO hcp_platform_clock (id, market_ms, real_ms, speed) VALUES (1, $1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET market_ms = $1, real_ms = $2, speed = $3`,
      [startMs, now, speed],
    );
    return { anchor: { marketMs: startMs, realMs: now, speed }, joined: false };
  });
  if (membership) {
    await membership.query(`SELECT pg_advisory_lock_shared(${MEMBERS_KEY})`);
    if (alone) await membership.query(`SELECT pg_advisory_unlock(${MEMBERS_KEY})`);
  }
  let current = anchor;
  const now = () => current.marketMs + Math.floor((real() - current.realMs) * current.speed);
  marketSpeed.set(current.speed);
  // one process: nothing to re-read, and a new speed is anchored here, where market time is now
  const governor = governed
    ? governSpeed({
        asked: speed,
        onSpeed: (next, load) => {
          const at = now();
          current = { marketMs: at, realMs: real(), speed: next };
          marketSpeed.set(next);
          logger.debug({ speed: Math.round(next), asked: speed, busy: Math.round(load.utilization * 100) / 100, lagP99Ms: Math.round(load.lagP99Ms) }, 'market speed governed');
        },
      })
    : undefined;
  // several processes: each re-reads the anchor another may have set
  const refresh = governed
    ? undefined
    : setInterval(() => {
        db.query<Row>(`SELECT market_ms::text, real_ms::text, speed FROM hcp_platform_clock WHERE id = 1`)
          .then(([row]) => {
            if (row) current = anchorOf(row);
          })
          .catch((error: unknown) => logger.warn({ err: error }, 'platform clock not re-read'));
      }, refreshMs);
  refresh?.unref();
  const joinedAt = now();
  return {
    now: () => new Date(now()),
    startMs: joinedAt,
    resumed: !joined && resumed,
    stop() {
      clearInterval(refresh);
      governor?.stop();
      void membership?.close();
    },
  };
};
