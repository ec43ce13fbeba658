/**
 * Replay of the real market history in ./data (provenance in data/PROVENANCE.md)
 * as a MarketSource. Feeds and their timestamps (`at`, epoch ms UTC):
 *
 * - `btc-usd`: hourly close (CryptoCompare index), 2022-01-01 to 2025-05-13. The file's
 *   `ts_utc` is the hour's start but `close_usd` is the last price in that hour, so the
 *   tick is stamped at the hour's END (ts + 1 h), when the close is observed: a backtest
 *   never sees a price before it happened.
 * - `power-<node>`: ERCOT real-time settlement prices, USD/MWh, stamped at the START of
 *   their interval (the price in force during it; in real time ERCOT publishes it just
 *   after the interval, so a controller using it at `at` has a ≤ 15-min/1-h look-ahead).
 *   HB_WEST and HB_NORTH use the 15-minute file during 2023 (complete there); every other
 *   node, and those two from 2024-01-01, use the hourly RT file (complete 2023–2024).
 *   The 15-minute file's 2024 gaps are not patched: hourly is used for all of 2024.
 * - `network-btc`: one tick per UTC day at 00:00Z, the day's Blockchain.com stats
 *   (difficulty = the day's average on adjustment days; subsidy in force for most of the
 *   day) and the fees per block of the day BEFORE: a day's fees are known once it is over.
 *   FEES: the file has no fee value on 1,095 of its 1,824 days (daily data only 2023-04-30
 *   to 2024-04-27, every 4th day elsewhere). When the day before has none, the LAST KNOWN
 *   value is held and the day is listed in `feeHeldDays`. Days up to the first with a fee
 *   value (2020-04-11/12 have none, 2020-04-13 has one) are not replayed: the feed starts
 *   2020-04-14.
 * - `<node>-da`: the node's day-ahead prices for each UTC day, one schedule of 24 hourly
 *   prices published at 20:00 UTC the day before (domain/market/ticks.ts
 *   `dayAheadPublishedAt`: after ERCOT's ~13:30 Central posting); an hour the file lacks is
 *   null (none 2023-07-25..09-07).
 * - `gpu-h100`, `gpu-a100`: monthly median list price (henryzhangpku/gpu-price-index
 *   backfill), stamped at the month's start; withheld months produce no tick, so the
 *   previous month's rate stays in force.
 * - `gpu-l40s`: there is NO L40S series. Nothing is derived. By default (`l40s:
 *   'list-price'`) the feed carries one fixed, documented list price every month of the
 *   GPU file: $1.96/GPU-hour, the only L40S row of gpu_rental_price_points_2024.csv
 *   (ori.co L40S 48 GB, snapshot 2024-05-26, commit bbc9260). `l40s: 'omit'` drops it.
 *
 * Tick ids are `replay:<feed>[:<resolution>]:<at ISO>`, so a redelivered tick carries the
 * same id and a 15-minute and an hourly value at the same instant never share one.
 */
import {
  MARKET_NODES,
  NETWORK_FEED,
  SATS_PER_BTC,
  dayAheadFeed,
  dayAheadPublishedAt,
  gpuFeed,
  powerFeed,
  usdToMicro,
  type FeedId,
  type MarketNode,
  type MarketTick,
} from '../../domain/market/ticks.ts';
import { btcNetworkDaily, btcUsdHourly, ercotDayAheadHourly, feesKnownAtDayStart, ercotRealTime15Min, ercotRealTimeHourly, gpuRentalMonthly, type Point } from './history.ts';
import type { MarketSource } from './source.ts';
import { DAY_MS, HOUR_MS, iso } from '../../domain/time.ts';
import { partitionPoint } from '../../domain/sorted.ts';

/** First instant served by the hourly file for HB_WEST/HB_NORTH when the 15-minute file is used for 2023. */
export const FIFTEEN_MINUTE_UNTIL_MS = Date.parse('2024-01-01T00:00:00Z');
/** ori.co L40S 48 GB, gpu_rental_price_points_2024.csv, snapshot 2024-05-26 (commit bbc9260). */
export const L40S_LIST_PRICE_USD_PER_GPU_HOUR = 1.96;

