/** Read model of market prices (latest per feed, and history for time buckets) and Bitcoin network stats. */
import { NETWORK_FEED, type NetworkStats, type PriceTick } from '../domain/market/ticks.ts';
import type { RecordedEvent } from '../infra/event-store/types.ts';
import type { Change, Projection } from './projection.ts';

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
`;

export const marketProjection: Projection = {
  name: 'market',
  eventTypes: new Set(['PriceTicked', 'NetworkStatsUpdated']),
  schema: SCHEMA,
  tables: ['rm_price_history', 'rm_prices_latest', 'rm_network_latest'],
  async apply(tx, recorded: RecordedEvent): Promise<Change[]> {
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
    return [];
  },
};
