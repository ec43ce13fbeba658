/**
 * The economic controller (docs/design.md §3 "Economics", invariant 8): for one facility and the
 * latest market observation, decide which blocks of power mine, sleep, serve or pause.
 * Pure: no clock, no I/O — the time, the previous allocation and the price forecast come in.
 *
 * The facility is cut into blocks (blocks.ts):
 * - ASIC blocks (`asicBlockUnits` units of one model): mining or sleeping (~25 W per unit);
 * - GPU tiers per pool: the pool's `warmStandby` GPUs are the warm reserve for real-time
 *   inference (always warm, never billed); the rest serve demand, split by priority:
 *   P1 real-time inference (never yields power: SLA, invariant 3), P2 batch inference and
 *   P3 training (interruptible: they pause — checkpoint, model kept in memory, 10 % TDP —
 *   when power is worth more than their revenue, and resume).
 *   Each serving GPU earns rate × utilization per hour (docs/design.md §3). Demand shares and
 *   utilization are assumptions the caller states in the observation.
 *
 * Decision per interruptible block: a look-ahead over `horizonIntervals` using the forecast
 * prices, solved exactly by the same dynamic programme as the hindsight optimum
 * (`plan.ts`): stay, or change mode now, whichever has the higher value including the
 * switching cost of this change and of any later one. That is the hysteresis: a block
 * changes mode only when the forecast gain over the horizon pays for the switch (the
 * implied price band is reported per group). A block also keeps a mode at least `minDwellMs`
 * after a change. Ties keep the current mode. The ASIC models' strike prices differ
 * (S19 XP 21.5 J/TH before S21 17.5 J/TH), so the least efficient ASICs shed first and the
 * most efficient return first. If the power budget binds, interruptible blocks with the
 * lowest expected profit per kW are shed first (the budget overrides the dwell).
 */
import { canonicalJson } from '../canonical-json.ts';
import { GPU_TIERS, blockKw, blockProfitUsdPerHour, blockRevenueUsdPerHour, blockSwitchCostUsd, expandFacility, reserveKw, type Block, type DemandShares, type WarmReserve } from './blocks.ts';
import type { AsicModel, FacilitySpec } from '../fleet/inventory.ts';
import type { GpuType } from '../workload/request.ts';
import { dayAheadAt, persistenceForecast, type DayAhead, type PriceForecast } from './forecast.ts';
import { firstStepValues, type Mode } from './plan.ts';
import { formatWholeUsd as usd } from '../money.ts';
import { describePolicy, leaderOf, policyReason, TRUST_FORECAST, type AdaptationInput, type Policy } from './policy.ts';
import {
  DEFAULT_POOL_FEE,
  asicKw,
  asicSleepKw,
  gpuYieldPriceUsdPerMwh,
  joulesPerTh,
  strikePriceUsdPerMwh,
  toMicroUsd,
  type NetworkFacts,
} from './profitability.ts';
import { iso } from '../time.ts';

/** What the controller knows at `atMs`, the start of the interval it decides. */
export type EconomicsObservation = {
  atMs: number;
  btcUsd: number;
  network: NetworkFacts;
  /** The latest settled real-time price at the facility's node, USD/MWh. */
  electricityUsdPerMwh: number;
  /** Day-ahead prices for the coming hours, where published. */
  dayAhead?: DayAhead;
  /** Rental rate per GPU type, USD per GPU-hour; a type without a rate earns nothing. */
  gpuUsdPerHour: Partial<Record<GpuType, number>>;
  /** Billed share of each serving GPU-hour (an assumption: no public utilization series). */
  gpuUtilization: number;
  /** Shares of the serving (non-reserve) GPUs by priority tier; they sum to 1. */
  gpuDemandShares: DemandShares;
};

export type ControllerConfig = {
  /** Decision interval (ERCOT real-time settles every 15 minutes). */
  intervalMs: number;
  /** Look-ahead, intervals. */
  horizonIntervals: number;
  /** Minimum time in a mode after a change. */
  minDwellMs: number;
  /** Cost of switching one MW of ASICs (either way), USD. */
  asicSwitchCostUsdPerMw: number;
  /** Billed GPU time lost when interruptible work pauses or resumes (checkpoint, model reload), seconds. */
  gpuSwitchSeconds: number;
  poolFee: number;
  /** Units of one ASIC model per block. */
  asicBlockUnits: number;
  /** ρ of the stateless forecast used when no forecast is given. */
  persistence: number;
};

