/**
 * A seeded synthetic market, for scale and property tests: any tick rate, any
 * horizon, the same ticks for the same seed and options.
 *
 * Processes (each with its own PRNG stream, forked from the seed by name, so one
 * feed's path does not depend on another feed's tick rate):
 * - BTC-USD: geometric Brownian motion whose drift and volatility switch between a
 *   bull and a bear regime by a two-state continuous-time Markov chain.
 * - Electricity per ERCOT hub: (hub median × time-of-day shape × month shape) × exp(OU)
 *   + a per-node basis OU, with price spikes from a jump process (onset hazard by month
 *   and hour of day, exponential duration, log-normal level that wanders while it lasts).
 *   Day-ahead per hub: each UTC day's typical price by hour (median level × shapes + mean
 *   basis; no noise, no spikes), published at 20:00 UTC the day before, as the replay does.
 * - Bitcoin network: blocks arrive as a Poisson process at rate hashrate / (difficulty ×
 *   2^32); difficulty retargets every 2016 blocks with Bitcoin's rule (pow.cpp: actual
 *   timespan of the last 2016 blocks, clamped to ×¼…×4); the hashrate follows the
 *   miners' revenue (BTC price × (subsidy + fees)) with a first-order lag plus a secular
 *   trend; the subsidy follows btc_block_subsidy_schedule.csv (halving every 210,000).
 * - GPU rates: a mean-reverting process in logit space between each type's bounds, so a
 *   rate drifts but never leaves [min, max].
 *
 * Every number below that comes from ./data says so, with how it was computed; the
 * calibration test (calibration.test.ts) recomputes them from the files.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  MARKET_NODES,
  NETWORK_FEED,
  SATS_PER_BTC,
  dayAheadFeed,
  dayAheadPublishedAt,
  feedKey,
  gpuFeed,
  powerFeed,
  usdToMicro,
  type FeedId,
  type MarketNode,
  type MarketTick,
} from '../../domain/market/ticks.ts';
import { createRng, hashString, type Rng } from '../random.ts';
import { MARKET_DATA_DIR } from './history.ts';
import { feedRank, type MarketSource } from './source.ts';
import { iso } from '../../domain/time.ts';

export type GpuType = 'H100' | 'A100' | 'L40S';
export const GPU_TYPES: readonly GpuType[] = ['H100', 'A100', 'L40S'];

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Julian year, for annualised rates. */
const YEAR_MS = 365.25 * DAY_MS;
const MONTH_MS = YEAR_MS / 12;

/** Bitcoin consensus (chainparams.cpp / pow.cpp; docs/design.md §7). */
export const RETARGET_INTERVAL_BLOCKS = 2016;
export const TARGET_BLOCK_SECONDS = 600;
export const HALVING_INTERVAL_BLOCKS = 210_000;

/**
 * Calibration. Sources: the files in ./data (PROVENANCE.md), 2023-01-01..2024-12-31 unless
 * stated; "log" means natural log.
 */
