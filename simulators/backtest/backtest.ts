/**
 * Backtest of the economic controller on real market history (`npx hcp backtest`).
 *
 * Every strategy runs over the SAME trace (15-minute ERCOT real-time prices, BTC hourly,
 * network daily, GPU monthly; see trace.ts), the same facility cut into the same blocks
 * (controller.ts `expandFacility`), the same switching costs and the same minimum dwell, and
 * starts from the same state (everything mining and serving). Each is scored on the realized
 * prices: per block and interval the profit of the mode it chose, in integer micro-USD, minus
 * the cost of each change of mode. The warm GPU reserve (idle draw) and P1 real-time inference
 * (never yields) are the same in every strategy.
 *
 * Strategies:
 * - `controller`: the economic controller with the learned forecaster (forecast.ts), which
 *   learns online from the prices it has seen (and, by default, a year of earlier history
 *   where the data has it — none before 2023), never from later ones.
 * - `controller-persistence`: the same controller with the stateless day-ahead + persistence forecast.
 * - `reactive`: each block, each interval, takes the mode that was more profitable at the
 *   previous interval's price (no look-ahead, no hysteresis).
 * - `seed-10pct`: the seed guide's rule, as written there: the whole facility is in AI mode
 *   when AI profit/h exceeds 1.1 × mining profit/h at the latest prices, else in mining mode
 *   (AI mode: ASICs asleep, all GPU tiers serve; mining mode: ASICs mine, batch/training pause).
 * - `mining-only`: ASICs always mine; batch/training never run.
 * - `ai-only`: ASICs always asleep; every GPU tier always serves.
 * - `optimum`: hindsight optimum with perfect foresight, same costs and dwell: exact dynamic
 *   programming per block (plan.ts). The blocks are independent when the power budget does
 *   not bind, so the sum of per-block optima is the facility optimum. When the budget can bind
 *   (a budget below the facility's full draw), the per-block DP ignores it: it is then an upper
 *   bound (a relaxation), and the result says so.
 */
import { SEED_SCENARIO, type FacilitySpec } from '../../domain/fleet/inventory.ts';
import { GPU_TYPES, type GpuType } from '../../domain/workload/request.ts';
import { DEFAULT_CONTROLLER_CONFIG, decide, initialControllerState, type ControllerConfig, type ControllerState, type Recommendation, type EconomicsObservation } from '../../domain/economics/controller.ts';
import { blockKw, blockProfitUsdPerHour, blockRevenueUsdPerHour, blockSwitchCostUsd, expandFacility, reserveKw, type Block, type DemandShares } from '../../domain/economics/blocks.ts';
import { dayAheadWindow, initialLearnedForecaster, learnedForecast, observeSettled, DEFAULT_LEARNED_CONFIG, type LearnedForecasterState } from '../../domain/economics/forecast.ts';
import { dayAheadIntervals } from '../../domain/economics/policy.ts';
import { adaptiveDecide, initialAdaptation, type AdaptationOptions } from '../../domain/economics/adaptation.ts';
import { optimalPlan, scheduleValue, type BlockProblem } from '../../domain/economics/plan.ts';
import { toMicroUsd } from '../../domain/economics/profitability.ts';
import { ercotDayAheadHourly, ercotRealTime15Min } from '../market/history.ts';
import { buildTrace, traceSpan, INTERVAL_MS, type Rt15Node, type Trace, type TraceInterval } from './trace.ts';
import { isoMinute as iso } from '../../domain/time.ts';

export const STRATEGIES = ['controller', 'controller-fixed', 'controller-persistence', 'reactive', 'seed-10pct', 'mining-only', 'ai-only', 'optimum'] as const;
/** Not causal, so never run unless asked for (`--strategies`): an estimate of the best these forecasting features could do. */
export const ANALYSIS_STRATEGIES = ['in-sample-limit'] as const;
export type StrategyName = (typeof STRATEGIES)[number] | (typeof ANALYSIS_STRATEGIES)[number];

const STRATEGY_LABELS: Record<StrategyName, string> = {
  controller: 'controller (adaptive)',
  'controller-fixed': 'controller (learned, fixed)',
  'controller-persistence': 'controller (DA + persistence)',
  reactive: 'reactive (previous price)',
  'seed-10pct': 'seed rule (AI if +10%)',
  'mining-only': 'mining only',
  'ai-only': 'AI only',
  optimum: 'hindsight optimum (DP)',
  'in-sample-limit': 'in-sample limit (forecaster fitted on the scored trace)',
};