export const DEFAULT_CONTROLLER_CONFIG: ControllerConfig = {
  intervalMs: 900_000,
  horizonIntervals: 8,
  minDwellMs: 900_000,
  // See simulators/backtest/README.md: the ramp itself (<10 s, LuxOS/Braiins) loses < $0.5 per MW;
  // the rest is an allowance for wear of thermal cycling, which no public source quantifies.
  asicSwitchCostUsdPerMw: 10,
  // ServerlessLLM (OSDI '24): cold load of Llama-2-70B 84 s — the slow end, as a pause/resume cost.
  gpuSwitchSeconds: 84,
  poolFee: DEFAULT_POOL_FEE,
  asicBlockUnits: 1000,
  persistence: 0.73,
};

export type BlockState = { active: boolean; sinceMs: number };
/** The controller's memory: each block's mode and when it last changed. */
export type ControllerState = { blocks: Record<string, BlockState> };

const dwellIntervals = (c: ControllerConfig) => Math.max(1, Math.ceil(c.minDwellMs / c.intervalMs));

/** All blocks active (mining, serving), changed long enough ago to be free to change. */
export const initialControllerState = (facility: FacilitySpec, atMs: number, config: ControllerConfig = DEFAULT_CONTROLLER_CONFIG): ControllerState => {
  const { blocks } = expandFacility(facility, config.asicBlockUnits, { P1: 1, P2: 0, P3: 0 });
  // every tier of every pool, whatever the demand shares will be
  const ids = new Set(blocks.map((b) => b.id));
  for (const p of facility.gpuPools) for (const t of GPU_TIERS) ids.add(`gpu:${p.gpuType}:${t}`);
  const sinceMs = atMs - 365 * 86_400_000;
  return { blocks: Object.fromEntries([...ids].map((id) => [id, { active: true, sinceMs }])) };
};

// ---------------------------------------------------------------------------------------

export type BlockOption = {
  blockId: string;
  units: number;
  kwActive: number;
  kwIdle: number;
  /** Profit per hour at the latest price, each mode, integer micro-USD. */
  activeProfitMicroUsdPerHour: number;
  idleProfitMicroUsdPerHour: number;
  /** Value over the look-ahead of staying / of changing now (then acting optimally), micro-USD; null when the dwell forbids a change or the block never yields. */
  stayValueMicroUsd: number;
  switchValueMicroUsd: number | null;
  switchCostMicroUsd: number;
  wasActive: boolean;
  active: boolean;
  /** Why it is in its mode: look-ahead, dwell, budget, never yields (P1), or a power handover holds it. */
  cause: 'look-ahead' | 'dwell' | 'budget' | 'p1-never-yields' | 'handover';
};

export type GroupSummary =
  | {
      kind: 'asic';
      model: AsicModel;
      units: number;
      mining: number;
      sleeping: number;
      strikeUsdPerMwh: number;
      /** Half-width of the no-switch band around the strike for a flat forecast: switch cost ÷ (look-ahead hours × MW). */
      hysteresisUsdPerMwh: number;
      joulesPerTh: number;
    }
  | { kind: 'gpu'; gpuType: GpuType; reserveWarm: number; serving: number; paused: number; yieldAboveUsdPerMwh: number | null; rateUsdPerGpuHour: number | null };

export type Recommendation = {
  facilityId: string;
  at: string;
  /** Everything the decision was computed from: `recompute` runs the controller again on it. */
  inputs: {
    facility: FacilitySpec;
    observation: EconomicsObservation;
    forecast: PriceForecast;
    state: ControllerState;
    config: ControllerConfig;
    pinned?: Record<string, Mode>;
    policy?: Policy;
    adaptation?: AdaptationInput;
  };
  /** The policy the decision followed: which forecast and what margin a switch's gain had to clear. */
  policy: Policy;
  options: BlockOption[];
  /** Profit per hour at the latest price of whole-facility alternatives and of the choice, micro-USD. */
  facilityOptionsMicroUsdPerHour: { allActive: number; miningOnly: number; aiOnly: number; chosen: number };
  allocation: { blocks: Record<string, Mode>; groups: GroupSummary[]; totalKw: number; budgetKw: number; withinBudget: boolean };
  switched: string[];
  changed: boolean;
  /** 0..1: how clearly the forecast gain (or loss) exceeds switching cost and forecast error, kW-weighted over interruptible blocks. */
  confidence: number;
  reason: string;
};

