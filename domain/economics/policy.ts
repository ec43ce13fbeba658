/**
 * How far the economic controller trusts its forecast (docs/design.md §3 "Economics").
 *
 * A policy names the forecast a decision follows and the margin that leaving the active mode
 * (mining, serving) must clear: a block sleeps or pauses only when the look-ahead's gain of doing
 * so now exceeds its switching cost by `margin` × that cost again (`margin` 0: the exact
 * look-ahead; null: hold still, never leave by choice). Coming back to the active mode needs only
 * the look-ahead's say, so a cautious policy never strands a block asleep. A larger margin only
 * ever removes switches, for any forecast.
 *
 * The controller keeps a record of what each policy in a fixed menu would have earned over the
 * recent past (adaptation.ts) and follows the leader. The record's scores are inputs of the
 * decision, recorded with it, so `recompute` derives the same leader and the same decision.
 */
import { formatWholeUsd as usd } from '../money.ts';

export type Policy = {
  /**
   * `given`: the forecast the caller passed (the learned forecaster live and in the backtest); `persistence`: day-ahead
   * + decaying last deviation, from the observation alone; `mean`: the mean of the two, interval by interval (not in the
   * default menu: on the seed-2 market without day-ahead it beat both alone, but as an eighth policy the lead changed
   * between three near-equal records and the adaptive controller trailed by more; simulators/backtest/README.md).
   */
  forecast: 'given' | 'persistence' | 'mean';
  margin: number | null;
  /** Look-ahead of this policy, intervals (the controller's `horizonIntervals` when absent). */
  horizon?: number;
};

export const TRUST_FORECAST: Policy = { forecast: 'given', margin: 0 };

/**
 * The menu, most trusting first. Hold is the safe end: what mining (and serving) all along earns.
 * The persistence policies are there for markets whose day-ahead prices say more than the
 * learned forecaster has learned to hear (on the synthetic random walk, by 1.5 % of the optimum).
 * The one with a 4-hour look-ahead is for a price that wanders slowly across the strike: two hours
 * of an excursion rarely pay for a round trip of switches that four hours do (chosen on the seed-2
 * stress markets: the random walk +0.23 point of the optimum for North Dakota over the 2-hour
 * look-ahead, the BTC crash and the halving +0.01; where no day-ahead is published it is flat
 * persistence over 4 hours, worse, and does not lead).
 */
export const DEFAULT_POLICIES: readonly Policy[] = [
  { forecast: 'given', margin: 0 },
  { forecast: 'given', margin: 1 },
  { forecast: 'given', margin: 4 },
  { forecast: 'persistence', margin: 0 },
  { forecast: 'persistence', margin: 1 },
  { forecast: 'persistence', margin: 0, horizon: 16 },
  { forecast: 'given', margin: null },
];

/** What a decision needs of the record: each policy's recent score and which one led before. */
export type AdaptationInput = {
  policies: Policy[];
  /** Realized profit each policy's own decisions would have made, exponentially weighted toward the recent past, USD. */
  scoresUsd: number[];
  /** The policy followed at the previous interval. */
  incumbent: number;
  /** A challenger takes over only when its score beats the incumbent's by more than this, USD, and by the cost of handing over. */
  leadUsd: number;
  /** Weight halves every this many intervals. */
  halfLifeIntervals: number;
  /**
   * Per policy, what moving the blocks from where they are to where that policy has them would cost now, USD
   * (absent in records made before it existed).
   */
  handoverUsd?: number[];
};

/**
 * What a challenger's lead over the incumbent must exceed: the fixed lead and what moving the blocks from where they
 * are to where the challenger has them costs now. Where they agree (most calm intervals) the handover is free and
 * following the challenger from then on earns exactly its record, so waiting only loses; where they differ, the lead
 * must first pay for the move.
 */
export const leadNeededUsd = (a: AdaptationInput, challenger: number): number => a.leadUsd + (a.handoverUsd?.[challenger] ?? 0);

/**
 * The policy to follow: the incumbent unless a challenger's score beats it by more than the lead needed
 * (`leadNeededUsd`); among challengers that do, the best score; ties go to the earlier (more trusting) policy.
 */
export const leaderOf = (a: AdaptationInput): number => {
  const incumbent = a.incumbent >= 0 && a.incumbent < a.scoresUsd.length ? a.incumbent : 0;
  let best = incumbent;
  for (let k = 0; k < a.scoresUsd.length; k++) {
    if (k === incumbent || !(a.scoresUsd[k]! > a.scoresUsd[incumbent]! + leadNeededUsd(a, k))) continue;
    if (best === incumbent || a.scoresUsd[k]! > a.scoresUsd[best]!) best = k;
  }
  return best;
};

const FORECAST_NAMES: Record<Policy['forecast'], string> = { given: 'forecast', persistence: 'day-ahead + persistence', mean: 'mean of forecast and day-ahead + persistence' };

export const describePolicy = (p: Policy): string =>
  p.margin === null
    ? 'hold still'
    : `${FORECAST_NAMES[p.forecast]}${p.horizon !== undefined ? ` over ${p.horizon} intervals` : ''}${p.margin > 0 ? `, switch only past ${p.margin + 1}× its cost` : ''}`;

/** How many intervals of day-ahead prices an observation must carry for every policy of the menu to look ahead as far as it does. */
export const dayAheadIntervals = (horizonIntervals: number, policies: readonly Policy[] = DEFAULT_POLICIES): number =>
  Math.max(horizonIntervals, ...policies.map((p) => p.horizon ?? 0));

export const policyReason = (a: AdaptationInput, leader: number): string => {
  const runnerUp = a.scoresUsd.reduce((best, s, k) => (k !== leader && (best < 0 || s > a.scoresUsd[best]!) ? k : best), -1);
  const changed = leader !== a.incumbent ? ` (was ${describePolicy(a.policies[a.incumbent] ?? TRUST_FORECAST)})` : '';
  return `policy ${describePolicy(a.policies[leader]!)}${changed}: its recent record ${usd(a.scoresUsd[leader]!)}${runnerUp >= 0 ? ` vs ${usd(a.scoresUsd[runnerUp]!)} for ${describePolicy(a.policies[runnerUp]!)}` : ''}`;
};