export type BacktestOptions = {
  /** Calendar year (UTC) of the trace; ignored when fromMs/toMs are given. Default 2023. */
  year?: number;
  fromMs?: number;
  toMs?: number;
  /** 15-minute price node; default the facility's node when it has 15-minute data, else HB_WEST. */
  node?: Rt15Node;
  /** A seed facility id or a spec. Default texas-north. */
  facility?: string | FacilitySpec;
  /** Cost of switching one MW of ASICs, either way, USD. Default 10. */
  switchCostUsdPerMw?: number;
  /** GPU billed time lost per pause or resume of batch/training work, s. Default 84. */
  gpuSwitchSeconds?: number;
  /** Minimum time in a mode after a change, minutes (a multiple of 15). Default 15. */
  minDwellMinutes?: number;
  /** Look-ahead of the controller, 15-minute intervals. Default 8. */
  horizonIntervals?: number;
  poolFee?: number;
  /** Billed share of a serving GPU-hour. Default 0.7 (an assumption). */
  gpuUtilization?: number;
  /** Serving GPUs by tier. Default P1 0.4, P2 0.3, P3 0.3 (an assumption). */
  gpuDemandShares?: DemandShares;
  /** Constant GPU rates replacing the monthly series, USD per GPU-hour. */
  gpuRates?: Partial<Record<GpuType, number>>;
  /** Facility power budget, kW (default the facility's). */
  budgetKw?: number;
  asicBlockUnits?: number;
  /** Days of earlier history the learned forecaster may read before the trace starts. Default 365 (none exists before 2023). */
  forecasterWarmUpDays?: number;
  strategies?: readonly StrategyName[];
  /** What the learned forecaster corrects: the last price (default) or day-ahead + persistence (forecast.ts). */
  forecastAnchor?: 'last' | 'day-ahead';
  /** Whether the learned forecaster conditions on the last two hours' price range (forecast.ts `swing`; default false). */
  forecastSwing?: boolean;
  /** How the adaptive controller weighs its record (adaptation.ts). */
  adaptation?: AdaptationOptions;
  /** A folder of market files in the format of simulators/market/data (e.g. a stress scenario); without a year or dates the whole span of its 15-minute prices. */
  dataDir?: string;
  /** A ready trace (synthetic markets for property tests); replaces year/from/to/node and the warm-up. */
  trace?: Trace;
  onProgress?: (fraction: number) => void;
};

export type StrategyResult = {
  strategy: StrategyName;
  label: string;
  netProfitUsd: number;
  /** Of which: ASIC blocks, GPU blocks and warm reserve. */
  asicProfitUsd: number;
  gpuProfitUsd: number;
  switchingCostUsd: number;
  /** Changes of mode, counted per block. */
  blockSwitches: number;
  /** Intervals in which at least one block changed mode. */
  switchEvents: number;
  /** Net profit as a share of the hindsight optimum, %; null when the optimum is not positive or not computed. */
  shareOfOptimumPct: number | null;
};

export type BacktestResult = {
  facility: { facilityId: string; name: string; powerBudgetKw: number; blocks: number; asicUnits: number; gpus: number; leftOut: string[] };
  trace: { node: Rt15Node; from: string; to: string; intervals: number; notes: string[] };
  settings: {
    switchCostUsdPerMw: number;
    gpuSwitchSeconds: number;
    minDwellMinutes: number;
    horizonIntervals: number;
    poolFee: number;
    gpuUtilization: number;
    gpuDemandShares: DemandShares;
    asicBlockUnits: number;
    forecasterWarmUpIntervals: number;
  };
  /** True when the budget can bind: the optimum is then an upper bound, not attained. */
  budgetCanBind: boolean;
  strategies: StrategyResult[];
};

const DEFAULT_SHARES: DemandShares = { P1: 0.4, P2: 0.3, P3: 0.3 };