export type DecideInput = {
  facility: FacilitySpec;
  observation: EconomicsObservation;
  state: ControllerState;
  config?: ControllerConfig;
  /** Expected prices from `atMs`; the stateless persistence forecast when absent. */
  forecast?: PriceForecast;
  /** Blocks a power handover holds (or is moving) in a mode: the controller leaves them there. */
  pinned?: Record<string, Mode>;
  /** How far to trust the forecast (adaptation.ts); the given forecast, no extra margin, when absent. */
  policy?: Policy;
  /** The controller's record of its recent policies: the leader's policy applies (and is recorded), `policy` is ignored. */
  adaptation?: AdaptationInput;
};

export const decide = (input: DecideInput): { recommendation: Recommendation; state: ControllerState } => {
  const config = input.config ?? DEFAULT_CONTROLLER_CONFIG;
  const { facility, observation: obs, state } = input;
  const dt = config.intervalMs / 3_600_000;
  const leader = input.adaptation ? leaderOf(input.adaptation) : undefined;
  const policy: Policy = leader !== undefined ? input.adaptation!.policies[leader]! : (input.policy ?? TRUST_FORECAST);
  const K = Math.max(1, policy.horizon ?? config.horizonIntervals);
  const persistence = () =>
    persistenceForecast({ atMs: obs.atMs, intervalMs: config.intervalMs, horizon: K, lastUsdPerMwh: obs.electricityUsdPerMwh, ...(obs.dayAhead ? { dayAhead: obs.dayAhead } : {}), persistence: config.persistence });
  const forecast = input.forecast ?? persistence();
  const used = !input.forecast || policy.forecast === 'given' ? forecast : policy.forecast === 'persistence' ? persistence() : meanOf(forecast, persistence(), K);
  const path = Array.from({ length: K }, (_, k) => priceAt(used, k) ?? obs.electricityUsdPerMwh);
  const spread0 = used.spreadUsdPerMwh?.[0] ?? 0;
  /**
   * Leaving the active mode (mining, serving) must gain more than the switch's own cost by `margin` × that cost
   * (hold: never by choice); coming back needs only the look-ahead's say, so caution never strands a block asleep.
   * Larger margins only ever remove switches.
   */
  const clears = (v: { stay: number; switchNow: number | undefined }, switchCost: number, wasActive: boolean) =>
    v.switchNow !== undefined && (!wasActive ? v.switchNow > v.stay : policy.margin !== null && v.switchNow - v.stay > policy.margin * switchCost);
  const D = dwellIntervals(config);
  const { blocks, reserve } = expandFacility(facility, config.asicBlockUnits, obs.gpuDemandShares);

  // identical blocks (same model/tier, units, mode, age) share one look-ahead
  const memo = new Map<string, { stay: number; switchNow: number | undefined }>();
  const gainMemo = new Map<string, number>();
  const options: BlockOption[] = [];
  const density = new Map<string, number>();
  const wants = new Map<string, boolean>();
  for (const b of blocks) {
    const prev = state.blocks[b.id] ?? { active: true, sinceMs: obs.atMs - D * config.intervalMs };
    const age = Math.max(0, Math.floor((obs.atMs - prev.sinceMs) / config.intervalMs));
    const revenue = blockRevenueUsdPerHour(b, obs, config.poolFee);
    const now = blockProfitUsdPerHour(b, revenue, obs.electricityUsdPerMwh);
    const switchCost = blockSwitchCostUsd(b, revenue, config);
    const kw = blockKw(b);
    const mode: Mode = prev.active ? 1 : 0;
    const kind = `${b.kind === 'asic' ? b.model : `${b.gpuType}:${b.tier}`}|${b.units}`;
    const key = `${kind}|${mode}|${Math.min(age, D)}`;
    const freeKey = `${kind}|${mode}|${D}`;
    let v = memo.get(key);
    let free = memo.get(freeKey);
    let gain = gainMemo.get(kind);
    if (!v || !free || gain === undefined) {
      const idle = path.map((p) => blockProfitUsdPerHour(b, revenue, p).idle * dt);
      const active = path.map((p) => blockProfitUsdPerHour(b, revenue, p).active * dt);
      v ??= firstStepValues({ idle, active, switchCost, minDwell: D, initialMode: mode, initialAge: age });
      memo.set(key, v);
      // what the look-ahead would choose if the dwell did not hold the block (for the budget's claims)
      free ??= firstStepValues({ idle, active, switchCost, minDwell: D, initialMode: mode, initialAge: D });
      memo.set(freeKey, free);
      // expected gain per hour of being active over the look-ahead
      gain = active.reduce((s, x, k) => s + x - idle[k]!, 0) / (K * dt);
      gainMemo.set(kind, gain);
    }
    const pin = input.pinned?.[b.id];
    const wantsActive = pin !== undefined ? pin === 1 : b.interruptible ? (clears(free, switchCost, prev.active) ? !prev.active : prev.active) : true;
    wants.set(b.id, wantsActive);
    let active: boolean;
    let cause: BlockOption['cause'];
    if (pin !== undefined) {
      active = pin === 1;
      cause = 'handover';
    } else if (!b.interruptible) {
      active = true;
      cause = 'p1-never-yields';
    } else if (v.switchNow === undefined) {
      active = prev.active;
      cause = 'dwell';
    } else {
      active = clears(v, switchCost, prev.active) ? !prev.active : prev.active;
      cause = 'look-ahead';
    }
    density.set(b.id, gain / Math.max(kw.active - kw.idle, 1e-9));
    options.push({
      blockId: b.id,
      units: b.units,
      kwActive: kw.active,
      kwIdle: kw.idle,
      activeProfitMicroUsdPerHour: toMicroUsd(now.active),
      idleProfitMicroUsdPerHour: toMicroUsd(now.idle),
      stayValueMicroUsd: toMicroUsd(v.stay),
      switchValueMicroUsd: b.interruptible && v.switchNow !== undefined ? toMicroUsd(v.switchNow) : null,
      switchCostMicroUsd: toMicroUsd(switchCost),
      wasActive: prev.active,
      active,
      cause,
    });
  }

  // The power budget. Blocks claim power when active, or when the dwell holds them idle although
  // they want to run (their claim is reserved, so that a block allowed now is not shed again when a
  // more valuable one's dwell ends: no flapping under a binding budget). Claims are shed from the
  // lowest expected value per kW up; shedding an active block idles it (the budget overrides the
  // dwell), shedding a reservation changes nothing now.
  const reserveDraw = reserveKw(reserve);
  const byId = new Map(blocks.map((b) => [b.id, b]));
  const claimsActive = (o: BlockOption) => o.active || (o.cause === 'dwell' && !o.wasActive && wants.get(o.blockId) === true);
  let claimed = options.reduce((kw, o) => kw + (claimsActive(o) ? o.kwActive : o.kwIdle), reserveDraw);
  if (claimed > facility.powerBudgetKw) {
    const sheddable = options
      .filter((o) => claimsActive(o) && byId.get(o.blockId)!.interruptible && o.cause !== 'handover')
      .sort((a, b) => density.get(a.blockId)! - density.get(b.blockId)! || shedTieBreak(byId.get(a.blockId)!, byId.get(b.blockId)!) || (a.blockId < b.blockId ? -1 : 1));
    for (const o of sheddable) {
      if (claimed <= facility.powerBudgetKw) break;
      if (o.active) {
        o.active = false;
        o.cause = 'budget';
      } else wants.set(o.blockId, false);
      claimed -= o.kwActive - o.kwIdle;
    }
  }
  const totalKw = options.reduce((kw, o) => kw + (o.active ? o.kwActive : o.kwIdle), reserveDraw);

  const blocksOut: Record<string, Mode> = {};
  const nextBlocks: Record<string, BlockState> = { ...state.blocks };
  const switched: string[] = [];
  for (const o of options) {
    blocksOut[o.blockId] = o.active ? 1 : 0;
    if (o.active !== o.wasActive) {
      if (o.cause !== 'handover') switched.push(o.blockId); // a handover moves it, not the controller
      nextBlocks[o.blockId] = { active: o.active, sinceMs: obs.atMs };
    } else if (!state.blocks[o.blockId]) nextBlocks[o.blockId] = { active: o.active, sinceMs: obs.atMs - D * config.intervalMs };
  }

  const groups = summarize(facility, blocks, reserve, options, obs, config);
  const sumProfit = (pick: (o: BlockOption, b: Block) => boolean) =>
    options.reduce((s, o, k) => s + (pick(o, blocks[k]!) ? o.activeProfitMicroUsdPerHour : o.idleProfitMicroUsdPerHour), 0) + toMicroUsd(-(reserveDraw / 1000) * obs.electricityUsdPerMwh);
  const facilityOptions = {
    allActive: sumProfit(() => true),
    miningOnly: sumProfit((_, b) => b.kind === 'asic' || !b.interruptible),
    aiOnly: sumProfit((_, b) => b.kind === 'gpu'),
    chosen: sumProfit((o) => o.active),
  };

  // confidence: margin of each interruptible block's decision against its switching cost and forecast error
  let wSum = 0;
  let cSum = 0;
  options.forEach((o, k) => {
    const b = blocks[k]!;
    if (!b.interruptible || o.switchValueMicroUsd === null) return;
    const margin = Math.abs(o.switchValueMicroUsd - o.stayValueMicroUsd);
    const noise = o.switchCostMicroUsd + toMicroUsd((Math.abs(o.kwActive - o.kwIdle) / 1000) * spread0 * dt);
    const w = o.kwActive;
    wSum += w;
    cSum += w * (margin + noise === 0 ? 1 : margin / (margin + noise));
  });
  const confidence = wSum === 0 ? 1 : Math.round((cSum / wSum) * 1000) / 1000;

  const recommendation: Recommendation = {
    facilityId: facility.facilityId,
    at: iso(obs.atMs),
    inputs: {
      facility,
      observation: obs,
      forecast,
      state,
      config,
      ...(input.pinned && Object.keys(input.pinned).length ? { pinned: input.pinned } : {}),
      ...(input.adaptation ? { adaptation: input.adaptation } : input.policy ? { policy: input.policy } : {}),
    },
    policy,
    options,
    facilityOptionsMicroUsdPerHour: facilityOptions,
    allocation: { blocks: blocksOut, groups, totalKw: round3(totalKw), budgetKw: facility.powerBudgetKw, withinBudget: totalKw <= facility.powerBudgetKw + 1e-9 },
    switched,
    changed: switched.length > 0,
    confidence,
    reason: reasonOf(groups, switched, obs, path, used, dayAheadAt(obs.dayAhead, obs.atMs), totalKw, facility.powerBudgetKw, options, policy, input.adaptation, leader),
  };
  return { recommendation, state: { blocks: nextBlocks } };
};

