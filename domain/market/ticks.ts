/**
 * Market facts: price ticks, Bitcoin network stats and day-ahead price schedules, as they
 * arrive on the bus (Kafka or in-process) and as they are recorded (`market-<feed>` streams;
 * day-ahead schedules on `market-<node>-da`). Prices are integer micro-USD per the feed's
 * unit; times are ISO-8601 UTC.
 */
import { z } from 'zod';
import { DAY_MS, HOUR_MS } from '../time.ts';

/** ERCOT settlement points that simulators/market/data covers. */
export const MARKET_NODES = ['HB_WEST', 'HB_NORTH', 'HB_HOUSTON', 'HB_SOUTH', 'HB_PAN', 'HB_HUBAVG'] as const;
export type MarketNode = (typeof MARKET_NODES)[number];

/** A price feed id: `btc-usd`, `power-<node>` (USD/MWh), `gpu-<type>` (USD per GPU-hour). */
export const feedIdSchema = z
  .string()
  .regex(/^(btc-usd|power-hb_(west|north|houston|south|pan|hubavg)|gpu-(h100|a100|l40s))$/, 'btc-usd, power-<ercot hub> or gpu-<h100|a100|l40s>');
export type FeedId = z.infer<typeof feedIdSchema>;

export const FEED_UNITS = { btc: 'USD/BTC', power: 'USD/MWh', gpu: 'USD/GPU-hour' } as const;
export const unitOfFeed = (feed: FeedId) =>
  feed === 'btc-usd' ? FEED_UNITS.btc : feed.startsWith('power-') ? FEED_UNITS.power : FEED_UNITS.gpu;

export const powerFeed = (node: MarketNode): FeedId => `power-${node.toLowerCase()}` as FeedId;
export const gpuFeed = (gpuType: 'H100' | 'A100' | 'L40S'): FeedId => `gpu-${gpuType.toLowerCase()}` as FeedId;

/**
 * When a market fact can be: from the Bitcoin genesis block to the end of this century. A tick
 * dated year 9999 is valid ISO and would be recorded for good, stop the latest price moving
 * (it never falls back in time) and send every resumed replay past it.
 */
export const MARKET_TIME_RANGE = { from: '2009-01-03T00:00:00.000Z', to: '2100-01-01T00:00:00.000Z' } as const;
const isoTime = z.iso
  .datetime({ offset: false })
  .refine((s) => Date.parse(s) >= Date.parse(MARKET_TIME_RANGE.from) && Date.parse(s) < Date.parse(MARKET_TIME_RANGE.to), {
    message: `must lie between ${MARKET_TIME_RANGE.from} and ${MARKET_TIME_RANGE.to}`,
  });

const usd = (dollars: number) => dollars * 1_000_000;
/**
 * What a price of each kind can plausibly be, in micro-USD: a tick outside is refused, not
 * recorded. BTC and GPU-hours are never free or negative; ERCOT real-time prices in the market
 * data run from −$84 to $5,334/MWh (offer cap $5,000 plus adders; the cap was $9,000 until
 * 2021), so −$1,000..$20,000 leaves room for what is real and none for a slipped decimal point.
 */
export const PLAUSIBLE_PRICE_MICRO_USD: Record<'btc' | 'power' | 'gpu', { min: number; max: number }> = {
  // the synthetic market's BTC has no ceiling of its own (a bull regime drifts +149 %/yr): $10^9 is absurd, $10^7 is only early
  btc: { min: 1, max: usd(1_000_000_000) },
  power: { min: usd(-1_000), max: usd(20_000) },
  gpu: { min: 1, max: usd(1_000) },
};
export const plausiblePrice = (feed: string) => PLAUSIBLE_PRICE_MICRO_USD[feed === 'btc-usd' ? 'btc' : feed.startsWith('power-') ? 'power' : 'gpu'];

export const priceTickSchema = z
  .strictObject({
    kind: z.literal('price'),
    /** Unique per tick and source; redeliveries carry the same id. */
    tickId: z.string().min(1).max(128),
    feed: feedIdSchema,
    at: isoTime,
    priceMicroUsd: z.number().int(),
  })
  .superRefine((tick, ctx) => {
    const { min, max } = plausiblePrice(tick.feed);
    if (!(tick.priceMicroUsd >= min && tick.priceMicroUsd <= max))
      ctx.addIssue({ code: 'custom', path: ['priceMicroUsd'], message: `a ${tick.feed} price must lie between ${min} and ${max} micro-USD (${unitOfFeed(tick.feed)})` });
  });