type Resolved = {
  facility: FacilitySpec;
  leftOut: string[];
  trace: Trace;
  config: ControllerConfig;
  utilization: number;
  shares: DemandShares;
  warmUpDays: number;
  dataDir?: string;
  adaptation: AdaptationOptions;
  forecastAnchor?: 'last' | 'day-ahead';
  forecastSwing: boolean;
};

const resolve = (o: BacktestOptions): Resolved => {
  const base = typeof o.facility === 'object' ? o.facility : SEED_SCENARIO.find((f) => f.facilityId === (o.facility ?? 'texas-north'));
  if (!base) throw new RangeError(`unknown facility ${String(o.facility)}: one of ${SEED_SCENARIO.map((f) => f.facilityId).join(', ')}`);
  const node: Rt15Node = o.trace?.node ?? o.node ?? (base.marketNode === 'HB_NORTH' || base.marketNode === 'HB_WEST' ? base.marketNode : 'HB_WEST');
  // a folder brought by the caller: its whole span unless a year or dates narrow it
  const span = o.dataDir !== undefined && o.year === undefined && o.fromMs === undefined ? traceSpan(node, o.dataDir) : undefined;
  const year = o.year ?? 2023;
  const fromMs = o.fromMs ?? span?.fromMs ?? Date.UTC(year, 0, 1);
  const toMs = o.toMs ?? span?.toMs ?? Date.UTC(year + 1, 0, 1);
  const built = o.trace ?? buildTrace({ node, fromMs, toMs, ...(o.gpuRates ? { gpuRateOverrides: o.gpuRates } : {}), ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}) });
  const trace: Trace = { ...built, notes: [...built.notes] };
  const types = new Set(base.gpuPools.map((p) => p.gpuType));
  trace.notes = trace.notes.filter((note) => !/^(H100|A100|L40S)\b/.test(note) || types.has(note.slice(0, note.search(/[ ]/)) as GpuType));
  if (base.marketNode !== node) trace.notes.push(`${base.name} is priced at ${node} (its own node ${base.marketNode} has no 15-minute series, or the caller chose ${node})`);
  // GPU pools whose type has no rate anywhere in the trace are left out (no invented price)
  const priced = new Set(GPU_TYPES.filter((t) => trace.intervals.some((i) => i.gpuUsdPerHour[t] !== undefined)));
  const leftOut = base.gpuPools.filter((p) => !priced.has(p.gpuType)).map((p) => `${p.count} ${p.gpuType} (no rate)`);
  const facility: FacilitySpec = { ...base, gpuPools: base.gpuPools.filter((p) => priced.has(p.gpuType)), powerBudgetKw: o.budgetKw ?? base.powerBudgetKw };
  const dwell = o.minDwellMinutes ?? 15;
  if (!(dwell >= 15 && dwell % 15 === 0)) throw new RangeError('minDwellMinutes must be a positive multiple of 15');
  const config: ControllerConfig = {
    ...DEFAULT_CONTROLLER_CONFIG,
    intervalMs: INTERVAL_MS,
    minDwellMs: dwell * 60_000,
    horizonIntervals: o.horizonIntervals ?? DEFAULT_CONTROLLER_CONFIG.horizonIntervals,
    asicSwitchCostUsdPerMw: o.switchCostUsdPerMw ?? DEFAULT_CONTROLLER_CONFIG.asicSwitchCostUsdPerMw,
    gpuSwitchSeconds: o.gpuSwitchSeconds ?? DEFAULT_CONTROLLER_CONFIG.gpuSwitchSeconds,
    poolFee: o.poolFee ?? DEFAULT_CONTROLLER_CONFIG.poolFee,
    asicBlockUnits: o.asicBlockUnits ?? DEFAULT_CONTROLLER_CONFIG.asicBlockUnits,
  };
  return { facility, leftOut, trace, config, utilization: o.gpuUtilization ?? 0.7, shares: o.gpuDemandShares ?? DEFAULT_SHARES, warmUpDays: o.trace ? 0 : (o.forecasterWarmUpDays ?? 365), adaptation: o.adaptation ?? {}, forecastSwing: o.forecastSwing ?? DEFAULT_LEARNED_CONFIG.swing, ...(o.forecastAnchor ? { forecastAnchor: o.forecastAnchor } : {}), ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}) };
};