/** A forecast's price `k` intervals ahead: one shorter than that holds its last price (none if it is empty). */
const priceAt = (f: PriceForecast, k: number) => f.pricesUsdPerMwh[Math.min(k, f.pricesUsdPerMwh.length - 1)];

/** The mean of two forecasts, interval by interval over `horizon` (a shorter one holds its last price); spread: the larger of the two. */
const meanOf = (a: PriceForecast, b: PriceForecast, horizon: number): PriceForecast => {
  const spread = (f: PriceForecast, k: number) => f.spreadUsdPerMwh?.[Math.min(k, f.spreadUsdPerMwh.length - 1)] ?? 0;
  return {
    pricesUsdPerMwh: Array.from({ length: horizon }, (_, k) => (priceAt(a, k)! + priceAt(b, k)!) / 2),
    ...(a.spreadUsdPerMwh || b.spreadUsdPerMwh ? { spreadUsdPerMwh: Array.from({ length: horizon }, (_, k) => Math.max(spread(a, k), spread(b, k))) } : {}),
    method: `mean of ${a.method} and ${b.method}`,
  };
};

/** Least efficient ASICs shed first; GPUs after ASICs at equal value (their work has customers); training before batch. */
const shedTieBreak = (a: Block, b: Block) => {
  const rank = (x: Block) => (x.kind === 'asic' ? -joulesPerTh(x.model) : x.tier === 'P3' ? 1 : 2);
  return rank(a) - rank(b);
};