export const CALIBRATION = {
  btc: {
    /**
     * btc_usd_hourly.csv, 29,482 hourly log returns 2022-01-01..2025-05-13: sd 0.00574/h,
     * i.e. 53.8 %/yr annualised (×√8760); by year 63.9 % (2022), 42.3 % (2023), 52.9 % (2024);
     * kurtosis 15.9 (fat tails that a Gaussian GBM does not reproduce).
     */
    hourlyLogReturnSd: 0.00574,
    /**
     * Regimes: the series cut at its major peaks and troughs (2022-11-21T21Z trough $15,631;
     * 2024-03-14T06Z peak $73,611; 2024-08-05T12Z trough $49,849; 2024-12-17T14Z peak
     * $108,273; 2025-04-07T06Z trough $74,722). Drift = mean hourly log return × 8760 (a
     * log drift: no −σ²/2 correction applies), vol = sd × √8760, pooled over each kind;
     * dwell = mean length of the complete segments (bull 478 and 134 days; bear 325, 144
     * and 111 days). Cutting at extremes overstates |drift|; treat it as scenario colour.
     */
    regimes: {
      bull: { driftPerYear: 1.49, volPerYear: 0.453, meanDwellDays: 306 },
      bear: { driftPerYear: -1.17, volPerYear: 0.618, meanDwellDays: 193 },
    },
  },
  power: {
    /** ercot_hubs_rt_hourly.csv, HB_HUBAVG, 17,544 hours: median $20.66/MWh (mean $37.56, skewed by spikes). */
    hubMedianUsdPerMwh: 20.66,
    /** Median of HB_HUBAVG by UTC hour ÷ overall median: evening peak at 23–01Z (17–19 h Central), midday solar dip. */
    hourShape: [
      1.712, 1.498, 1.233, 1.115, 1.024, 0.947, 0.894, 0.849, 0.831, 0.853, 0.915, 1.007, 1.039, 0.933, 0.814, 0.853, 0.877, 0.924,
      0.956, 0.988, 1.015, 1.03, 1.157, 1.561,
    ],
    /** Median of HB_HUBAVG by calendar month ÷ overall median (only two years: Feb is low, Aug high). */
    monthShape: [0.992, 0.615, 0.829, 0.73, 0.994, 1.069, 1.063, 1.246, 1.095, 0.997, 1.049, 1.009],
    /**
     * log(price ÷ (median × hourShape × monthShape)) on non-spike hours ($1–$200): AR(1) at
     * 1 h = 0.820 → κ = 0.199/h; sd 0.563 (robust MAD sd 0.41).
     */
    logOu: { kappaPerHour: 0.199, sd: 0.563 },
    /**
     * Node − HB_HUBAVG on non-spike hours: mean = (p5 + p95)/2, sd = (p95 − p5)/3.29
     * (a Gaussian with the same 5–95 % range; the real basis is fat-tailed and skewed,
     * e.g. HB_PAN p5 −$36.8, p95 +$3.1), κ = −ln(AR(1) at 1 h).
     */
    basis: {
      HB_WEST: { mean: 0.3, sd: 8.75, kappaPerHour: 0.288 },
      HB_NORTH: { mean: -2.0, sd: 3.95, kappaPerHour: 0.337 },
      HB_HOUSTON: { mean: 0.85, sd: 3.62, kappaPerHour: 0.604 },
      HB_SOUTH: { mean: 0.15, sd: 4.1, kappaPerHour: 0.29 },
      HB_PAN: { mean: -16.85, sd: 12.13, kappaPerHour: 0.216 },
      HB_HUBAVG: { mean: 0, sd: 0, kappaPerHour: 1 },
    } satisfies Record<MarketNode, { mean: number; sd: number; kappaPerHour: number }>,
    /**
     * Spikes: HB_HUBAVG hours above $200/MWh. 94 runs (onsets) in 17,544 h; counts of
     * onsets by month (Jan..Dec) and by UTC hour below (Aug 2023 alone has most of the
     * August ones); run length mean 2.49 h (p50 2, max 8); spike-hour prices log-normal,
     * log mean 6.453 ($635), log sd 0.903; hour-to-hour log change inside a run sd 0.87.
     * Capped at $5,300/MWh (max observed hour $5,257.58 at HB_WEST, 2023-09-07T00Z;
     * ERCOT's offer cap is $5,000 plus real-time adders).
     */
    spikes: {
      thresholdUsd: 200,
      onsets: 94,
      hours: 17_544,
      onsetsByMonth: [7, 0, 4, 8, 7, 5, 8, 30, 9, 8, 5, 3],
      onsetsByUtcHour: [23, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 4, 0, 2, 0, 1, 0, 6, 6, 8, 8, 2, 28],
      meanDurationHours: 2.49,
      logMean: 6.453,
      logSd: 0.903,
      inSpikeLogSdPerSqrtHour: 0.87,
      capUsd: 5300,
    },
  },
  network: {
    /**
     * btc_network_daily.csv 2022-03..2025-04, OLS of log(14-day mean hashrate) on
     * log(7-day mean price × subsidy) and time: elasticity 0.154, trend +48.1 %/yr (log),
     * R² 0.988, residual sd 0.051. The fit is best at lag 0–14 days and degrades beyond
     * (0.131 at 30 d, 0.072 at 60 d): the lag is weakly identified; 14 days is used.
     */
    hashrate: { revenueElasticity: 0.154, trendPerYear: 0.481, lagDays: 14, noiseSd: 0.051 },
    /**
     * Fees per block, 2023–2024 days with data: log mean −1.246 (median 0.288 BTC), log sd
     * 0.970; daily AR(1) of log fees 0.931 (2023-04-30..2024-04-27, the daily stretch) → κ =
     * 0.0715/day. Post-halving 2024 the median was lower (0.073 BTC).
     */
    fees: { medianBtc: 0.288, logSd: 0.97, kappaPerDay: 0.0715 },
  },
  gpu: {
    /**
     * Bounds: docs/design.md §7 (H100 ≈ $1.5–5, A100 ≈ $1–2.5, L40S ≈ $0.8–2.3).
     * Vol: sd of month-to-month log change in gpu_rental_price_monthly.csv: H100 0.0746 (32
     * pairs), A100 0.0699 (32 pairs); L40S has no series and borrows H100's. Initial values:
     * H100 4.78 and A100 2.34 (2024-01 in the monthly file); L40S 1.96 (ori.co,
     * gpu_rental_price_points_2024.csv). The logit-space OU is scaled so that the local
     * vol at the band's centre equals monthlyLogVol and the stationary logit sd is 1.
     */
    H100: { min: 1.5, max: 5, initial: 4.78, monthlyLogVol: 0.0746 },
    A100: { min: 1, max: 2.5, initial: 2.34, monthlyLogVol: 0.0699 },
    L40S: { min: 0.8, max: 2.3, initial: 1.96, monthlyLogVol: 0.0746 },
    stationaryLogitSd: 1,
  },
} as const;

