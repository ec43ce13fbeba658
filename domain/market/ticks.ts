/**
 * Market facts: price ticks and Bitcoin network stats, as they arrive on the bus
 * (Kafka or in-process) and as they are recorded (`market-<feed>` streams).
 * Prices are integer micro-USD per the feed's unit; times are ISO-8601 UTC.
 */
import { z } from 'zod';

/** ERCOT settlement points that ../shared/data covers. */
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

const isoTime = z.iso.datetime({ offset: false });
/** Prices up to $10^9 per unit; electricity may be negative (ERCOT West). */
const microUsd = z.number().int().min(-10_000_000_000_000).max(1_000_000_000_000_000);

export const priceTickSchema = z.strictObject({
  kind: z.literal('price'),
  /** Unique per tick and source; redeliveries carry the same id. */
  tickId: z.string().min(1).max(128),
  feed: feedIdSchema,
  at: isoTime,
  priceMicroUsd: microUsd,
});
export type PriceTick = z.infer<typeof priceTickSchema>;

export const networkStatsSchema = z.strictObject({
  kind: z.literal('network'),
  tickId: z.string().min(1).max(128),
  at: isoTime,
  /** Bitcoin difficulty (about 1.1e14 at the end of 2024: a safe integer). */
  difficulty: z.number().positive().max(Number.MAX_SAFE_INTEGER),
  /** Block subsidy in satoshis (312,500,000 since block 840,000). */
  subsidySats: z.number().int().min(0).max(5_000_000_000),
  /** Average transaction fees per block in satoshis. */
  feesPerBlockSats: z.number().int().min(0).max(100_000_000_000),
});
export type NetworkStats = z.infer<typeof networkStatsSchema>;

export const marketTickSchema = z.discriminatedUnion('kind', [priceTickSchema, networkStatsSchema]);
export type MarketTick = z.infer<typeof marketTickSchema>;

export const NETWORK_FEED = 'network-btc';
export const marketStream = (tick: MarketTick) => `market-${tick.kind === 'price' ? tick.feed : NETWORK_FEED}`;

export const usdToMicro = (usd: number) => Math.round(usd * 1_000_000);
export const SATS_PER_BTC = 100_000_000;