const round3 = (x: number) => Math.round(x * 1000) / 1000;

const summarize = (facility: FacilitySpec, blocks: Block[], reserve: WarmReserve[], options: BlockOption[], obs: EconomicsObservation, config: ControllerConfig): GroupSummary[] => {
  const out: GroupSummary[] = [];
  for (const g of facility.asicGroups) {
    let mining = 0;
    blocks.forEach((b, k) => {
      if (b.kind === 'asic' && b.model === g.model && options[k]!.active) mining += b.units;
    });
    const existing = out.find((x) => x.kind === 'asic' && x.model === g.model);
    if (existing && existing.kind === 'asic') continue;
    const units = facility.asicGroups.filter((x) => x.model === g.model).reduce((s, x) => s + x.count, 0);
    out.push({ kind: 'asic', model: g.model, units, mining, sleeping: units - mining, strikeUsdPerMwh: round2(strikePriceUsdPerMwh(g.model, obs.network, obs.btcUsd, config.poolFee)),
      hysteresisUsdPerMwh: round2((config.asicSwitchCostUsdPerMw * asicKw(g.model)) / (asicKw(g.model) - asicSleepKw(g.model)) / ((Math.max(1, config.horizonIntervals) * config.intervalMs) / 3_600_000)),
      joulesPerTh: round2(joulesPerTh(g.model)) });
  }
  for (const p of facility.gpuPools) {
    if (out.some((x) => x.kind === 'gpu' && x.gpuType === p.gpuType)) continue;
    let serving = 0;
    let paused = 0;
    blocks.forEach((b, k) => {
      if (b.kind === 'gpu' && b.gpuType === p.gpuType) options[k]!.active ? (serving += b.units) : (paused += b.units);
    });
    const rate = obs.gpuUsdPerHour[p.gpuType];
    out.push({
      kind: 'gpu',
      gpuType: p.gpuType,
      reserveWarm: reserve.filter((r) => r.gpuType === p.gpuType).reduce((s, r) => s + r.units, 0),
      serving,
      paused,
      yieldAboveUsdPerMwh: rate === undefined ? null : round2(gpuYieldPriceUsdPerMwh(p.gpuType, rate, obs.gpuUtilization)),
      rateUsdPerGpuHour: rate ?? null,
    });
  }
  return out;
};

