/**
 * The real market history in ./data (provenance in
 * data/PROVENANCE.md): typed series, timestamps as epoch milliseconds (UTC,
 * interval start), prices in USD as published. Parsed once per process.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { MarketNode } from '../../domain/market/ticks.ts';

export const MARKET_DATA_DIR = process.env.HCP_MARKET_DATA_DIR ?? path.resolve(import.meta.dirname, 'data');

export type Point = { t: number; value: number };

const rows = (file: string): string[][] => {
  const text = readFileSync(path.join(MARKET_DATA_DIR, file), 'utf8');
  return text
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(','));
};

const header = (file: string): string[] =>
  readFileSync(path.join(MARKET_DATA_DIR, file), 'utf8').split('\n', 1)[0]!.split(',');

/** `2023-01-01T00:15Z` or `2023-01-01` → epoch ms. */
export const parseUtc = (s: string): number => {
  const t = Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s.replace(/Z$/, ':00Z'));
  if (Number.isNaN(t)) throw new Error(`bad UTC time ${s}`);
  return t;
};

const cache = new Map<string, unknown>();
const once = <T>(key: string, load: () => T): T => {
  if (!cache.has(key)) cache.set(key, load());
  return cache.get(key) as T;
};

/** BTC-USD hourly close, 2022-01-01 to 2025-05-13 (CryptoCompare index). */
export const btcUsdHourly = (): Point[] =>
  once('btc', () => rows('btc_usd_hourly.csv').map(([ts, close]) => ({ t: parseUtc(ts!), value: Number(close) })));

const hubColumn = (node: MarketNode) => `${node.toLowerCase()}_usd_per_mwh`;

/** ERCOT real-time hub price, hourly mean of the 15-minute settlement prices, 2023–2024, complete. */
export const ercotRealTimeHourly = (node: MarketNode): Point[] =>
  once(`rt-${node}`, () => {
    const col = header('ercot_hubs_rt_hourly.csv').indexOf(hubColumn(node));
    return rows('ercot_hubs_rt_hourly.csv').map((r) => ({ t: parseUtc(r[0]!), value: Number(r[col]) }));
  });

/** ERCOT day-ahead hub price, hourly; hours the source lacks (1,202, incl. summer 2023) are omitted. */
export const ercotDayAheadHourly = (node: MarketNode): Point[] =>
  once(`da-${node}`, () => {
    const col = header('ercot_hubs_da_hourly.csv').indexOf(hubColumn(node));
    return rows('ercot_hubs_da_hourly.csv')
      .filter((r) => r[col] !== '')
      .map((r) => ({ t: parseUtc(r[0]!), value: Number(r[col]) }));
  });

/** ERCOT real-time 15-minute prices at HB_WEST or HB_NORTH; 2023 complete, gaps in 2024. */
export const ercotRealTime15Min = (node: 'HB_WEST' | 'HB_NORTH'): Point[] =>
  once(`rt15-${node}`, () => {
    const col = header('ercot_hb_west_north_rt_15min.csv').indexOf(hubColumn(node));
    return rows('ercot_hb_west_north_rt_15min.csv').map((r) => ({ t: parseUtc(r[0]!), value: Number(r[col]) }));
  });

export type NetworkDay = {
  t: number;
  difficulty: number;
  hashrateThs: number;
  blocksMined: number;
  subsidyBtc: number;
  /** Fees per block in BTC; undefined on days the source lacks (filled by the caller's policy). */
  feesPerBlockBtc: number | undefined;
};

/** Bitcoin network, daily, 2020-04-11 to 2025-04-08 (Blockchain.com). */
export const btcNetworkDaily = (): NetworkDay[] =>
  once('network', () =>
    rows('btc_network_daily.csv').map((r) => ({
      t: parseUtc(r[0]!),
      difficulty: Number(r[1]),
      hashrateThs: Number(r[2]),
      blocksMined: Number(r[3]),
      subsidyBtc: Number(r[4]),
      feesPerBlockBtc: r[6] ? Number(r[6]) : undefined,
    })),
  );

export type GpuMonth = { t: number; h100: number | undefined; a100: number | undefined };

/** Monthly GPU rental list prices (median of providers), USD per GPU-hour; withheld months undefined. */
export const gpuRentalMonthly = (): GpuMonth[] =>
  once('gpu', () => {
    const h = header('gpu_rental_price_monthly.csv');
    const [h100, a100] = [h.indexOf('h100_usd_per_gpu_hour'), h.indexOf('a100_usd_per_gpu_hour')];
    return rows('gpu_rental_price_monthly.csv').map((r) => ({
      t: parseUtc(`${r[0]}-01`),
      h100: r[h100] ? Number(r[h100]) : undefined,
      a100: r[a100] ? Number(r[a100]) : undefined,
    }));
  });

/** The value in force at time t: the last point at or before t (series sorted by t). */
export const valueAt = (series: readonly Point[], t: number): number | undefined => {
  let lo = 0;
  let hi = series.length - 1;
  let found: number | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (series[mid]!.t <= t) {
      found = series[mid]!.value;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
};