/** What the controller knows at the start of an interval. */
const observationAt = (r: Resolved, iv: TraceInterval): EconomicsObservation => ({
  atMs: iv.startMs,
  btcUsd: iv.btcUsdKnown,
  network: iv.networkKnown,
  electricityUsdPerMwh: iv.lastRtUsdPerMwh!,
  dayAhead: dayAheadWindow((h) => r.trace.dayAheadByHour.get(h), iv.startMs, dayAheadIntervals(r.config.horizonIntervals, r.adaptation.policies), INTERVAL_MS),
  gpuUsdPerHour: iv.gpuUsdPerHour,
  gpuUtilization: r.utilization,
  gpuDemandShares: r.shares,
});

/** Realized per-interval rewards of each block (integer micro-USD) and its switching costs. */
const problems = (r: Resolved, blocks: Block[]): { problems: BlockProblem[]; reserveMicro: number } => {
  const dt = INTERVAL_MS / 3_600_000;
  const n = r.trace.intervals.length;
  const D = Math.max(1, Math.round(r.config.minDwellMs / INTERVAL_MS));
  const out = blocks.map((b) => {
    const idle = new Float64Array(n);
    const active = new Float64Array(n);
    const cost = new Float64Array(n);
    r.trace.intervals.forEach((iv, t) => {
      const obs = { btcUsd: iv.btcUsd, network: iv.network, gpuUsdPerHour: iv.gpuUsdPerHour, gpuUtilization: r.utilization };
      const rev = blockRevenueUsdPerHour(b, obs, r.config.poolFee);
      const p = blockProfitUsdPerHour(b, rev, iv.rtUsdPerMwh);
      idle[t] = toMicroUsd(p.idle * dt);
      active[t] = toMicroUsd(p.active * dt);
      cost[t] = toMicroUsd(blockSwitchCostUsd(b, rev, r.config));
    });
    return { idle, active, switchCost: cost, minDwell: D, initialMode: 1 as const, initialAge: D };
  });
  const { reserve } = expandFacility(r.facility, r.config.asicBlockUnits, r.shares);
  const reserveMicro = r.trace.intervals.reduce((s, iv) => s + toMicroUsd(-(reserveKw(reserve) / 1000) * iv.rtUsdPerMwh * dt), 0);
  return { problems: out, reserveMicro };
};

/** Keeps a block in its mode until the dwell allows a change. */
class DwellGuard {
  private mode: Uint8Array;
  private age: Int32Array;
  constructor(
    n: number,
    private readonly minDwell: number,
  ) {
    this.mode = new Uint8Array(n).fill(1);
    this.age = new Int32Array(n).fill(minDwell);
  }
  request(b: number, want: number): number {
    if (want !== this.mode[b] && this.age[b]! >= this.minDwell) {
      this.mode[b] = want;
      this.age[b] = 1;
    } else this.age[b]!++;
    return this.mode[b]!;
  }
}

type Schedules = Uint8Array[];

const runRule = (r: Resolved, blocks: Block[], want: (t: number, iv: TraceInterval, b: Block, k: number) => number | undefined): Schedules => {
  const n = r.trace.intervals.length;
  const D = Math.max(1, Math.round(r.config.minDwellMs / INTERVAL_MS));
  const guard = new DwellGuard(blocks.length, D);
  const modes = blocks.map(() => new Uint8Array(n));
  r.trace.intervals.forEach((iv, t) => {
    blocks.forEach((b, k) => {
      const w = b.interruptible ? want(t, iv, b, k) : 1;
      modes[k]![t] = guard.request(k, w ?? (t > 0 ? modes[k]![t - 1]! : 1));
    });
  });
  return modes;
};

/** Profit per hour of each block's modes at the previous price, as a rule sees it. */
const knownProfit = (r: Resolved, iv: TraceInterval, b: Block) => {
  const rev = blockRevenueUsdPerHour(b, { btcUsd: iv.btcUsdKnown, network: iv.networkKnown, gpuUsdPerHour: iv.gpuUsdPerHour, gpuUtilization: r.utilization }, r.config.poolFee);
  return blockProfitUsdPerHour(b, rev, iv.lastRtUsdPerMwh!);
};

