/**
 * Market data: the latest price per feed, price history in time buckets, Bitcoin network stats and
 * day-ahead prices; a subscription per feed. Open to every authenticated role (customers see
 * prices, nothing of other customers).
 */
import type { Sql } from '../infra/postgres/database.ts';
import { z } from 'zod';
import { feedIdSchema, MARKET_NODES } from '../domain/market/ticks.ts';
import { InputError, parseInput } from './inputs.ts';
import { liveFeed, sharedLoad } from './live.ts';
import type { ApiContext, ApiServices } from './resolvers.ts';
import { HOUR_MS, iso } from '../domain/time.ts';

export const marketTypeDefs = /* GraphQL */ `
  enum PriceBucket { MINUTE FIVE_MINUTES FIFTEEN_MINUTES HOUR DAY }

  type Price {
    "btc-usd, power-<ercot hub>, gpu-<type>"
    feed: String!
    at: String!
    priceMicroUsd: SafeInt!
    priceUsd: Float!
  }

  type PriceBar {
    start: String!
    openMicroUsd: SafeInt!
    highMicroUsd: SafeInt!
    lowMicroUsd: SafeInt!
    closeMicroUsd: SafeInt!
    averageMicroUsd: SafeInt!
    closeUsd: Float!
    ticks: Int!
  }

  type NetworkStats { at: String!, difficulty: Float!, subsidySats: SafeInt!, feesPerBlockSats: SafeInt! }

  "A node's day-ahead price for one hour, as published before it (USD/MWh)."
  type DayAheadPrice { node: String!, hour: String!, priceMicroUsd: SafeInt!, priceUsd: Float!, publishedAt: String! }

  extend type Query {
    latestPrices: [Price!]!
    "Bars of one feed in [from, to), at most 5,000 buckets."
    prices(feed: String!, from: String!, to: String!, bucket: PriceBucket = HOUR): [PriceBar!]!
    networkStats: NetworkStats
    "Day-ahead prices of an ERCOT hub (HB_WEST, HB_NORTH, …) for the hours in [from, to), at most 744 hours (a month)."
    dayAheadPrices(node: String!, from: String!, to: String!): [DayAheadPrice!]!
  }

  extend type Subscription {
    "Each new price of a feed, or of every feed."
    priceTicked(feed: String): Price!
  }
`;

export const BUCKETS = { MINUTE: '1 minute', FIVE_MINUTES: '5 minutes', FIFTEEN_MINUTES: '15 minutes', HOUR: '1 hour', DAY: '1 day' } as const;
export type Bucket = keyof typeof BUCKETS;
export const BUCKET_MS: Record<Bucket, number> = { MINUTE: 60_000, FIVE_MINUTES: 300_000, FIFTEEN_MINUTES: 900_000, HOUR: 3_600_000, DAY: 86_400_000 };

/** How many buckets [from, to) touches (buckets are aligned to 2000-01-01T00:00Z, like date_bin below). */
export const bucketsSpanned = (fromMs: number, toMs: number, bucket: Bucket) => {
  const origin = Date.UTC(2000, 0, 1);
  const size = BUCKET_MS[bucket];
  return toMs <= fromMs ? 0 : Math.floor((toMs - 1 - origin) / size) - Math.floor((fromMs - origin) / size) + 1;
};

const usd = (micro: number) => micro / 1_000_000;

type LatestRow = { feed: string; at: string | Date; price_micro_usd: string };
const toPrice = (r: LatestRow) => ({ feed: r.feed, at: iso(r.at), priceMicroUsd: Number(r.price_micro_usd), priceUsd: usd(Number(r.price_micro_usd)) });

export const latestPrices = async (db: Sql) =>
  (await db.query<LatestRow>(`SELECT feed, at, price_micro_usd::text FROM rm_prices_latest ORDER BY feed`)).map(toPrice);

/** One feed's latest price: one row, not the table. */
export const latestPrice = async (db: Sql, feed: string) => {
  const [row] = await db.query<LatestRow>(`SELECT feed, at, price_micro_usd::text FROM rm_prices_latest WHERE feed = $1`, [feed]);
  return row ? toPrice(row) : undefined;
};

/** At most this many buckets per query, so a year of one-minute buckets is refused rather than streamed. */
export const MAX_BUCKETS = 5000;

export const priceHistory = async (db: Sql, q: { feed: string; from: string; to: string; bucket: Bucket }) => {
  const rows = await db.query<{ start: string | Date; open: string; high: string; low: string; close: string; average: string; n: number }>(
    `SELECT date_bin($4::interval, at, TIMESTAMPTZ '2000-01-01') AS start,
            ((array_agg(price_micro_usd ORDER BY at, tick_id))[1])::text AS open,
            max(price_micro_usd)::text AS high,
            min(price_micro_usd)::text AS low,
            ((array_agg(price_micro_usd ORDER BY at DESC, tick_id DESC))[1])::text AS close,
            round(avg(price_micro_usd))::text AS average,
            count(*)::int AS n
       FROM rm_price_history
      WHERE feed = $1 AND at >= $2::timestamptz AND at < $3::timestamptz
      GROUP BY 1 ORDER BY 1 LIMIT ${MAX_BUCKETS}`,
    [q.feed, q.from, q.to, BUCKETS[q.bucket]],
  );
  return rows.map((r) => ({
    start: iso(r.start),
    openMicroUsd: Number(r.open),
    highMicroUsd: Number(r.high),
    lowMicroUsd: Number(r.low),
    closeMicroUsd: Number(r.close),
    averageMicroUsd: Number(r.average),
    closeUsd: usd(Number(r.close)),
    ticks: r.n,
  }));
};

