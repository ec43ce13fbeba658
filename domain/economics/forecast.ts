/**
 * Expected real-time electricity prices for the coming intervals, for the controller's
 * look-ahead. Two forecasters, both causal (they see only settled prices and day-ahead
 * prices published before the interval):
 *
 * 1. `persistenceForecast` (stateless): the day-ahead price for the hour, plus the last
 *    real-time deviation from day-ahead decaying geometrically (ρ per interval). Without a
 *    day-ahead price it is plain persistence of the last settled price.
 *    ρ = 0.73: least-squares lag-1 coefficient of (RT − DA) on 15-minute ERCOT prices of
 *    2024 (HB_WEST 0.726, HB_NORTH 0.729, 30,284 pairs each) — fitted on 2024 so that the
 *    2023 backtest does not see its own answer.
 *
 * 2. `learnedForecast` (state as explicit input/output): conditional means learned online,
 *    from the price history it has been shown so far and nothing later. For each horizon k
 *    (target interval j = i + k, decided at the start of interval i) it averages the change
 *    y = p[j] − p[i−1] over past cases with the same
 *      - level of the last settled price p[i−1] (log-spaced buckets),
 *      - regime: the highest settled price at the same time of day (± 1 h) on each of the
 *        previous 3 days — ERCOT scarcity recurs on consecutive afternoons of a heat wave,
 *      - day-ahead price for the target hour (bucketed; "missing" is its own bucket, and a
 *        table without it is the back-off, so the summer-2023 day-ahead gap costs data, not
 *        correctness).
 *    Cell means shrink toward 0 (pure persistence) with `shrinkage` pseudo-observations, the
 *    day-ahead cell toward the cell without day-ahead. Buckets, the 3-day regime and the
 *    shrinkage were chosen by reasoning about ERCOT, not fitted to the backtest year.
 *
 * The controller takes a forecast as an input and records it in its recommendation, so a
 * decision can be recomputed without the forecaster's state.
 */
import { dayAheadPublic } from '../market/ticks.ts';
import { HOUR_MS, iso } from '../time.ts';

export type PriceForecast = {
  /** Expected price of interval k (k = 0 is the interval being decided), USD/MWh. */
  pricesUsdPerMwh: number[];
  /** Dispersion of the forecast error of each interval (RMS), USD/MWh, when known. */
  spreadUsdPerMwh?: number[];
  method: string;
};

export type DayAhead = {
  /** Start of the first hour, epoch ms (an hour boundary, UTC). */
  fromMs: number;
  /** Day-ahead price of each hour from `fromMs`, USD/MWh; null where none was published. */
  hourlyUsdPerMwh: (number | null)[];
};


/** The day-ahead price in force at `ms`, if published. */
export const dayAheadAt = (da: DayAhead | undefined, ms: number): number | undefined => {
  if (!da) return undefined;
  const h = Math.floor((ms - da.fromMs) / HOUR_MS);
  const v = h >= 0 ? da.hourlyUsdPerMwh[h] : undefined;
  return v === null || v === undefined ? undefined : v;
};

/**
 * The day-ahead prices a controller deciding the interval at `atMs` can use: from the hour of the
 * last settled interval through the look-ahead, each where published by `atMs`. The backtest and
 * the live controller both build their input with this.
 */
export const dayAheadWindow = (priceOfHour: (hourMs: number) => number | undefined, atMs: number, horizonIntervals: number, intervalMs: number): DayAhead => {
  const fromMs = Math.floor((atMs - intervalMs) / HOUR_MS) * HOUR_MS;
  const hours = Math.ceil((atMs + horizonIntervals * intervalMs - fromMs) / HOUR_MS);
  return {
    fromMs,
    hourlyUsdPerMwh: Array.from({ length: hours }, (_, h) => {
      const hourMs = fromMs + h * HOUR_MS;
      return dayAheadPublic(hourMs, atMs) ? (priceOfHour(hourMs) ?? null) : null;
    }),
  };
};

export const DEFAULT_PERSISTENCE = 0.73;