const reactive = (r: Resolved, blocks: Block[]) =>
  runRule(r, blocks, (_, iv, b) => {
    if (iv.lastRtUsdPerMwh === null) return undefined;
    const p = knownProfit(r, iv, b);
    return p.active > p.idle ? 1 : 0;
  });

const seedRule = (r: Resolved, blocks: Block[]) => {
  let aiMode = false;
  let at = -1;
  return runRule(r, blocks, (t, iv, b) => {
    if (iv.lastRtUsdPerMwh === null) return undefined;
    if (at !== t) {
      at = t;
      let ai = 0;
      let mining = 0;
      for (const x of blocks) {
        const p = knownProfit(r, iv, x).active;
        if (x.kind === 'gpu') ai += p;
        else mining += p;
      }
      aiMode = ai > 1.1 * mining; // the seed: if aiProfitPerHour > btcProfitPerHour * 1.1 → SWITCH_TO_AI
    }
    return b.kind === 'asic' ? (aiMode ? 0 : 1) : aiMode ? 1 : 0;
  });
};

/** `in-sample`: the learned controller whose forecaster's conditional means were fitted on the whole scored trace (its history still moves causally). */
type ControllerKind = 'adaptive' | 'learned' | 'persistence' | 'in-sample';

/** The strategies that run the controller, and how. */
const CONTROLLER_KINDS: Partial<Record<StrategyName, ControllerKind>> = {
  controller: 'adaptive',
  'controller-fixed': 'learned',
  'controller-persistence': 'persistence',
  'in-sample-limit': 'in-sample',
};

const controller = (r: Resolved, blocks: Block[], kind: ControllerKind, onProgress?: (f: number) => void): Schedules => {
  const n = r.trace.intervals.length;
  const modes = blocks.map(() => new Uint8Array(n).fill(1));
  let state = initialControllerState(r.facility, r.trace.fromMs, r.config);
  let fc: LearnedForecasterState | undefined = kind !== 'persistence' ? warmUp(r) : undefined;
  const fitted = kind === 'in-sample' ? r.trace.intervals.reduce((f, iv) => observeSettled(f, { startMs: iv.startMs, priceUsdPerMwh: iv.rtUsdPerMwh, dayAheadUsdPerMwh: iv.daUsdPerMwh }), fc!) : undefined;
  let record = kind === 'adaptive' ? initialAdaptation(r.facility, r.trace.fromMs, r.config, r.adaptation) : undefined;
  let lastReport = -1;
  r.trace.intervals.forEach((iv, t) => {
    if (iv.lastRtUsdPerMwh !== null) {
      const observation = observationAt(r, iv);
      const knows = fitted && fc ? { ...fc, coarse: fitted.coarse, fine: fitted.fine } : fc;
      const forecast = knows && knows.observed > 0 ? learnedForecast(knows, { atMs: iv.startMs, dayAhead: observation.dayAhead! }) : undefined;
      const input = { facility: r.facility, observation, state, config: r.config, ...(forecast ? { forecast } : {}) };
      let out: { recommendation: Recommendation; state: ControllerState };
      if (record) {
        const settled = t > 0 ? { startMs: r.trace.intervals[t - 1]!.startMs, usdPerMwh: iv.lastRtUsdPerMwh } : undefined;
        const step = adaptiveDecide({ ...input, record, ...(settled ? { settled } : {}) });
        record = step.record;
        out = step;
      } else out = decide(input);
      state = out.state;
      blocks.forEach((b, k) => {
        modes[k]![t] = out.recommendation.allocation.blocks[b.id]!;
      });
    } else if (t > 0) blocks.forEach((_, k) => (modes[k]![t] = modes[k]![t - 1]!));
    if (fc) fc = observeSettled(fc, { startMs: iv.startMs, priceUsdPerMwh: iv.rtUsdPerMwh, dayAheadUsdPerMwh: iv.daUsdPerMwh });
    const pct = Math.floor((100 * (t + 1)) / n);
    if (onProgress && pct !== lastReport) {
      lastReport = pct;
      onProgress((t + 1) / n);
    }
  });
  return modes;
};