const round2 = (x: number) => Math.round(x * 100) / 100;

const reasonOf = (
  groups: GroupSummary[],
  switched: string[],
  obs: EconomicsObservation,
  path: number[],
  forecast: PriceForecast,
  daNow: number | undefined,
  totalKw: number,
  budgetKw: number,
  options: BlockOption[],
  policy: Policy,
  adaptation: AdaptationInput | undefined,
  leader: number | undefined,
): string => {
  const parts: string[] = [];
  if (adaptation && leader !== undefined) parts.push(policyReason(adaptation, leader));
  else if (policy.forecast !== 'given' || policy.margin !== 0) parts.push(`policy ${describePolicy(policy)}`);
  parts.push(
    `last price ${usd(obs.electricityUsdPerMwh)}/MWh, expected ${usd(path[0]!)}/MWh next interval and ${usd(path.reduce((s, p) => s + p, 0) / path.length)}/MWh over ${path.length} (${forecast.method}${daNow === undefined ? ', no day-ahead' : `, day-ahead ${usd(daNow)}`})`,
  );
  for (const g of groups) {
    if (g.kind === 'asic') parts.push(`${g.model} (${g.joulesPerTh} J/TH, strike ${usd(g.strikeUsdPerMwh)}/MWh ± ${usd(g.hysteresisUsdPerMwh)}): ${g.mining} mining, ${g.sleeping} asleep`);
    else
      parts.push(
        g.rateUsdPerGpuHour === null
          ? `${g.gpuType}: no market rate (earns nothing here), ${g.serving} serving, ${g.paused} paused, ${g.reserveWarm} warm reserve`
          : `${g.gpuType} ($${g.rateUsdPerGpuHour}/GPU-h, batch/training yield above ${usd(g.yieldAboveUsdPerMwh!)}/MWh): ${g.serving} serving, ${g.paused} paused, ${g.reserveWarm} warm reserve`,
      );
  }
  const dwell = options.filter((o) => o.cause === 'dwell').length;
  const handedOver = options.filter((o) => o.cause === 'handover').length;
  if (handedOver) parts.push(`${handedOver} block(s) held by power handovers`);
  const budget = options.filter((o) => o.cause === 'budget').length;
  if (dwell) parts.push(`${dwell} block(s) held by the minimum dwell`);
  if (budget) parts.push(`${budget} block(s) shed to keep ${Math.round(totalKw)} kW within the ${budgetKw} kW budget`);
  parts.push(
    switched.length
      ? `switch: ${switched.join(', ')}`
      : policy.margin === null
        ? 'no change: holding still until the forecast earns trust again'
        : `no change: the forecast gain of any switch does not cover its cost${policy.margin > 0 ? ` and ${policy.margin}× that cost again` : ''}`,
  );
  return parts.join('; ');
};

/** An auditor's check: run the controller again on the recorded inputs and compare everything it derived. */
export const recompute = (rec: Recommendation): { ok: boolean; differences: string[] } => {
  const again = decide({ ...rec.inputs }).recommendation;
  const differences: string[] = [];
  const a = JSON.parse(JSON.stringify(rec)) as Record<string, unknown>;
  const b = JSON.parse(JSON.stringify(again)) as Record<string, unknown>;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if (canonicalJson(a[k]) !== canonicalJson(b[k])) differences.push(k);
  return { ok: differences.length === 0, differences };
};
