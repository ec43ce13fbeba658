/**
 * The controller watches its own record (docs/design.md §3 "Economics"): beside the decision
 * it acts on, it runs every policy of a fixed menu (policy.ts) in the shadow, each from its own
 * state, and scores what each would have earned once the interval's price settles — realized
 * profit of its modes minus its switching costs, weighted toward the recent past. The policy
 * with the best record leads. On a market the forecaster understands (ERCOT), trusting it wins
 * and leads; when its forecasts stop explaining the market (a price that flips around the
 * strike every interval), chasing them loses money in the shadow within hours and a cautious
 * policy, or holding still, takes over — and hands back when trusting earns more again.
 *
 * Why a menu of whole policies scored on realized profit, rather than a forecast-error
 * statistic: what matters is money after switching costs. A forecast can be badly wrong about
 * spikes and still right about which side of the strike the next hours fall on, and vice versa;
 * scoring the decisions themselves needs no model of how error turns into loss.
 *
 * Pure: the record comes in and goes out. A decision records the scores it used
 * (`inputs.adaptation`), so `recompute` derives the same leader and the same decision.
 */
import { decide, initialControllerState, type ControllerConfig, type ControllerState, type DecideInput, DEFAULT_CONTROLLER_CONFIG } from './controller.ts';
import { blockProfitUsdPerHour, blockRevenueUsdPerHour, blockSwitchCostUsd, expandFacility } from './blocks.ts';
import type { Mode } from './plan.ts';
import { asicKw } from './profitability.ts';
import { DEFAULT_POLICIES, leaderOf, type AdaptationInput, type Policy } from './policy.ts';
import type { FacilitySpec } from '../fleet/inventory.ts';

export type AdaptationRecord = {
  input: AdaptationInput;
  /** Each policy's own controller state, as if it alone had been followed. */
  shadows: ControllerState[];
  /** Each policy's modes in the interval decided last and the switching cost it paid then, scored once that interval settles. */
  pending?: { startMs: number; modes: Record<string, Mode>[]; switchCostUsd: number[] };
};

export type AdaptationOptions = {
  policies?: readonly Policy[];
  halfLifeIntervals?: number;
  /** How much better a challenger's record must be, in switches of every ASIC block of the facility (their cost). */
  leadSwitches?: number;
};

/**
 * No fixed lead beyond the handover's own cost (`leadNeededUsd`): a fixed lead of 2 facility switches was paid again
 * at every handover, whether or not the blocks had to move. Chosen on seed-2 stress markets (0 and 0.25 switches
 * scored alike there; 2 trailed the best simple rule by more on every family where it trailed).
 */
export const DEFAULT_LEAD_SWITCHES = 0;

/**
 * A year of 15-minute intervals. A policy that is better by a little, steadily (after the BTC crash), only
 * overtakes on a long record: with a week's half-life the record forgets the advantage as fast as it accrues. A
 * policy that chases a flipping price still loses its lead within hours, since it pays for every switch.
 */
export const DEFAULT_HALF_LIFE_INTERVALS = 35_040;

export const initialAdaptation = (facility: FacilitySpec, atMs: number, config: ControllerConfig = DEFAULT_CONTROLLER_CONFIG, o: AdaptationOptions = {}): AdaptationRecord => {
  const policies = (o.policies ?? DEFAULT_POLICIES).map((p) => ({ ...p }));
  return {
    input: {
      policies,
      scoresUsd: policies.map(() => 0),
      incumbent: initialIncumbent(policies),
      leadUsd: (o.leadSwitches ?? DEFAULT_LEAD_SWITCHES) * facilitySwitchCostUsd(facility, config),
      halfLifeIntervals: o.halfLifeIntervals ?? DEFAULT_HALF_LIFE_INTERVALS,
    },
    shadows: policies.map(() => initialControllerState(facility, atMs, config)),
  };
};

/**
 * Trust is earned: a fresh record follows the menu's hold-still policy until a policy that switches
 * has out-earned it by the lead. On a market the forecaster cannot read (a price flipping around
 * the strike) the trusting policy otherwise chased it for the first hours and never made the loss
 * back (−0.19 % of the optimum against mining all year, North Dakota); on ERCOT the start costs
 * −0.015 to +0.008 points (README).
 */