export const networkStats = async (db: Sql) => {
  const [r] = await db.query<{ at: string | Date; difficulty: number; subsidy_sats: string; fees_per_block_sats: string }>(
    `SELECT at, difficulty, subsidy_sats::text, fees_per_block_sats::text FROM rm_network_latest LIMIT 1`,
  );
  return r
    ? { at: iso(r.at), difficulty: Number(r.difficulty), subsidySats: Number(r.subsidy_sats), feesPerBlockSats: Number(r.fees_per_block_sats) }
    : null;
};

/** At most this many hours per day-ahead query (a month). */
export const MAX_DAY_AHEAD_HOURS = 744;

export const dayAheadPrices = async (db: Sql, q: { node: string; from: string; to: string }) =>
  (
    await db.query<{ hour: string | Date; price: string; published: string | Date }>(
      `SELECT hour, price_micro_usd::text AS price, published_at AS published FROM rm_day_ahead
        WHERE node = $1 AND hour >= $2::timestamptz AND hour < $3::timestamptz ORDER BY hour LIMIT ${MAX_DAY_AHEAD_HOURS}`,
      [q.node, q.from, q.to],
    )
  ).map((r) => ({ node: q.node, hour: iso(r.hour), priceMicroUsd: Number(r.price), priceUsd: usd(Number(r.price)), publishedAt: iso(r.published) }));

/** An ISO time with any offset, passed on in UTC (PostgreSQL refuses year 0 and offsets past ±15:59 that ISO allows). */
const isoTime = z.iso
  .datetime({ offset: true })
  .transform((s) => new Date(s))
  .refine((d) => d.getUTCFullYear() >= 1 && d.getUTCFullYear() <= 9999, 'a time between years 1 and 9999')
  .transform((d) => d.toISOString());

/** A `from`..`to` pair of arguments, each parsed, `to` not before `from`. */
const timeRange = (args: { from: string; to: string }) => {
  const [from, to] = [parseInput(isoTime, args.from, 'from'), parseInput(isoTime, args.to, 'to')];
  if (Date.parse(to) < Date.parse(from)) throw new InputError('to', `${to} is before from (${from})`);
  return { from, to };
};

export const createMarketResolvers = ({ readModels: db, feed }: ApiServices) => {
  const deliveredPrice = sharedLoad(feed, (c) => (c.topic === 'price' ? c.feed : undefined), (f) => latestPrice(db, f));
  return {
    Query: {
      latestPrices: () => latestPrices(db),
      prices: (_: unknown, args: { feed: string; from: string; to: string; bucket?: Bucket }) => {
        const feedId = parseInput(feedIdSchema, args.feed, 'feed');
        const { from, to } = timeRange(args);
        const bucket = args.bucket ?? 'HOUR';
        // bounded before the database sees it: the aggregate would otherwise read every tick in the range
        const spanned = bucketsSpanned(Date.parse(from), Date.parse(to), bucket);
        if (spanned > MAX_BUCKETS)
          throw new InputError('to', `from..to spans ${spanned} ${bucket} buckets; at most ${MAX_BUCKETS}: narrow the range or use a larger bucket`);
        return priceHistory(db, { feed: feedId, from, to, bucket });
      },
      networkStats: () => networkStats(db),
      dayAheadPrices: (_: unknown, args: { node: string; from: string; to: string }) => {
        const node = parseInput(z.enum(MARKET_NODES, { message: `one of ${MARKET_NODES.join(', ')}` }), args.node, 'node');
        const { from, to } = timeRange(args);
        const hours = Math.ceil((Date.parse(to) - Date.parse(from)) / HOUR_MS);
        if (hours > MAX_DAY_AHEAD_HOURS) throw new InputError('to', `from..to spans ${hours} hours; at most ${MAX_DAY_AHEAD_HOURS}`);
        return dayAheadPrices(db, { node, from, to });
      },
    },
    Subscription: {
      priceTicked: {
        subscribe: async (_: unknown, args: { feed?: string | null }, _ctx: ApiContext) => {
          const only = args.feed == null ? undefined : parseInput(feedIdSchema, args.feed, 'feed');
          return liveFeed({
            feed,
            select: (c) => (c.topic === 'price' && c.feed !== 'network-btc' && (!only || c.feed === only) ? c.feed : undefined),
            load: deliveredPrice,
          });
        },
        resolve: (payload: unknown) => payload,
      },
    },
  };
};