/** The chain at 2024-01-01T00:00Z, the default start. */
export const DEFAULT_START = {
  ms: Date.parse('2024-01-01T00:00:00Z'),
  /** Close of the 2023-12-31T23:00Z hour, btc_usd_hourly.csv (observed at 2024-01-01T00:00Z). */
  btcUsd: 42_280.14,
  /** 840,000 − 16,213 blocks mined 2024-01-01..2024-04-19 (btc_network_daily.csv) − 1. */
  height: 823_786,
  /** btc_network_daily.csv, 2024-01-01 (set by the retarget of 2023-12-23/24). */
  difficulty: 72_006_146_478_567,
  regime: 'bull' as const,
};

// ---------------------------------------------------------------- subsidy schedule

type SubsidyEpoch = { startHeight: number; endHeight: number; subsidySats: number };
let schedule: SubsidyEpoch[] | undefined;

/** btc_block_subsidy_schedule.csv (epochs 0–5). */
export const subsidySchedule = (): readonly SubsidyEpoch[] =>
  (schedule ??= readFileSync(path.join(MARKET_DATA_DIR, 'btc_block_subsidy_schedule.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [, start, end, btc] = line.split(',');
      return { startHeight: Number(start), endHeight: Number(end), subsidySats: Math.round(Number(btc) * SATS_PER_BTC) };
    }));

/** Block subsidy at a height: the schedule file, and the consensus rule (50 BTC >> epoch) beyond it. */
export const subsidySatsAtHeight = (height: number): number => {
  const e = subsidySchedule().find((x) => height >= x.startHeight && height <= x.endHeight);
  if (e) return e.subsidySats;
  const epoch = Math.floor(height / HALVING_INTERVAL_BLOCKS);
  return epoch >= 64 ? 0 : Math.floor(5_000_000_000 / 2 ** epoch);
};

// ---------------------------------------------------------------- options

export type SyntheticOptions = {
  seed: number | string;
  /** Simulated start (epoch ms). Default 2024-01-01T00:00Z. */
  startMs?: number;
  /** Tick intervals in ms. Defaults: BTC 1 s, power 5 min, GPU 1 min; network ticks once per block. */
  btcIntervalMs?: number;
  powerIntervalMs?: number;
  gpuIntervalMs?: number;
  /** Electricity nodes (default all six hubs; [] for none). */
  nodes?: readonly MarketNode[];
  /** GPU types (default all three; [] for none). */
  gpuTypes?: readonly GpuType[];
  /** Emit network stats (default true). */
  network?: boolean;
  /** Starting state; defaults describe 2024-01-01 (DEFAULT_START, CALIBRATION.gpu). */
  initial?: {
    btcUsd?: number;
    regime?: 'bull' | 'bear';
    height?: number;
    difficulty?: number;
    /** Default: the hashrate at which blocks come every 600 s at the initial difficulty. */
    hashrateThs?: number;
    feesPerBlockBtc?: number;
    gpuUsdPerHour?: Partial<Record<GpuType, number>>;
  };
};

