/**
 * The bench's market: a facility of one ASIC group in a few blocks at one ERCOT node, and
 * the ticks that make its controller flip every block each 15-minute interval — electricity
 * far above the S21 strike price (about $130/MWh with the primed BTC price and network),
 * then far below it.
 */
import type { FacilitySpec } from '../../domain/fleet/inventory.ts';
import { gpuFeed, powerFeed, usdToMicro, type MarketTick, type PriceTick } from '../../domain/market/ticks.ts';
import { iso } from '../../domain/time.ts';

export const INTERVAL_MS = 900_000;

export const benchFacility = (blocks: number): FacilitySpec => ({
  facilityId: 'bench-site',
  name: 'Bench Site',
  marketNode: 'HB_WEST',
  // nameplate (3.5 kW a unit) plus headroom: the budget never binds, only prices decide
  powerBudgetKw: Math.ceil((blocks * 1000 * 3.5 * 1.2) / 100) * 100,
  asicGroups: [{ model: 'S21', count: blocks * 1000 }],
  gpuPools: [],
});

export const HIGH_USD_PER_MWH = 2_000;
export const LOW_USD_PER_MWH = 5;


/** BTC, network and GPU rates in force before the first interval (once per run). */
export const primingTicks = (tag: string, atMs: number): MarketTick[] => [
  { kind: 'network', tickId: `${tag}:network`, at: iso(atMs), difficulty: 110_000_000_000_000, subsidySats: 312_500_000, feesPerBlockSats: 5_000_000 },
  { kind: 'price', tickId: `${tag}:btc`, feed: 'btc-usd', at: iso(atMs), priceMicroUsd: usdToMicro(95_000) },
  ...(['H100', 'A100', 'L40S'] as const).map(
    (g, i): PriceTick => ({ kind: 'price', tickId: `${tag}:${g}`, feed: gpuFeed(g), at: iso(atMs), priceMicroUsd: usdToMicro([2.4, 1.3, 0.9][i]!) }),
  ),
];

/** The electricity tick opening interval `k` after `startMs`: high on odd intervals, low on even ones. */
export const electricityTick = (tag: string, facility: FacilitySpec, startMs: number, k: number): PriceTick => ({
  kind: 'price',
  tickId: `${tag}:power:${k}`,
  feed: powerFeed(facility.marketNode),
  at: iso(startMs + k * INTERVAL_MS),
  priceMicroUsd: usdToMicro(k % 2 === 1 ? HIGH_USD_PER_MWH : LOW_USD_PER_MWH),
});

export const THROUGHPUT_FEEDS = ['btc-usd', 'power-hb_west', 'power-hb_north', 'power-hb_houston', 'power-hb_south', 'power-hb_pan', 'power-hb_hubavg', 'gpu-h100', 'gpu-a100', 'gpu-l40s'] as const;

/** `count` price ticks over ten feeds (ten streams, keys spread over the partitions), a second apart per feed. */
export const throughputTicks = (tag: string, count: number, startMs: number): PriceTick[] =>
  Array.from({ length: count }, (_, i) => {
    const feed = THROUGHPUT_FEEDS[i % THROUGHPUT_FEEDS.length]!;
    return { kind: 'price', tickId: `${tag}:${i}`, feed, at: iso(startMs + Math.floor(i / THROUGHPUT_FEEDS.length) * 1000), priceMicroUsd: usdToMicro(50 + (i % 97)) };
  });