const initialIncumbent = (policies: readonly Policy[]) => Math.max(0, policies.findIndex((p) => p.margin === null));

/** Cost of switching every ASIC block of the facility once, USD. */
const facilitySwitchCostUsd = (facility: FacilitySpec, config: ControllerConfig) =>
  facility.asicGroups.reduce((s, g) => s + ((g.count * asicKw(g.model)) / 1000) * config.asicSwitchCostUsdPerMw, 0);

/** The interval before the decision, now settled: its start and its price. */
export type Settled = { startMs: number; usdPerMwh: number };

/** Add the settled interval's realized profit of each policy's modes to its score (nothing if it is not the interval last decided). */
export const scoreSettled = (record: AdaptationRecord, settled: Settled | undefined, input: Pick<DecideInput, 'facility' | 'observation' | 'config'>): AdaptationRecord => {
  const { pending } = record;
  if (!pending) return record;
  if (!settled || settled.startMs !== pending.startMs) return { ...record, pending: undefined };
  const config = input.config ?? DEFAULT_CONTROLLER_CONFIG;
  const dt = config.intervalMs / 3_600_000;
  const { blocks } = expandFacility(input.facility, config.asicBlockUnits, input.observation.gpuDemandShares);
  const profit = blocks.map((b) => blockProfitUsdPerHour(b, blockRevenueUsdPerHour(b, input.observation, config.poolFee), settled.usdPerMwh));
  const decay = 0.5 ** (1 / record.input.halfLifeIntervals);
  const scoresUsd = record.input.scoresUsd.map((score, k) => {
    const modes = pending.modes[k]!;
    const value = blocks.reduce((s, b, j) => s + (modes[b.id] === 0 ? profit[j]!.idle : profit[j]!.active) * dt, 0);
    return decay * score + value - pending.switchCostUsd[k]!;
  });
  return { ...record, input: { ...record.input, scoresUsd }, pending: undefined };
};

/** Per policy, the switching cost of moving each interruptible block from its mode in `state` to its mode in that policy's shadow, USD. */
const handoverCostsUsd = (shadows: readonly ControllerState[], input: Pick<DecideInput, 'facility' | 'observation' | 'config' | 'state'>): number[] => {
  const config = input.config ?? DEFAULT_CONTROLLER_CONFIG;
  const { blocks } = expandFacility(input.facility, config.asicBlockUnits, input.observation.gpuDemandShares);
  const cost = blocks.map((b) => (b.interruptible ? blockSwitchCostUsd(b, blockRevenueUsdPerHour(b, input.observation, config.poolFee), config) : 0));
  const active = (s: ControllerState, id: string) => s.blocks[id]?.active ?? true;
  return shadows.map((shadow) => blocks.reduce((s, b, j) => s + (active(shadow, b.id) !== active(input.state, b.id) ? cost[j]! : 0), 0));
};

/**
 * One interval: score the interval that just settled, decide with the leading policy (recorded
 * with the decision), and move every policy's shadow one interval on.
 */
export const adaptiveDecide = (input: Omit<DecideInput, 'policy' | 'adaptation'> & { record: AdaptationRecord; settled?: Settled }) => {
  const { record: before, settled, ...decideInput } = input;
  const scoredOnly = scoreSettled(before, settled, decideInput);
  const scored = { ...scoredOnly, input: { ...scoredOnly.input, handoverUsd: handoverCostsUsd(scoredOnly.shadows, decideInput) } };
  const { recommendation, state } = decide({ ...decideInput, adaptation: scored.input });
  const leader = leaderOf(scored.input);
  const modes: Record<string, Mode>[] = [];
  const switchCostUsd: number[] = [];
  const shadows = scored.input.policies.map((policy, k) => {
    const shadow = decide({ ...decideInput, state: scored.shadows[k]!, policy });
    modes.push(shadow.recommendation.allocation.blocks);
    switchCostUsd.push(shadow.recommendation.options.reduce((s, o) => s + (o.active !== o.wasActive && o.cause !== 'handover' ? o.switchCostMicroUsd : 0), 0) / 1e6);
    return shadow.state;
  });
  const record: AdaptationRecord = {
    input: { ...scored.input, incumbent: leader },
    shadows,
    pending: { startMs: decideInput.observation.atMs, modes, switchCostUsd },
  };
  return { recommendation, state, record };
};