type Resolved = {
  seed: string;
  startMs: number;
  btcIntervalMs: number;
  powerIntervalMs: number;
  gpuIntervalMs: number;
  nodes: MarketNode[];
  gpuTypes: GpuType[];
  network: boolean;
  btcUsd: number;
  regime: 'bull' | 'bear';
  height: number;
  difficulty: number;
  hashrateThs: number;
  feesPerBlockBtc: number;
  gpuUsdPerHour: Record<GpuType, number>;
};

const resolve = (o: SyntheticOptions): Resolved => {
  const i = o.initial ?? {};
  const difficulty = i.difficulty ?? DEFAULT_START.difficulty;
  const r: Resolved = {
    seed: String(o.seed),
    startMs: o.startMs ?? DEFAULT_START.ms,
    btcIntervalMs: o.btcIntervalMs ?? 1_000,
    powerIntervalMs: o.powerIntervalMs ?? 300_000,
    gpuIntervalMs: o.gpuIntervalMs ?? 60_000,
    nodes: MARKET_NODES.filter((n) => (o.nodes ?? MARKET_NODES).includes(n)),
    gpuTypes: GPU_TYPES.filter((g) => (o.gpuTypes ?? GPU_TYPES).includes(g)),
    network: o.network ?? true,
    btcUsd: i.btcUsd ?? DEFAULT_START.btcUsd,
    regime: i.regime ?? DEFAULT_START.regime,
    height: i.height ?? DEFAULT_START.height,
    difficulty,
    hashrateThs: i.hashrateThs ?? (difficulty * 2 ** 32) / TARGET_BLOCK_SECONDS / 1e12,
    feesPerBlockBtc: i.feesPerBlockBtc ?? CALIBRATION.network.fees.medianBtc,
    gpuUsdPerHour: {
      H100: i.gpuUsdPerHour?.H100 ?? CALIBRATION.gpu.H100.initial,
      A100: i.gpuUsdPerHour?.A100 ?? CALIBRATION.gpu.A100.initial,
      L40S: i.gpuUsdPerHour?.L40S ?? CALIBRATION.gpu.L40S.initial,
    },
  };
  for (const k of ['btcIntervalMs', 'powerIntervalMs', 'gpuIntervalMs'] as const)
    if (!Number.isInteger(r[k]) || r[k] < 1) throw new Error(`${k} must be a positive integer, got ${r[k]}`);
  if (!Number.isInteger(r.startMs)) throw new Error(`startMs must be an integer, got ${r.startMs}`);
  if (!Number.isInteger(r.height) || r.height < 0) throw new Error(`initial height must be a non-negative integer`);
  if (!(r.btcUsd > 0 && r.difficulty > 0 && r.hashrateThs > 0 && r.feesPerBlockBtc > 0)) throw new Error('initial BTC price, difficulty, hashrate and fees must be > 0');
  for (const g of GPU_TYPES) {
    const { min, max } = CALIBRATION.gpu[g];
    const v = r.gpuUsdPerHour[g];
    if (!(v > min && v < max)) throw new Error(`initial ${g} rate ${v} must lie strictly inside (${min}, ${max})`);
  }
  return r;
};

// ---------------------------------------------------------------- processes

/** Exact OU step toward `mean` over dt with rate kappa and stationary sd. */
const ou = (rng: Rng, x: number, mean: number, kappa: number, stationarySd: number, dt: number) => {
  const a = Math.exp(-kappa * dt);
  return mean + (x - mean) * a + stationarySd * Math.sqrt(1 - a * a) * rng.normal();
};

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const logit = (p: number) => Math.log(p / (1 - p));

/** A generator of one feed family: its next tick time, and how to emit the ticks at that time. */
type Proc = { nextMs: number; emit(out: MarketTick[]): void };

