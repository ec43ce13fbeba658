/** Read-model queries for prices: latest per feed, and history in time buckets. */
import type { Sql } from '../infra/postgres/database.ts';
import { iso } from '../domain/time.ts';

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
