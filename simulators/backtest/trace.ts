/**
 * A market trace for the backtest, built from the real history in simulators/market/data
 * (PROVENANCE.md there): one entry per 15-minute ERCOT real-time settlement interval.
 *
 * Per interval, what was realized (used to score every strategy) and what a controller could
 * know at the interval's start (used to decide):
 * - electricity: realized = the interval's real-time settlement price at the node; known = the
 *   previous settled interval's price, and day-ahead prices (published the day before) for the
 *   coming hours where the source has them (none 2023-07-25T05Z..09-07T04Z, the summer peak);
 * - BTC: realized = close of the hour containing the interval (hourly resolution); known = the
 *   close of the hour before;
 * - network: difficulty and subsidy of the UTC day (known from the chain); fees per block of the
 *   day (realized) or of the day before (known, as the replay publishes it). Days without fee
 *   data (2023: fees are daily only from 2023-04-30, every 4th day before): realized takes the
 *   nearest day with data (ties: the earlier); known holds the last day with data before, never
 *   a later one. The trace counts them.
 * - GPU rates: the monthly list-price series has H100 only for 2023-09 and 2024, A100 from
 *   2023-09 (not 2024-03), no L40S. Policy: a month without a value takes the nearest month with
 *   one (ties: the earlier), so Jan–Aug 2023 use September 2023 ($3.38 H100, $2.19 A100) and
 *   December 2023 uses January 2024 ($4.78 H100). A type with no value at all (L40S) has no rate:
 *   its pool is left out of the backtest unless the caller supplies a rate. No number is invented.
 * Absent 15-minute intervals (2024 only) are gaps: they are skipped, never interpolated.
 */
import type { GpuType } from '../../domain/workload/request.ts';
import type { NetworkFacts } from '../../domain/economics/profitability.ts';
import { btcNetworkDaily, btcUsdHourly, ercotDayAheadHourly, ercotRealTime15Min, feesKnownAtDayStart, gpuRentalMonthly, valueAt, type Point } from '../market/history.ts';
import { isoMinute as iso } from '../../domain/time.ts';
import { partitionPoint } from '../../domain/sorted.ts';

export const INTERVAL_MS = 900_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export type Rt15Node = 'HB_WEST' | 'HB_NORTH';

export type TraceInterval = {
  startMs: number;
  rtUsdPerMwh: number;
  /** The latest settled price before this interval (null before the first one). */
  lastRtUsdPerMwh: number | null;
  daUsdPerMwh: number | null;
  btcUsd: number;
  btcUsdKnown: number;
  network: NetworkFacts;
  networkKnown: NetworkFacts;
  gpuUsdPerHour: Partial<Record<GpuType, number>>;
};

export type Trace = {
  node: Rt15Node;
  fromMs: number;
  toMs: number;
  intervalMs: number;
  intervals: TraceInterval[];
  /** Day-ahead price by hour start (ms). */
  dayAheadByHour: Map<number, number>;
  notes: string[];
};

export type TraceOptions = {
  node: Rt15Node;
  fromMs: number;
  toMs: number;
  /** A constant rate per GPU type that replaces the series (e.g. L40S, which has none). */
  gpuRateOverrides?: Partial<Record<GpuType, number>>;
  /** A folder of market files in the format of simulators/market/data; default that folder. */
  dataDir?: string;
};

/** The span of a folder's 15-minute prices at a node: first interval start and the end of the last one. */
export const traceSpan = (node: Rt15Node, dataDir?: string): { fromMs: number; toMs: number } => {
  const rt = ercotRealTime15Min(node, dataDir);
  if (rt.length === 0) throw new RangeError(`no 15-minute ${node} prices in ${dataDir ?? 'the market data'}`);
  return { fromMs: rt[0]!.t, toMs: rt.at(-1)!.t + INTERVAL_MS };
};

/** Fill a per-key series with the nearest key that has a value (ties: the earlier). */
const nearestFill = <T>(keys: number[], valueOf: (k: number) => T | undefined): Map<number, { value: T; filled: boolean }> => {
  const known = keys.filter((k) => valueOf(k) !== undefined);
  const out = new Map<number, { value: T; filled: boolean }>();
  if (known.length === 0) return out;
  let j = 0;
  for (const k of keys) {
    const v = valueOf(k);
    if (v !== undefined) {
      out.set(k, { value: v, filled: false });
      continue;
    }
    while (j + 1 < known.length && known[j + 1]! <= k) j++;
    const before = known[j]! <= k ? known[j] : undefined;
    const after = known.find((x) => x > k);
    const pick = before === undefined ? after! : after === undefined ? before : k - before <= after - k ? before : after;
    out.set(k, { value: valueOf(pick)!, filled: true });
  }
  return out;
};

const monthStart = (ms: number) => {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
};