export type ReplayOptions = {
  /** Electricity nodes to replay. Default: all six ERCOT hubs. */
  nodes?: readonly MarketNode[];
  /** 15-minute RT for HB_WEST/HB_NORTH during 2023 (default true); false: hourly everywhere. */
  fifteenMinute?: boolean;
  /** L40S: a fixed documented list price (default) or no feed at all. */
  l40s?: 'list-price' | 'omit';
  /** Which feed families to replay. Default: all. */
  feeds?: { btc?: boolean; power?: boolean; network?: boolean; gpu?: boolean; dayAhead?: boolean };
};

export type ReplaySource = MarketSource & {
  /** Time of the earliest tick. */
  readonly fromMs: number;
  /** One ms after the latest tick. */
  readonly toMs: number;
  /** UTC days (epoch ms at 00:00Z) whose fees per block were held from the last known day. */
  readonly feeHeldDays: readonly number[];
};


const priceTick = (feed: FeedId, t: number, usd: number, resolution?: string): MarketTick =>
  Object.freeze({
    kind: 'price',
    tickId: `replay:${feed}${resolution ? `:${resolution}` : ''}:${iso(t)}`,
    feed,
    at: iso(t),
    priceMicroUsd: usdToMicro(usd),
  });

type Built = { feeds: MarketTick[][]; all: MarketTick[]; times: Float64Array; feeHeldDays: number[] };

const buildNetwork = (): { ticks: MarketTick[]; held: number[] } => {
  const ticks: MarketTick[] = [];
  const held: number[] = [];
  const days = btcNetworkDaily();
  const fees = feesKnownAtDayStart(days);
  for (const day of days) {
    const known = fees.get(day.t);
    if (!known) continue; // no fee value before this day: not replayed
    if (known.held) held.push(day.t);
    ticks.push(Object.freeze({
      kind: 'network',
      tickId: `replay:${NETWORK_FEED}:${iso(day.t)}`,
      at: iso(day.t),
      difficulty: day.difficulty,
      subsidySats: Math.round(day.subsidyBtc * SATS_PER_BTC),
      feesPerBlockSats: Math.round(known.feesPerBlockBtc * SATS_PER_BTC),
    }));
  }
  return { ticks, held };
};

const buildPower = (node: MarketNode, fifteenMinute: boolean): MarketTick[] => {
  const feed = powerFeed(node);
  const hourly = (pts: readonly Point[]) => pts.map((p) => priceTick(feed, p.t, p.value, 'rt1h'));
  if (fifteenMinute && (node === 'HB_WEST' || node === 'HB_NORTH')) {
    return [
      ...ercotRealTime15Min(node)
        .filter((p) => p.t < FIFTEEN_MINUTE_UNTIL_MS)
        .map((p) => priceTick(feed, p.t, p.value, 'rt15')),
      ...hourly(ercotRealTimeHourly(node).filter((p) => p.t >= FIFTEEN_MINUTE_UNTIL_MS)),
    ];
  }
  return hourly(ercotRealTimeHourly(node));
};

/** A node's day-ahead schedules: one per UTC day of the file, published the day before (nulls where the file has no price). */
const buildDayAhead = (node: MarketNode): MarketTick[] => {
  const byDay = new Map<number, Array<number | null>>();
  for (const p of ercotDayAheadHourly(node)) {
    const day = Math.floor(p.t / DAY_MS) * DAY_MS;
    let hours = byDay.get(day);
    if (!hours) byDay.set(day, (hours = Array.from({ length: 24 }, () => null)));
    hours[(p.t - day) / HOUR_MS] = usdToMicro(p.value);
  }
  return [...byDay].map(([day, hours]) =>
    Object.freeze({
      kind: 'day-ahead' as const,
      tickId: `replay:${dayAheadFeed(node)}:${iso(day)}`,
      node,
      at: iso(dayAheadPublishedAt(day)),
      fromHour: iso(day),
      hourlyMicroUsdPerMwh: hours,
    }),
  );
};