/** The learned forecaster, shown the history before the trace (causal: only earlier prices). */
const warmUp = (r: Resolved): LearnedForecasterState => {
  let fc = initialLearnedForecaster({ ...DEFAULT_LEARNED_CONFIG, intervalMs: INTERVAL_MS, horizon: r.config.horizonIntervals, swing: r.forecastSwing, ...(r.forecastAnchor ? { anchor: r.forecastAnchor } : {}) });
  if (r.warmUpDays === 0) return fc;
  const from = r.trace.fromMs - r.warmUpDays * 86_400_000;
  const da = new Map(ercotDayAheadHourly(r.trace.node, r.dataDir).map((p) => [p.t, p.value]));
  for (const p of ercotRealTime15Min(r.trace.node, r.dataDir)) {
    if (p.t < from) continue;
    if (p.t >= r.trace.fromMs) break;
    fc = observeSettled(fc, { startMs: p.t, priceUsdPerMwh: p.value, dayAheadUsdPerMwh: da.get(Math.floor(p.t / 3_600_000) * 3_600_000) ?? null });
  }
  return fc;
};

const warmUpCount = (r: Resolved) => {
  if (r.warmUpDays === 0) return 0;
  const from = r.trace.fromMs - r.warmUpDays * 86_400_000;
  return ercotRealTime15Min(r.trace.node, r.dataDir).filter((p) => p.t >= from && p.t < r.trace.fromMs).length;
};

const staticRule = (r: Resolved, blocks: Block[], asic: number, gpu: number) => runRule(r, blocks, (_, __, b) => (b.kind === 'asic' ? asic : gpu));

/** Shed interruptible blocks (lowest known profit per kW first) where a schedule exceeds the budget. The budget overrides the dwell. */
const enforceBudget = (r: Resolved, blocks: Block[], modes: Schedules, reserveDraw: number) => {
  r.trace.intervals.forEach((iv, t) => {
    let kw = reserveDraw + blocks.reduce((s, b, k) => s + (modes[k]![t] ? blockKw(b).active : blockKw(b).idle), 0);
    if (kw <= r.facility.powerBudgetKw) return;
    const order = blocks
      .map((b, k) => ({ b, k, d: iv.lastRtUsdPerMwh === null ? 0 : ((p) => (p.active - p.idle) / (blockKw(b).active - blockKw(b).idle))(knownProfit(r, iv, b)) }))
      .filter((x) => x.b.interruptible && modes[x.k]![t] === 1)
      .sort((a, c) => a.d - c.d);
    for (const x of order) {
      if (kw <= r.facility.powerBudgetKw) break;
      modes[x.k]![t] = 0;
      kw -= blockKw(x.b).active - blockKw(x.b).idle;
    }
  });
};

/**
 * The adaptive controller's decisions over the trace, interval by interval: each interruptible
 * block's mode (1 active, 0 idle) from the first interval it decided. What a replay of the same
 * trace through the live pipeline must reproduce.
 */
export const controllerDecisions = (options: BacktestOptions = {}): Array<{ startMs: number; blocks: Record<string, number> }> => {
  const r = resolve(options);
  const { blocks } = expandFacility(r.facility, r.config.asicBlockUnits, r.shares);
  const modes = controller(r, blocks, 'adaptive');
  const decided = blocks.flatMap((b, k) => (b.interruptible ? [{ id: b.id, k }] : []));
  return r.trace.intervals.flatMap((iv, t) =>
    iv.lastRtUsdPerMwh === null ? [] : [{ startMs: iv.startMs, blocks: Object.fromEntries(decided.map(({ id, k }) => [id, modes[k]![t]!])) }],
  );
};