export const buildTrace = (opts: TraceOptions): Trace => {
  const notes: string[] = [];
  const dir = opts.dataDir;
  const rt = ercotRealTime15Min(opts.node, dir);
  const first = lowerBound(rt, opts.fromMs);
  const end = lowerBound(rt, opts.toMs);
  if (end <= first) {
    const span = traceSpan(opts.node, dir);
    throw new RangeError(`no 15-minute ${opts.node} prices between ${iso(opts.fromMs)} and ${iso(opts.toMs)} (the data covers ${iso(span.fromMs)} to ${iso(span.toMs)})`);
  }
  const expected = Math.round((opts.toMs - opts.fromMs) / INTERVAL_MS);
  if (end - first < expected) notes.push(`${expected - (end - first)} of ${expected} 15-minute intervals are absent from the source and skipped (gaps, not interpolated)`);

  const da = ercotDayAheadHourly(opts.node, dir);
  const dayAheadByHour = new Map(da.map((p) => [p.t, p.value]));
  const btc = btcUsdHourly(dir);

  // network days: realized fees (nearest known), known fees = the day before
  const net = btcNetworkDaily(dir);
  const netByDay = new Map(net.map((d) => [d.t, d]));
  const days = net.map((d) => d.t);
  const fees = nearestFill(days, (t) => netByDay.get(t)!.feesPerBlockBtc);
  const feesKnown = feesKnownAtDayStart(net);
  const daysInTrace = new Set<number>();

  // GPU months: nearest month with a value
  const gpu = gpuRentalMonthly(dir);
  const months = gpu.map((m) => m.t);
  const h100 = nearestFill(months, (t) => gpu.find((m) => m.t === t)!.h100);
  const a100 = nearestFill(months, (t) => gpu.find((m) => m.t === t)!.a100);
  const monthsInTrace = new Set<number>();

  const intervals: TraceInterval[] = [];
  let missingDa = 0;
  for (let k = first; k < end; k++) {
    const p = rt[k]!;
    const hour = Math.floor(p.t / HOUR_MS) * HOUR_MS;
    const day = Math.floor(p.t / DAY_MS) * DAY_MS;
    const nd = netByDay.get(day);
    const feeToday = fees.get(day);
    const feeYesterday = feesKnown.get(day)?.feesPerBlockBtc ?? feeToday?.value;
    if (!nd || !feeToday || feeYesterday === undefined) throw new RangeError(`no Bitcoin network data for ${iso(day)}`);
    daysInTrace.add(day);
    const btcNow = valueAt(btc, hour);
    const btcKnown = valueAt(btc, hour - HOUR_MS) ?? btcNow;
    if (btcNow === undefined || btcKnown === undefined) throw new RangeError(`no BTC price for ${iso(hour)}`);
    const month = monthStart(p.t);
    monthsInTrace.add(month);
    const rates: Partial<Record<GpuType, number>> = {};
    const h = h100.get(month)?.value;
    const a = a100.get(month)?.value;
    if (h !== undefined) rates.H100 = h;
    if (a !== undefined) rates.A100 = a;
    Object.assign(rates, opts.gpuRateOverrides ?? {});
    const daHere = dayAheadByHour.get(hour);
    if (daHere === undefined) missingDa++;
    intervals.push({
      startMs: p.t,
      rtUsdPerMwh: p.value,
      lastRtUsdPerMwh: k > 0 ? rt[k - 1]!.value : null,
      daUsdPerMwh: daHere ?? null,
      btcUsd: btcNow,
      btcUsdKnown: btcKnown,
      network: { difficulty: nd.difficulty, subsidyBtc: nd.subsidyBtc, feesPerBlockBtc: feeToday.value },
      networkKnown: { difficulty: nd.difficulty, subsidyBtc: nd.subsidyBtc, feesPerBlockBtc: feeYesterday },
      gpuUsdPerHour: rates,
    });
  }
  const filledFeeDays = [...daysInTrace].filter((d) => fees.get(d)!.filled).length;
  if (filledFeeDays) notes.push(`${filledFeeDays} of ${daysInTrace.size} days have no fee data and use the nearest day with data`);
  if (missingDa) notes.push(`${missingDa} intervals have no day-ahead price${dir === undefined ? ' (e.g. 2023-07-25..09-07)' : ''}: the controller forecasts from real-time prices alone there`);
  for (const [type, fill] of [['H100', h100], ['A100', a100]] as const) {
    if (opts.gpuRateOverrides?.[type] !== undefined) {
      notes.push(`${type} rate set by the caller: $${opts.gpuRateOverrides[type]}/GPU-hour`);
      continue;
    }
    const filled = [...monthsInTrace].filter((m) => fill.get(m)?.filled);
    if (filled.length) notes.push(`${type} rate: ${filled.length} of ${monthsInTrace.size} months have no list price and use the nearest month with one (${filled.map((m) => iso(m).slice(0, 7)).join(', ')})`);
  }
  if (dir !== undefined) notes.push(`market data from ${dir}`);
  if (opts.gpuRateOverrides?.L40S === undefined) notes.push('L40S has no rental-price series: L40S pools are left out (give --gpu-rate L40S=<usd> to include them)');
  return { node: opts.node, fromMs: opts.fromMs, toMs: opts.toMs, intervalMs: INTERVAL_MS, intervals, dayAheadByHour, notes };
};

const lowerBound = (s: readonly Point[], t: number) => partitionPoint(s, (p) => p.t < t);