const buildGpu = (l40s: 'list-price' | 'omit'): MarketTick[][] => {
  const months = gpuRentalMonthly();
  const h100: MarketTick[] = [];
  const a100: MarketTick[] = [];
  const l40: MarketTick[] = [];
  for (const m of months) {
    if (m.h100 !== undefined) h100.push(priceTick(gpuFeed('H100'), m.t, m.h100));
    if (m.a100 !== undefined) a100.push(priceTick(gpuFeed('A100'), m.t, m.a100));
    if (l40s === 'list-price') l40.push(priceTick(gpuFeed('L40S'), m.t, L40S_LIST_PRICE_USD_PER_GPU_HOUR, 'list'));
  }
  return [h100, a100, l40];
};

const build = (opts: ReplayOptions): Built => {
  const want = { btc: true, power: true, network: true, gpu: true, dayAhead: true, ...opts.feeds };
  const nodes = MARKET_NODES.filter((n) => (opts.nodes ?? MARKET_NODES).includes(n));
  const feeds: MarketTick[][] = [];
  let feeHeldDays: number[] = [];
  // source.ts FEED_ORDER: network, btc, gpu types, day-ahead, power nodes
  if (want.network) {
    const { ticks, held } = buildNetwork();
    feeds.push(ticks);
    feeHeldDays = held;
  }
  if (want.btc) feeds.push(btcUsdHourly().map((p) => priceTick('btc-usd', p.t + HOUR_MS, p.value)));
  if (want.gpu) feeds.push(...buildGpu(opts.l40s ?? 'list-price'));
  if (want.dayAhead) for (const node of nodes) feeds.push(buildDayAhead(node));
  if (want.power) for (const node of nodes) feeds.push(buildPower(node, opts.fifteenMinute ?? true));
  const nonEmpty = feeds.filter((f) => f.length > 0);
  // Array.prototype.sort is stable: equal times keep the feed order of the concatenation
  const entries = nonEmpty.flat().map((tick) => ({ t: Date.parse(tick.at), tick }));
  entries.sort((a, b) => a.t - b.t);
  return { feeds: nonEmpty, all: entries.map((e) => e.tick), times: Float64Array.from(entries, (e) => e.t), feeHeldDays };
};

/** First index with times[i] ≥ t. */
const lowerBound = (times: ArrayLike<number>, t: number): number => partitionPoint(times, (x) => x < t);

const memo = new Map<string, Built>();

/** The real history as a MarketSource. Built once per process and options (about 200k frozen ticks), on first use. */
/** Each feed's tick times, kept with the memoized history (a feed is the same array for every source). */
const feedTimes = new WeakMap<MarketTick[], Float64Array>();

export const createReplaySource = (opts: ReplayOptions = {}): ReplaySource => {
  const key = JSON.stringify([opts.nodes ?? null, opts.fifteenMinute ?? true, opts.l40s ?? 'list-price', opts.feeds ?? null]);
  let built: Built | undefined;
  const get = (): Built => {
    built ??= memo.get(key);
    if (!built) {
      built = build(opts);
      memo.set(key, built);
    }
    return built;
  };
  const timesOf = (feed: MarketTick[]) => {
    let t = feedTimes.get(feed);
    if (!t) feedTimes.set(feed, (t = Float64Array.from(feed, (x) => Date.parse(x.at))));
    return t;
  };
  return {
    get fromMs() {
      return get().times[0] ?? 0;
    },
    get toMs() {
      const { times } = get();
      return times.length ? times[times.length - 1]! + 1 : 0;
    },
    get feeHeldDays() {
      return get().feeHeldDays;
    },
    ticksBetween(fromMs, toMs) {
      const { all, times } = get();
      if (!(toMs > fromMs)) return [];
      return all.slice(lowerBound(times, fromMs), lowerBound(times, toMs));
    },
    inForceAt(atMs) {
      const out: MarketTick[] = [];
      for (const feed of get().feeds) {
        const i = lowerBound(timesOf(feed), atMs + 1) - 1;
        if (i >= 0) out.push(feed[i]!);
      }
      return out;
    },
  };
};