/**
 * Stateless forecast from the last settled price (`lastUsdPerMwh`, interval starting at
 * `lastStartMs`) and day-ahead prices: DA_k + (p_last − DA_last)·ρ^(k+1); persistence where DA is missing.
 */
export const persistenceForecast = (args: {
  atMs: number;
  intervalMs: number;
  horizon: number;
  lastUsdPerMwh: number;
  dayAhead?: DayAhead;
  persistence?: number;
}): PriceForecast => {
  const rho = args.persistence ?? DEFAULT_PERSISTENCE;
  const daLast = dayAheadAt(args.dayAhead, args.atMs - args.intervalMs);
  const prices: number[] = [];
  for (let k = 0; k < args.horizon; k++) {
    const da = dayAheadAt(args.dayAhead, args.atMs + k * args.intervalMs);
    prices.push(da === undefined || daLast === undefined ? args.lastUsdPerMwh : da + (args.lastUsdPerMwh - daLast) * rho ** (k + 1));
  }
  return { pricesUsdPerMwh: prices, method: daLast === undefined ? 'persistence' : `day-ahead + deviation × ${rho}^k` };
};

// ---------------------------------------------------------------------------------------
// Learned forecaster

/** Bucket edges, USD/MWh. */
const LEVEL_EDGES = [0, 25, 50, 100, 150, 200, 300, 500, 1000, 2000, 4000];
const REGIME_EDGES = [100, 200, 500, 2000];
const DA_EDGES = [50, 100, 200, 500, 1000];
const bucket = (x: number, edges: readonly number[]) => {
  let k = 0;
  while (k < edges.length && x >= edges[k]!) k++;
  return k;
};
const NR = REGIME_EDGES.length + 1;
const ND = DA_EDGES.length + 2; // + missing

export type LearnedForecasterConfig = {
  intervalMs: number;
  horizon: number;
  /** Days of same-time-of-day history in the regime feature. */
  regimeDays: number;
  /** Half-width of the same-time-of-day window, intervals. */
  regimeHalfWidth: number;
  /** Pseudo-observations pulling each cell toward its back-off. */
  shrinkage: number;
  /**
   * What the learned means correct: `last` — the last settled price (pure persistence when a
   * cell knows nothing); `day-ahead` — the stateless day-ahead + decaying deviation forecast
   * (ρ = `persistence`), which is the last price again where a day-ahead price is missing.
   */
  anchor: 'last' | 'day-ahead';
  persistence: number;
  /**
   * Condition on how much the price moved over the last two hours (range < $20, < $100, more):
   * the same last price means something else in a calm hour than in a turbulent one.
   */
  swing: boolean;
};

export const DEFAULT_LEARNED_CONFIG: LearnedForecasterConfig = {
  intervalMs: 900_000,
  horizon: 8,
  regimeDays: 3,
  regimeHalfWidth: 4,
  shrinkage: 10,
  anchor: 'last',
  persistence: DEFAULT_PERSISTENCE,
  // measured on 2023–24 (simulators/backtest/README.md): better for the fixed controller, worse for the adaptive one on three of four site-years
  swing: false,
};

/** The anchor of horizon k from the last settled price and the day-ahead prices of its interval and of the target. */
const anchorOf = (c: LearnedForecasterConfig, k: number, base: number, daBase: number | undefined, daTarget: number | undefined) =>
  c.anchor === 'day-ahead' && daBase !== undefined && daTarget !== undefined ? daTarget + (base - daBase) * c.persistence ** (k + 1) : base;

/** A cell's running sums: [Σy, Σy², n]. */
type Cell = readonly [number, number, number];
const EMPTY: Cell = [0, 0, 0];

export type LearnedForecasterState = {
  config: LearnedForecasterConfig;
  /** Slot (startMs / intervalMs) of `prices[0]`. */
  firstSlot: number;
  /** Settled real-time prices by slot (null: not observed). */
  prices: (number | null)[];
  /** Day-ahead price in force for each slot (null: none). */
  dayAhead: (number | null)[];
  /** Per horizon: cells by (level, regime) and by (level, regime, day-ahead). Sparse arrays (copy on write). */
  coarse: Cell[][];
  fine: Cell[][];
  observed: number;
};