const build = (r: Resolved, tag: string): Proc[] => {
  const root = createRng(r.seed);
  const procs: Proc[] = [];
  const price = (feed: FeedId, at: string, usd: number): MarketTick => ({
    kind: 'price',
    tickId: `${tag}:${feed}:${at}`,
    feed,
    at,
    priceMicroUsd: usdToMicro(usd),
  });

  // ---- BTC: regime-switching GBM
  const btc = (() => {
    const rng = root.fork('btc');
    let logP = Math.log(r.btcUsd);
    let regime = r.regime;
    let last = r.startMs;
    const proc: Proc = {
      nextMs: r.startMs,
      emit(out) {
        const t = proc.nextMs;
        const dt = t - last;
        if (dt > 0) {
          const reg = CALIBRATION.btc.regimes[regime];
          if (rng.next() < 1 - Math.exp(-dt / (reg.meanDwellDays * DAY_MS))) regime = regime === 'bull' ? 'bear' : 'bull';
          const now = CALIBRATION.btc.regimes[regime];
          const y = dt / YEAR_MS;
          logP += now.driftPerYear * y + now.volPerYear * Math.sqrt(y) * rng.normal();
        }
        last = t;
        out.push(price('btc-usd', iso(t), Math.exp(logP)));
        proc.nextMs = t + r.btcIntervalMs;
      },
    };
    return { proc, logPrice: () => logP };
  })();

  // ---- network: blocks, retargets, hashrate following revenue, fees
  if (r.network) {
    const rng = root.fork('network');
    const H = CALIBRATION.network.hashrate;
    const F = CALIBRATION.network.fees;
    let height = r.height;
    let difficulty = Math.round(r.difficulty);
    // time of the first block of the current retarget period, assuming 600 s blocks before the start
    let periodStartMs = r.startMs - (height % RETARGET_INTERVAL_BLOCKS) * TARGET_BLOCK_SECONDS * 1000;
    let logH = Math.log(r.hashrateThs);
    let logFee = Math.log(r.feesPerBlockBtc);
    let last = r.startMs;
    const logRevenue = () => btc.logPrice() + Math.log(subsidySatsAtHeight(height + 1) / SATS_PER_BTC + Math.exp(logFee));
    const logH0 = logH;
    const logRev0 = logRevenue();
    let first = true;

    const evolve = (t: number) => {
      const days = (t - last) / DAY_MS;
      if (days <= 0) return;
      logFee = ou(rng, logFee, Math.log(F.medianBtc), F.kappaPerDay, F.logSd, days);
      const target = logH0 + H.revenueElasticity * (logRevenue() - logRev0) + (H.trendPerYear * (t - r.startMs)) / YEAR_MS;
      logH = ou(rng, logH, target, 1 / H.lagDays, H.noiseSd, days);
      last = t;
    };
    const scheduleNext = (t: number) => {
      const next = height + 1;
      if (next % RETARGET_INTERVAL_BLOCKS === 0) {
        // pow.cpp CalculateNextWorkRequired: timespan of blocks next−2016 .. next−1, clamped
        const targetSpan = RETARGET_INTERVAL_BLOCKS * TARGET_BLOCK_SECONDS;
        const actual = Math.min(Math.max((t - periodStartMs) / 1000, targetSpan / 4), targetSpan * 4);
        difficulty = Math.max(1, Math.round((difficulty * targetSpan) / actual));
      }
      const ratePerS = (Math.exp(logH) * 1e12) / (difficulty * 2 ** 32);
      proc.nextMs = t + Math.max(1, Math.round(rng.exponential(ratePerS) * 1000));
    };
    const proc: Proc = {
      nextMs: r.startMs,
      emit(out) {
        const t = proc.nextMs;
        if (first) first = false; // the chain tip at the start
        else {
          height += 1;
          if (height % RETARGET_INTERVAL_BLOCKS === 0) periodStartMs = t;
        }
        evolve(t);
        out.push({
          kind: 'network',
          tickId: `${tag}:${NETWORK_FEED}:${height}`,
          at: iso(t),
          difficulty,
          subsidySats: subsidySatsAtHeight(height),
          feesPerBlockSats: Math.min(100_000_000_000, Math.round(Math.exp(logFee) * SATS_PER_BTC)),
        });
        scheduleNext(t);
      },
    };
    procs.push(proc);
  }
  procs.push(btc.proc);

  // ---- electricity per node (its process runs last at equal times: source.ts FEED_ORDER)
  let powerProc: Proc | undefined;
  let dayAheadProc: Proc | undefined;
  if (r.nodes.length > 0) {
    const rng = root.fork('power');
    const P = CALIBRATION.power;
    const S = P.spikes;
    const hourW = S.onsetsByUtcHour.map((c) => (c + 0.25) / ((S.onsets + 6) / 24));
    const monthW = S.onsetsByMonth.map((c) => (c + 0.5) / ((S.onsets + 6) / 12));
    const baseHazardPerHour = S.onsets / S.hours;
    let y = 0;
    // the hub factor and spikes draw from `power`, each node's basis from its own stream,
    // so choosing fewer nodes does not change the others' prices
    const nodeRng = new Map(r.nodes.map((n) => [n, root.fork(`power/${n}`)]));
    const basis = new Map(r.nodes.map((n) => [n, P.basis[n].mean]));
    let spike: number | undefined; // log level while a spike lasts
    let last = r.startMs;
    /** Hour-of-day shape, linearly interpolated between hour midpoints. */
    const shapeAt = (d: Date) => {
      const h = d.getUTCHours() + d.getUTCMinutes() / 60 + d.getUTCSeconds() / 3600 - 0.5;
      const lo = Math.floor(h);
      const w = h - lo;
      const at = (k: number) => P.hourShape[((k % 24) + 24) % 24]!;
      return (at(lo) * (1 - w) + at(lo + 1) * w) * P.monthShape[d.getUTCMonth()]!;
    };
    const clampLog = (l: number) => Math.min(Math.max(l, Math.log(S.thresholdUsd)), Math.log(S.capUsd));
    const proc: Proc = {
      nextMs: r.startMs,
      emit(out) {
        const t = proc.nextMs;
        const d = new Date(t);
        const dh = (t - last) / HOUR_MS;
        if (dh > 0) {
          y = ou(rng, y, 0, P.logOu.kappaPerHour, P.logOu.sd, dh);
          for (const n of r.nodes) basis.set(n, ou(nodeRng.get(n)!, basis.get(n)!, P.basis[n].mean, P.basis[n].kappaPerHour, P.basis[n].sd, dh));
          if (spike !== undefined) {
            if (rng.next() < 1 - Math.exp(-dh / S.meanDurationHours)) spike = undefined;
            else spike = clampLog(spike + S.inSpikeLogSdPerSqrtHour * Math.sqrt(dh) * rng.normal());
          } else {
            const hazard = baseHazardPerHour * hourW[d.getUTCHours()]! * monthW[d.getUTCMonth()]!;
            if (rng.next() < 1 - Math.exp(-hazard * dh)) spike = clampLog(rng.normal(S.logMean, S.logSd));
          }
        }
        last = t;
        const base = P.hubMedianUsdPerMwh * shapeAt(d) * Math.exp(y);
        const at = d.toISOString();
        for (const n of r.nodes) {
          const b = basis.get(n)!;
          const usd = spike === undefined ? base + b : Math.max(base, Math.exp(spike)) + b;
          out.push(price(powerFeed(n), at, usd));
        }
        proc.nextMs = t + r.powerIntervalMs;
      },
    };
    powerProc = proc;

    // day-ahead: each UTC day's typical price by hour and node (the hour's shape at the median level,
    // plus the node's mean basis; none of the day's noise or spikes), published at 20:00 UTC the day before
    let day = Math.floor(r.startMs / DAY_MS) * DAY_MS;
    while (dayAheadPublishedAt(day) < r.startMs) day += DAY_MS;
    const da: Proc = {
      nextMs: dayAheadPublishedAt(day),
      emit(out) {
        const t = da.nextMs;
        const at = iso(t);
        const hourly = Array.from({ length: 24 }, (_, h) => P.hubMedianUsdPerMwh * shapeAt(new Date(day + h * HOUR_MS + HOUR_MS / 2)));
        for (const n of r.nodes)
          out.push({ kind: 'day-ahead', tickId: `${tag}:${dayAheadFeed(n)}:${at}`, node: n, at, fromHour: iso(day), hourlyMicroUsdPerMwh: hourly.map((usd) => usdToMicro(usd + P.basis[n].mean)) });
        day += DAY_MS;
        da.nextMs = dayAheadPublishedAt(day);
      },
    };
    dayAheadProc = da;
  }

  // ---- GPU rates: bounded logit OU
  if (r.gpuTypes.length > 0) {
    const G = CALIBRATION.gpu;
    const params = r.gpuTypes.map((g) => {
      const { min, max, monthlyLogVol } = G[g];
      const centre = (min + max) / 2;
      // dP = (max − min)·s(1−s)·dx, s = ½ at the centre: σx = vol × centre / ((max − min)/4)
      const sigma = (monthlyLogVol * centre) / ((max - min) / 4);
      const kappa = (sigma * sigma) / (2 * G.stationaryLogitSd ** 2);
      return { g, min, max, kappa, rng: root.fork(`gpu/${g}`), x: logit((r.gpuUsdPerHour[g] - min) / (max - min)) };
    });
    let last = r.startMs;
    const proc: Proc = {
      nextMs: r.startMs,
      emit(out) {
        const t = proc.nextMs;
        const months = (t - last) / MONTH_MS;
        const at = iso(t);
        for (const p of params) {
          if (months > 0) p.x = ou(p.rng, p.x, 0, p.kappa, G.stationaryLogitSd, months);
          out.push(price(gpuFeed(p.g), at, p.min + (p.max - p.min) * sigmoid(p.x)));
        }
        last = t;
        proc.nextMs = t + r.gpuIntervalMs;
      },
    };
    procs.push(proc);
  }
  if (dayAheadProc) procs.push(dayAheadProc);
  if (powerProc) procs.push(powerProc);

  return procs;
};

