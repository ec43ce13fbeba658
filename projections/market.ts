/** Read model of market prices (latest per feed, and history for time buckets), Bitcoin network stats and day-ahead prices. */
import { NETWORK_FEED, type DayAheadSchedule, type NetworkStats, type PriceTick } from '../domain/market/ticks.ts';
import type { RecordedEvent } from '../infra/event-store/types.ts';
import { oneByOne, type Change, type Projection } from './projection.ts';

const SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS rm_price_history (
  feed             text NOT NULL,
  at               timestamptz NOT NULL,
  price_micro_usd  bigint NOT NULL,
  tick_id          text NOT NULL,
  PRIMARY KEY (feed, at, tick_id)
);
CREATE TABLE IF NOT EXISTS rm_prices_latest (
  feed             text PRIMARY KEY,
  at               timestamptz NOT NULL,
  price_micro_usd  bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS rm_network_latest (
  feed                text PRIMARY KEY,
  at                  timestamptz NOT NULL,
  difficulty          double precision NOT NULL,
  subsidy_sats        bigint NOT NULL,
  fees_per_block_sats bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS rm_day_ahead (
  node             text NOT NULL,
  hour             timestamptz NOT NULL,
  price_micro_usd  bigint NOT NULL,
  published_at     timestamptz NOT NULL,
  PRIMARY KEY (node, hour)
);
`;

export const marketProjection: Projection = {
  name: 'market',
  // 2: day-ahead prices
  version: 2,
  eventTypes: new Set(['PriceTicked', 'NetworkStatsUpdated', 'DayAheadPublished']),
  schema: SCHEMA,
  tables: ['rm_price_history', 'rm_prices_latest', 'rm_network_latest', 'rm_day_ahead'],
  apply: oneByOne(async (tx, recorded: RecordedEvent): Promise<Change[]> => {
    if (recorded.type === 'PriceTicked') {
      const tick = recorded.data as PriceTick;
      await tx.query(
        `INSERT INTO rm_price_history (feed, at, price_micro_usd, tick_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
        [tick.feed, tick.at, tick.priceMicroUsd, tick.tickId],
      );
      // ticks can arrive out of order (replays, redeliveries): the latest is the newest in time
      await tx.query(
        `INSERT INTO rm_prices_latest (feed, at, price_micro_usd) VALUES ($1, $2, $3)
         ON CONFLICT (feed) DO UPDATE SET at = excluded.at, price_micro_usd = excluded.price_micro_usd
         WHERE rm_prices_latest.at <= excluded.at`,
        [tick.feed, tick.at, tick.priceMicroUsd],
      );
      return [{ topic: 'price', feed: tick.feed }];
    }
    if (recorded.type === 'NetworkStatsUpdated') {
      const s = recorded.data as NetworkStats;
      await tx.query(
        `INSERT INTO rm_network_latest (feed, at, difficulty, subsidy_sats, fees_per_block_sats) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (feed) DO UPDATE SET at = excluded.at, difficulty = excluded.difficulty, subsidy_sats = excluded.subsidy_sats,
           fees_per_block_sats = excluded.fees_per_block_sats
         WHERE rm_network_latest.at <= excluded.at`,
        [NETWORK_FEED, s.at, s.difficulty, s.subsidySats, s.feesPerBlockSats],
      );
      return [{ topic: 'price', feed: NETWORK_FEED }];
    }
    if (recorded.type === 'DayAheadPublished') {
      const d = recorded.data as DayAheadSchedule;
      // a schedule published again (a correction) replaces the earlier one's hours
      await tx.query(
        `INSERT INTO rm_day_ahead (node, hour, price_micro_usd, published_at)
         SELECT $1, $2::timestamptz + (h.i - 1) * interval '1 hour', h.price, $3
           FROM unnest($4::bigint[]) WITH ORDINALITY AS h(price, i) WHERE h.price IS NOT NULL
         ON CONFLICT (node, hour) DO UPDATE SET price_micro_usd = excluded.price_micro_usd, published_at = excluded.published_at
         WHERE rm_day_ahead.published_at <= excluded.published_at`,
        [d.node, d.fromHour, d.at, d.hourlyMicroUsdPerMwh.map((v) => (v === null ? null : String(v)))],
      );
      return []; // no subscription carries day-ahead prices (priceTicked is real-time prices)
    }
    return [];
  }),
};