export const initialLearnedForecaster = (config: LearnedForecasterConfig = DEFAULT_LEARNED_CONFIG): LearnedForecasterState => ({
  config,
  firstSlot: 0,
  prices: [],
  dayAhead: [],
  coarse: Array.from({ length: config.horizon }, () => []),
  fine: Array.from({ length: config.horizon }, () => []),
  observed: 0,
});

const historyLength = (c: LearnedForecasterConfig) => c.regimeDays * slotsPerDay(c) + c.regimeHalfWidth + c.horizon + 2;
const slotsPerDay = (c: LearnedForecasterConfig) => Math.round(86_400_000 / c.intervalMs);

const priceAt = (s: LearnedForecasterState, slot: number): number | undefined => {
  const v = s.prices[slot - s.firstSlot];
  return v === null || v === undefined ? undefined : v;
};

/** The settled price the forecaster holds for the interval starting at `startMs`, if it has seen it. */
export const settledAt = (s: LearnedForecasterState, startMs: number): number | undefined => priceAt(s, Math.floor(startMs / s.config.intervalMs));

const dayAheadOf = (s: LearnedForecasterState, slot: number): number | undefined => {
  const v = s.dayAhead[slot - s.firstSlot];
  return v === null || v === undefined ? undefined : v;
};

/** Highest settled price around the same time of day as `target` on each of the previous days, using slots < `knownBefore` only. */
const regimeOf = (s: LearnedForecasterState, target: number, knownBefore: number): number | undefined => {
  const c = s.config;
  let best: number | undefined;
  for (let d = 1; d <= c.regimeDays; d++)
    for (let o = -c.regimeHalfWidth; o <= c.regimeHalfWidth; o++) {
      const slot = target - d * slotsPerDay(c) + o;
      if (slot >= knownBefore) continue;
      const p = priceAt(s, slot);
      if (p !== undefined && (best === undefined || p > best)) best = p;
    }
  return best;
};

/** Edges of the range (highest − lowest) of the last two hours' settled prices, USD/MWh: calm, moving, turbulent. */
const SWING_EDGES = [20, 100];
const SWING_INTERVALS = 8;
const NS = SWING_EDGES.length + 1;

/** How much the price moved over the intervals before decision slot `i` (bucket; 0 when the feature is off). */
const swingOf = (s: LearnedForecasterState, i: number): number => {
  if (!s.config.swing) return 0;
  let hi = -Infinity;
  let lo = Infinity;
  for (let q = 1; q <= SWING_INTERVALS; q++) {
    const p = priceAt(s, i - q);
    if (p === undefined) continue;
    if (p > hi) hi = p;
    if (p < lo) lo = p;
  }
  return hi >= lo ? bucket(hi - lo, SWING_EDGES) : 0;
};

const keys = (level: number, regime: number | undefined, da: number | undefined, swing: number) => {
  const coarse = (bucket(level, LEVEL_EDGES) * NR + (regime === undefined ? 0 : bucket(regime, REGIME_EDGES))) * NS + swing;
  const fine = coarse * ND + (da === undefined ? ND - 1 : bucket(da, DA_EDGES));
  return { coarse, fine };
};

const addTo = (cells: Cell[], key: number, y: number): Cell[] => {
  const next = cells.slice();
  const [s, ss, n] = cells[key] ?? EMPTY;
  next[key] = [s + y, ss + y * y, n + 1];
  return next;
};

/**
 * Record the settled price of the interval starting at `startMs` (and the day-ahead price that
 * was in force for it), and learn from it for every horizon. Intervals must come in time order;
 * skipped intervals are gaps.
 */