export const runBacktest = (options: BacktestOptions = {}): BacktestResult => {
  const r = resolve(options);
  const { blocks, reserve } = expandFacility(r.facility, r.config.asicBlockUnits, r.shares);
  const { problems: probs, reserveMicro } = problems(r, blocks);
  const reserveDraw = reserveKw(reserve);
  const fullDraw = reserveDraw + blocks.reduce((s, b) => s + blockKw(b).active, 0);
  const budgetCanBind = fullDraw > r.facility.powerBudgetKw;
  const wanted = options.strategies ?? STRATEGIES;
  const n = r.trace.intervals.length;

  const score = (name: StrategyName, modes: Schedules | 'optimum'): StrategyResult => {
    let asic = 0;
    let gpu = reserveMicro;
    let switchCost = 0;
    let blockSwitches = 0;
    const changedAt = new Uint8Array(n);
    blocks.forEach((b, k) => {
      const p = probs[k]!;
      let value: number;
      let sched: ArrayLike<number>;
      if (modes === 'optimum') {
        const plan = b.interruptible ? optimalPlan(p) : { value: sum(p.active), modes: new Uint8Array(n).fill(1), switches: 0 };
        value = plan.value;
        sched = plan.modes;
      } else {
        sched = modes[k]!;
        value = scheduleValue(p, sched, { checkDwell: !budgetCanBind }).value;
      }
      let prev = p.initialMode as number;
      for (let t = 0; t < n; t++) {
        if (sched[t] !== prev) {
          switchCost += (p.switchCost as Float64Array)[t]!;
          blockSwitches++;
          changedAt[t] = 1;
          prev = sched[t]!;
        }
      }
      if (b.kind === 'asic') asic += value;
      else gpu += value;
    });
    return {
      strategy: name,
      label: STRATEGY_LABELS[name],
      netProfitUsd: (asic + gpu) / 1e6,
      asicProfitUsd: asic / 1e6,
      gpuProfitUsd: gpu / 1e6,
      switchingCostUsd: switchCost / 1e6,
      blockSwitches,
      switchEvents: changedAt.reduce((s, x) => s + x, 0),
      shareOfOptimumPct: null,
    };
  };

  const results: StrategyResult[] = [];
  const progressOf = (from: number, to: number) => (options.onProgress ? (f: number) => options.onProgress!(from + (to - from) * f) : undefined);
  const controllers = wanted.filter((s) => CONTROLLER_KINDS[s]).length;
  let done = 0;
  for (const name of wanted) {
    let modes: Schedules | 'optimum';
    switch (name) {
      case 'controller':
      case 'controller-fixed':
      case 'controller-persistence':
      case 'in-sample-limit': {
        const share = 0.95 / Math.max(1, controllers);
        modes = controller(r, blocks, CONTROLLER_KINDS[name]!, progressOf(done * share, (done + 1) * share));
        done++;
        break;
      }
      case 'reactive':
        modes = reactive(r, blocks);
        break;
      case 'seed-10pct':
        modes = seedRule(r, blocks);
        break;
      case 'mining-only':
        modes = staticRule(r, blocks, 1, 0);
        break;
      case 'ai-only':
        modes = staticRule(r, blocks, 0, 1);
        break;
      case 'optimum':
        modes = 'optimum';
        break;
    }
    if (modes !== 'optimum' && budgetCanBind) enforceBudget(r, blocks, modes, reserveDraw);
    results.push(score(name, modes));
  }
  const optimum = results.find((x) => x.strategy === 'optimum') ?? (wanted.includes('optimum') ? undefined : score('optimum', 'optimum'));
  for (const x of results) x.shareOfOptimumPct = optimum && optimum.netProfitUsd > 0 ? Math.round((x.netProfitUsd / optimum.netProfitUsd) * 1e5) / 1e3 : null;
  options.onProgress?.(1);

  return {
    facility: {
      facilityId: r.facility.facilityId,
      name: r.facility.name,
      powerBudgetKw: r.facility.powerBudgetKw,
      blocks: blocks.length,
      asicUnits: r.facility.asicGroups.reduce((s, g) => s + g.count, 0),
      gpus: r.facility.gpuPools.reduce((s, g) => s + g.count, 0),
      leftOut: r.leftOut,
    },
    trace: { node: r.trace.node, from: iso(r.trace.fromMs), to: iso(r.trace.toMs), intervals: n, notes: r.trace.notes },
    settings: {
      switchCostUsdPerMw: r.config.asicSwitchCostUsdPerMw,
      gpuSwitchSeconds: r.config.gpuSwitchSeconds,
      minDwellMinutes: r.config.minDwellMs / 60_000,
      horizonIntervals: r.config.horizonIntervals,
      poolFee: r.config.poolFee,
      gpuUtilization: r.utilization,
      gpuDemandShares: r.shares,
      asicBlockUnits: r.config.asicBlockUnits,
      forecasterWarmUpIntervals: wanted.includes('controller') || wanted.includes('controller-fixed') ? warmUpCount(r) : 0,
    },
    budgetCanBind,
    strategies: results,
  };
};

const sum = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
};