export type SyntheticSource = MarketSource & {
  /** Prefix of every tick id: `syn-<8 hex>`, a hash of the seed and the resolved options. */
  readonly runTag: string;
  readonly startMs: number;
};

/**
 * A seeded synthetic market. Generation is sequential from the start: asking for a
 * range at or after the previous one continues; asking for an earlier range replays
 * from the start (same result, more work). Cost is linear in the ticks generated up
 * to `toMs` (1-second BTC ticks: ~86k a day).
 */
export const createSyntheticSource = (opts: SyntheticOptions): SyntheticSource => {
  const r = resolve(opts);
  const runTag = `syn-${hashString(JSON.stringify(r)).toString(16).padStart(8, '0')}`;
  let procs = build(r, runTag);
  /** Every tick with at < cursor has been generated. */
  let cursor = r.startMs;
  /** The latest tick of each feed generated so far. */
  let latest = new Map<string, MarketTick>();

  const reset = () => {
    procs = build(r, runTag);
    cursor = r.startMs;
    latest = new Map();
  };

  /** Generates every tick with at < toMs; returns those with at ≥ fromMs. */
  const advance = (fromMs: number, toMs: number): MarketTick[] => {
    if (fromMs < cursor && cursor > r.startMs) reset();
    const out: MarketTick[] = [];
    const batch: MarketTick[] = [];
    for (;;) {
      let p: Proc | undefined;
      for (const q of procs) if (p === undefined || q.nextMs < p.nextMs) p = q; // ties: fixed process order
      if (p === undefined || p.nextMs >= toMs) break;
      const t = p.nextMs;
      batch.length = 0;
      p.emit(batch);
      for (const tick of batch) {
        latest.set(feedKey(tick), tick);
        if (t >= fromMs) out.push(tick);
      }
    }
    cursor = Math.max(cursor, toMs);
    return out;
  };

  return {
    runTag,
    startMs: r.startMs,
    ticksBetween(fromMs, toMs) {
      if (!Number.isFinite(toMs)) throw new Error(`a synthetic market has no end: toMs must be finite, got ${toMs}`);
      return toMs > fromMs ? advance(fromMs, toMs) : [];
    },
    inForceAt(atMs) {
      if (!Number.isFinite(atMs)) throw new Error(`atMs must be finite, got ${atMs}`);
      if (atMs + 1 < cursor) reset();
      advance(Number.POSITIVE_INFINITY, atMs + 1);
      return [...latest.values()].sort((a, b) => feedRank(a) - feedRank(b));
    },
  };
};