export const observeSettled = (
  state: LearnedForecasterState,
  settled: { startMs: number; priceUsdPerMwh: number; dayAheadUsdPerMwh: number | null },
): LearnedForecasterState => {
  const c = state.config;
  const slot = Math.floor(settled.startMs / c.intervalMs);
  let { firstSlot, prices, dayAhead } = state;
  if (prices.length === 0) firstSlot = slot;
  const last = firstSlot + prices.length - 1;
  if (prices.length > 0 && slot <= last) throw new RangeError(`interval ${iso(settled.startMs)} is not after the last observed one`);
  const keep = historyLength(c);
  if (prices.length > 0 && slot - last > keep) {
    // a gap longer than the history kept leaves nothing of it: start again here (never fill it slot by slot)
    [firstSlot, prices, dayAhead] = [slot, [], []];
  }
  prices = prices.slice();
  dayAhead = dayAhead.slice();
  for (let g = last + 1; prices.length > 0 && g < slot; g++) {
    prices.push(null);
    dayAhead.push(null);
  }
  prices.push(settled.priceUsdPerMwh);
  dayAhead.push(settled.dayAheadUsdPerMwh);
  if (prices.length > keep) {
    const drop = prices.length - keep;
    prices = prices.slice(drop);
    dayAhead = dayAhead.slice(drop);
    firstSlot += drop;
  }
  const next: LearnedForecasterState = { ...state, firstSlot, prices, dayAhead, observed: state.observed + 1 };
  // learn: a decision at slot i = slot − k predicted this slot from p[i − 1]
  const coarse = state.coarse.slice();
  const fine = state.fine.slice();
  for (let k = 0; k < c.horizon; k++) {
    const i = slot - k;
    const base = priceAt(next, i - 1);
    if (base === undefined) continue;
    const { coarse: kc, fine: kf } = keys(base, regimeOf(next, slot, i), settled.dayAheadUsdPerMwh ?? undefined, swingOf(next, i));
    const y = settled.priceUsdPerMwh - anchorOf(c, k, base, dayAheadOf(next, i - 1), settled.dayAheadUsdPerMwh ?? undefined);
    coarse[k] = addTo(coarse[k]!, kc, y);
    fine[k] = addTo(fine[k]!, kf, y);
  }
  return { ...next, coarse, fine };
};

/**
 * Expected prices for the `horizon` intervals from `atMs`, given the state (which should have
 * seen every interval before `atMs`) and the day-ahead prices known at `atMs`.
 */
export const learnedForecast = (state: LearnedForecasterState, args: { atMs: number; dayAhead?: DayAhead }): PriceForecast => {
  const c = state.config;
  const i = Math.floor(args.atMs / c.intervalMs);
  // the last settled price: interval i − 1, or the latest one before it
  let base: number | undefined;
  let baseSlot = i - 1;
  for (; baseSlot >= state.firstSlot && base === undefined; baseSlot--) base = priceAt(state, baseSlot);
  baseSlot++;
  const daBase = dayAheadAt(args.dayAhead, baseSlot * c.intervalMs) ?? dayAheadOf(state, baseSlot);
  if (base === undefined) throw new RangeError('the forecaster has seen no settled price before this time');
  const prices: number[] = [];
  const spreads: number[] = [];
  const k0 = c.shrinkage;
  const swing = swingOf(state, i);
  for (let k = 0; k < c.horizon; k++) {
    const j = i + k;
    const da = dayAheadAt(args.dayAhead, j * c.intervalMs);
    const { coarse: kc, fine: kf } = keys(base, regimeOf(state, j, i), da, swing);
    const [cs, css, cn] = state.coarse[k]![kc] ?? EMPTY;
    const [fs, fss, fn] = state.fine[k]![kf] ?? EMPTY;
    const coarseMean = cs / (cn + k0);
    const mean = (fs + k0 * coarseMean) / (fn + k0);
    const n = fn >= 2 ? fn : cn;
    const [sum, sq] = fn >= 2 ? [fs, fss] : [cs, css];
    spreads.push(n >= 2 ? Math.sqrt(Math.max(0, sq / n - (sum / n) ** 2)) : 0);
    prices.push(anchorOf(c, k, base, daBase, da) + mean);
  }
  return { pricesUsdPerMwh: prices, spreadUsdPerMwh: spreads, method: `learned conditional mean (${state.observed} intervals seen)` };
};
