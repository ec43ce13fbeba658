/**
 * The real market history in ./data (provenance in
 * data/PROVENANCE.md): typed series, timestamps as epoch milliseconds (UTC,
 * interval start), prices in USD as published. Parsed once per process.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { MarketNode } from '../../domain/market/ticks.ts';
import { partitionPoint } from '../../domain/sorted.ts';

export const MARKET_DATA_DIR = process.env.HCP_MARKET_DATA_DIR ?? path.resolve(import.meta.dirname, 'data');

export type Point = { t: number; value: number };

/** A CSV file, read once: its data rows, and a column's index by name (a file that lacks the column is refused, naming both). */
const table = (dir: string, file: string) => {
  const [head, ...body] = readFileSync(path.join(dir, file), 'utf8').trim().split('\n');
  const names = head!.split(',');
  return {
    rows: body.map((line) => line.split(',')),
    column: (name: string): number => {
      const k = names.indexOf(name);
      if (k < 0) throw new Error(`${path.join(dir, file)}: no column ${name}`);
      return k;
    },
  };
};

/** `2023-01-01T00:15Z` or `2023-01-01` → epoch ms. */
export const parseUtc = (s: string): number => {
  const t = Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s.replace(/Z$/, ':00Z'));
  if (Number.isNaN(t)) throw new Error(`bad UTC time ${s}`);
  return t;
};

/** A series read from a file: every value a finite number and times strictly increasing, or an error naming the file and row. */
const checked = (dir: string, file: string, points: Point[]): Point[] => {
  points.forEach((p, k) => {
    if (!Number.isFinite(p.value) || !Number.isFinite(p.t)) throw new Error(`${path.join(dir, file)}: row ${k + 2} is not a number`);
    if (k > 0 && p.t <= points[k - 1]!.t) throw new Error(`${path.join(dir, file)}: row ${k + 2} is not after the row before it (rows must be in time order)`);
  });
  return points;
};

const cache = new Map<string, unknown>();
/** Each file is parsed once per process and folder (a backtest of `--data DIR` reads another folder). */
const once = <T>(dir: string, key: string, load: () => T): T => {
  const k = `${path.resolve(dir)}|${key}`;
  if (!cache.has(k)) cache.set(k, load());
  return cache.get(k) as T;
};

/** BTC-USD hourly close, 2022-01-01 to 2025-05-13 (CryptoCompare index). */
export const btcUsdHourly = (dir = MARKET_DATA_DIR): Point[] =>
  once(dir, 'btc', () => checked(dir, 'btc_usd_hourly.csv', table(dir, 'btc_usd_hourly.csv').rows.map(([ts, close]) => ({ t: parseUtc(ts!), value: Number(close) }))));

const hubColumn = (node: MarketNode) => `${node.toLowerCase()}_usd_per_mwh`;

/** One hub's real-time prices from an ERCOT file, every row, checked. */
const realTimeSeries = (dir: string, file: string, node: MarketNode): Point[] => {
  const t = table(dir, file);
  const col = t.column(hubColumn(node));
  return checked(dir, file, t.rows.map((r) => ({ t: parseUtc(r[0]!), value: Number(r[col]) })));
};

/** ERCOT real-time hub price, hourly mean of the 15-minute settlement prices, 2023–2024, complete. */
export const ercotRealTimeHourly = (node: MarketNode, dir = MARKET_DATA_DIR): Point[] =>
  once(dir, `rt-${node}`, () => realTimeSeries(dir, 'ercot_hubs_rt_hourly.csv', node));

/** ERCOT day-ahead hub price, hourly; hours the source lacks (1,202, incl. summer 2023) are omitted. */
export const ercotDayAheadHourly = (node: MarketNode, dir = MARKET_DATA_DIR): Point[] =>
  once(dir, `da-${node}`, () => {
    const t = table(dir, 'ercot_hubs_da_hourly.csv');
    const col = t.column(hubColumn(node));
    const points = t.rows
      .filter((r) => (r[col] ?? '') !== '')
      .map((r) => ({ t: parseUtc(r[0]!), value: Number(r[col]) }));
    return checked(dir, 'ercot_hubs_da_hourly.csv', points);
  });

/** ERCOT real-time 15-minute prices at HB_WEST or HB_NORTH; 2023 complete, gaps in 2024. */
export const ercotRealTime15Min = (node: 'HB_WEST' | 'HB_NORTH', dir = MARKET_DATA_DIR): Point[] =>
  once(dir, `rt15-${node}`, () => realTimeSeries(dir, 'ercot_hb_west_north_rt_15min.csv', node));

export type NetworkDay = {
  t: number;
  difficulty: number;
  hashrateThs: number;
  blocksMined: number;
  subsidyBtc: number;
  /** Fees per block in BTC; undefined on days the source lacks (filled by the caller's policy). */
  feesPerBlockBtc: number | undefined;
};

/**
 * The fees per block known at each day's start: those of the last day before it that has a value
 * (a day's fees are known once it is over; never a later day's). `held`: the day before has none,
 * so an older day's is carried. Days up to the first with a value are absent. The replay publishes
 * these, and the backtest trace decides on them, so the two agree.
 */
export const feesKnownAtDayStart = (days: readonly NetworkDay[]): Map<number, { feesPerBlockBtc: number; held: boolean }> => {
  const known = new Map<number, { feesPerBlockBtc: number; held: boolean }>();
  let last: number | undefined;
  let dayBeforeHadNone = false;
  for (const d of days) {
    if (last !== undefined) known.set(d.t, { feesPerBlockBtc: last, held: dayBeforeHadNone });
    if (d.feesPerBlockBtc !== undefined) last = d.feesPerBlockBtc;
    dayBeforeHadNone = d.feesPerBlockBtc === undefined;
  }
  return known;
};

/** Bitcoin network, daily, 2020-04-11 to 2025-04-08 (Blockchain.com). */
export const btcNetworkDaily = (dir = MARKET_DATA_DIR): NetworkDay[] =>
  once(dir, 'network', () =>
    table(dir, 'btc_network_daily.csv').rows.map((r) => ({
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
export const gpuRentalMonthly = (dir = MARKET_DATA_DIR): GpuMonth[] =>
  once(dir, 'gpu', () => {
    const t = table(dir, 'gpu_rental_price_monthly.csv');
    const [h100, a100] = [t.column('h100_usd_per_gpu_hour'), t.column('a100_usd_per_gpu_hour')];
    return t.rows.map((r) => ({
      t: parseUtc(`${r[0]}-01`),
      h100: r[h100] ? Number(r[h100]) : undefined,
      a100: r[a100] ? Number(r[a100]) : undefined,
    }));
  });

/** The value in force at time t: the last point at or before t (series sorted by t). */
export const valueAt = (series: readonly Point[], t: number): number | undefined => series[partitionPoint(series, (p) => p.t <= t) - 1]?.value;