export type PriceTick = z.infer<typeof priceTickSchema>;

export const networkStatsSchema = z.strictObject({
  kind: z.literal('network'),
  tickId: z.string().min(1).max(128),
  at: isoTime,
  /** Bitcoin difficulty: 1 at genesis, about 1.1e14 at the end of 2024 (a safe integer). */
  difficulty: z.number().min(1).max(Number.MAX_SAFE_INTEGER),
  /** Block subsidy in satoshis (312,500,000 since block 840,000). */
  subsidySats: z.number().int().min(0).max(5_000_000_000),
  /** Average transaction fees per block in satoshis. */
  feesPerBlockSats: z.number().int().min(0).max(100_000_000_000),
});
export type NetworkStats = z.infer<typeof networkStatsSchema>;

/**
 * When the day-ahead prices of UTC day `dayStartMs` are public: 20:00 UTC the day before.
 * ERCOT posts its day-ahead market by about 13:30 Central (18:30 UTC in summer, 19:30 in winter)
 * for the Central operating day; 20:00 UTC is after both, so a controller never sees a price
 * earlier than it could have (the first hours of a UTC day, which belong to the Central day
 * before, were public a day earlier still). The replay and the synthetic market publish on it;
 * the backtest holds back what it would not yet have published.
 */
export const dayAheadPublishedAt = (dayStartMs: number) => dayStartMs - 4 * HOUR_MS;

/** Whether the day-ahead price of the hour starting at `hourMs` is public at `atMs`. */
export const dayAheadPublic = (hourMs: number, atMs: number) => dayAheadPublishedAt(Math.floor(hourMs / DAY_MS) * DAY_MS) <= atMs;

/**
 * A node's day-ahead prices as the market publishes them, before the hours they price: one
 * schedule per operating day, `at` = when it was published (a controller may use it from then
 * on, never before), `fromHour` = the first hour it prices. A null is an hour the market left
 * unpriced (the source has gaps).
 */
export const dayAheadScheduleSchema = z
  .strictObject({
    kind: z.literal('day-ahead'),
    tickId: z.string().min(1).max(128),
    node: z.enum(MARKET_NODES),
    at: isoTime,
    fromHour: isoTime.refine((s) => Date.parse(s) % HOUR_MS === 0, { message: 'must be on the hour' }),
    hourlyMicroUsdPerMwh: z.array(z.number().int().nullable()).min(1).max(48),
  })
  .superRefine((s, ctx) => {
    const { min, max } = PLAUSIBLE_PRICE_MICRO_USD.power;
    s.hourlyMicroUsdPerMwh.forEach((v, h) => {
      if (v !== null && !(v >= min && v <= max)) ctx.addIssue({ code: 'custom', path: ['hourlyMicroUsdPerMwh', h], message: `a day-ahead price must lie between ${min} and ${max} micro-USD (USD/MWh)` });
    });
    // published before the hours it prices: a schedule stamped after its first hour would let a replay see its own past as a forecast
    if (Date.parse(s.at) > Date.parse(s.fromHour)) ctx.addIssue({ code: 'custom', path: ['at'], message: 'a day-ahead schedule is published before its first hour (at ≤ fromHour)' });
  });
export type DayAheadSchedule = z.infer<typeof dayAheadScheduleSchema>;

export const marketTickSchema = z.discriminatedUnion('kind', [priceTickSchema, networkStatsSchema, dayAheadScheduleSchema]);
export type MarketTick = z.infer<typeof marketTickSchema>;

export const NETWORK_FEED = 'network-btc';
/** The feed of a node's day-ahead schedules (stream `market-<node>-da`). */
export const dayAheadFeed = (node: MarketNode) => `${node.toLowerCase()}-da`;
/** A tick's feed key: the price feed id, `network-btc`, or `<node>-da`. */
export const feedKey = (tick: MarketTick): string => (tick.kind === 'price' ? tick.feed : tick.kind === 'network' ? NETWORK_FEED : dayAheadFeed(tick.node));
export const marketStream = (tick: MarketTick) => `market-${feedKey(tick)}`;

export const usdToMicro = (usd: number) => Math.round(usd * 1_000_000);
export const SATS_PER_BTC = 100_000_000;
