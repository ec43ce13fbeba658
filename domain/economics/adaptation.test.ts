import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SEED_SCENARIO } from '../fleet/inventory.ts';
import { adaptiveDecide, initialAdaptation, type AdaptationRecord } from './adaptation.ts';
import { decide, initialControllerState, recompute, type ControllerState, type EconomicsObservation } from './controller.ts';
import type { PriceForecast } from './forecast.ts';
import { DEFAULT_POLICIES, dayAheadIntervals, leaderOf } from './policy.ts';

const FC = { seed: 20261205, numRuns: 60 } as const;
const T0 = Date.UTC(2023, 7, 17, 20, 30);
const INTERVAL = 900_000;
const texasNorth = SEED_SCENARIO.find((f) => f.facilityId === 'texas-north')!;
// 2023-08-17: strikes S21 ≈ $159, S19 XP ≈ $130 per MWh
const obsAt = (price: number, atMs = T0): EconomicsObservation => ({
  atMs,
  btcUsd: 27_856.5,
  network: { difficulty: 52_391_178_981_379, subsidyBtc: 6.25, feesPerBlockBtc: 0.12141 },
  electricityUsdPerMwh: price,
  gpuUsdPerHour: { H100: 3.38, A100: 2.19, L40S: 1.96 },
  gpuUtilization: 0.7,
  gpuDemandShares: { P1: 0.4, P2: 0.3, P3: 0.3 },
});
const path = (prices: number[]): PriceForecast => ({ pricesUsdPerMwh: prices, method: 'test' });
const prices = fc.array(fc.double({ min: 0, max: 3000, noNaN: true }), { minLength: 8, maxLength: 8 });
/** A state with each block mining or asleep, some still inside their dwell. */
const stateArb = fc.array(fc.tuple(fc.boolean(), fc.boolean()), { minLength: 32, maxLength: 32 }).map((flags): ControllerState => {
  const base = initialControllerState(texasNorth, T0);
  const ids = Object.keys(base.blocks).sort();
  return { blocks: Object.fromEntries(ids.map((id, k) => [id, { active: flags[k % flags.length]![0], sinceMs: flags[k % flags.length]![1] ? T0 - 3_600_000 : T0 - 365 * 86_400_000 }])) };
});

describe('the controller adapts to its own record (invariant 8 holds throughout)', () => {
  it('a larger margin only ever removes switches, whatever the forecast and the state', () => {
    fc.assert(
      fc.property(prices, stateArb, fc.double({ min: 0, max: 10, noNaN: true }), fc.double({ min: 0, max: 10, noNaN: true }), (p, state, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const run = (margin: number | null) =>
          new Set(decide({ facility: texasNorth, observation: obsAt(p[0]!), state, forecast: path(p), policy: { forecast: 'given', margin } }).recommendation.switched);
        const loose = run(lo);
        for (const strict of [run(hi), run(null)]) for (const id of strict) expect(loose.has(id)).toBe(true);
      }),
      FC,
    );
  });

  it('a record in which holding still did better never makes the controller switch more', () => {
    fc.assert(
      fc.property(prices, stateArb, fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: DEFAULT_POLICIES.length, maxLength: DEFAULT_POLICIES.length }), fc.double({ min: 0, max: 1e6, noNaN: true }), (p, state, scores, better) => {
        const record = initialAdaptation(texasNorth, T0);
        const switches = (scoresUsd: number[]) =>
          decide({ facility: texasNorth, observation: obsAt(p[0]!), state, forecast: path(p), adaptation: { ...record.input, scoresUsd } }).recommendation.switched.length;
        const hold = DEFAULT_POLICIES.findIndex((x) => x.margin === null);
        const worse = scores.slice();
        worse[hold] = worse[hold]! + better;
        expect(switches(worse)).toBeLessThanOrEqual(switches(scores));
      }),
      FC,
    );
  });

  it('keeps the incumbent unless a challenger leads by more than the lead; ties go to the more trusting policy', () => {
    const input = { ...initialAdaptation(texasNorth, T0).input, leadUsd: 100 };
    expect(leaderOf({ ...input, scoresUsd: [0, 0, 0, 0, 0, 0], incumbent: 0 })).toBe(0);
    expect(leaderOf({ ...input, scoresUsd: [0, 50, 0, 0, 0, 0], incumbent: 0 })).toBe(0);
    expect(leaderOf({ ...input, scoresUsd: [0, 150, 0, 0, 0, 0], incumbent: 0 })).toBe(1);
    expect(leaderOf({ ...input, scoresUsd: [150, 100, 0, 0, 0, 0], incumbent: 1 })).toBe(1);
    expect(leaderOf({ ...input, scoresUsd: [250, 100, 0, 250, 0, 0], incumbent: 1 })).toBe(0);
  });

  it('a challenger must also out-earn what moving the blocks to where it has them costs; where they agree it takes over at once', () => {
    const input = { ...initialAdaptation(texasNorth, T0).input, leadUsd: 0 };
    expect(leaderOf({ ...input, scoresUsd: [0, 150, 0, 0, 0, 0], incumbent: 0, handoverUsd: [0, 200, 0, 0, 0, 0] })).toBe(0);
    expect(leaderOf({ ...input, scoresUsd: [0, 150, 0, 0, 0, 0], incumbent: 0, handoverUsd: [0, 100, 0, 0, 0, 0] })).toBe(1);
    expect(leaderOf({ ...input, scoresUsd: [0, 1, 0, 0, 0, 0], incumbent: 0, handoverUsd: [0, 0, 0, 0, 0, 0] })).toBe(1);
    // the best-scored challenger that clears its own handover, not the best-scored one
    expect(leaderOf({ ...input, scoresUsd: [0, 150, 300, 0, 0, 0], incumbent: 0, handoverUsd: [0, 100, 400, 0, 0, 0] })).toBe(1);
  });

  /** Run the adaptive controller over a price path, each interval's forecast being persistence of the last price. */
  const runPath = (path_: number[]) => {
    let state = initialControllerState(texasNorth, T0);
    let record: AdaptationRecord = initialAdaptation(texasNorth, T0);
    const out = [];
    for (let t = 1; t < path_.length; t++) {
      const atMs = T0 + t * INTERVAL;
      const step = adaptiveDecide({
        facility: texasNorth,
        observation: obsAt(path_[t - 1]!, atMs),
        state,
        forecast: path(Array(8).fill(path_[t - 1]!)),
        record,
        settled: { startMs: atMs - INTERVAL, usdPerMwh: path_[t - 1]! },
      });
      state = step.state;
      record = step.record;
      out.push(step);
    }
    return out;
  };

  it('stops chasing a price that flips around the strike, and says so; every decision recomputes from its record', () => {
    // the S21 strike ≈ $159: the price flips between $130 and $190 every interval for two days
    const flips = Array.from({ length: 193 }, (_, t) => (t % 2 === 0 ? 190 : 130));
    const steps = runPath(flips);
    const switchesIn = (from: number, to: number) => steps.slice(from, to).reduce((s, x) => s + x.recommendation.switched.filter((id) => id.startsWith('asic:S21')).length, 0);
    // trust is earned: a fresh record holds still, and persistence of a flipping price (which the
    // trusting policy chases in the shadow) never out-earns holding still, so nothing is chased
    expect(steps[0]!.recommendation.policy.margin).toBe(null);
    expect(switchesIn(0, 192)).toBe(0);
    const last = steps.at(-1)!;
    const hold = DEFAULT_POLICIES.findIndex((x) => x.margin === null);
    expect(last.recommendation.policy.margin === null || (last.recommendation.policy.margin ?? 0) > 0).toBe(true);
    expect(last.recommendation.inputs.adaptation!.scoresUsd[0]!).toBeLessThan(last.recommendation.inputs.adaptation!.scoresUsd[hold]!);
    expect(last.recommendation.reason).toMatch(/^policy (hold still|forecast, switch only past)/);
    for (const s of [steps[0]!, steps[30]!, last]) expect(recompute(s.recommendation)).toEqual({ ok: true, differences: [] });
    // the recorded scores drive the decision: change them and recompute notices
    const tampered = { ...last.recommendation, inputs: { ...last.recommendation.inputs, adaptation: { ...last.recommendation.inputs.adaptation!, scoresUsd: [1e9, 0, 0, 0, 0, 0], incumbent: 0 } } };
    expect(recompute(tampered).ok).toBe(false);
  });

  it('hands the decisions to the forecast once trusting it has earned more than holding still', () => {
    // a sustained scarcity: six hours at $400/MWh after a calm start; sleeping through it earns, holding still does not
    const spike = Array.from({ length: 97 }, (_, t) => (t >= 8 && t < 32 ? 400 : 40));
    const steps = runPath(spike);
    const trusting = steps.findIndex((x) => x.recommendation.policy.margin !== null);
    expect(trusting).toBeGreaterThan(8);
    expect(trusting).toBeLessThan(32);
    expect(steps.slice(trusting, 32).some((x) => x.recommendation.allocation.groups.some((g) => g.kind === 'asic' && g.sleeping > 0))).toBe(true);
  });

  it('a policy with its own look-ahead plans over it, is recorded with it and recomputes; the observation carries its day-ahead hours', () => {
    const long = DEFAULT_POLICIES.findIndex((x) => x.horizon !== undefined);
    expect(long).toBeGreaterThanOrEqual(0);
    const horizon = DEFAULT_POLICIES[long]!.horizon!;
    expect(dayAheadIntervals(8)).toBe(horizon);
    // day-ahead a little above the S21 strike for the coming hours: two hours of it do not pay a round trip of switches, four do
    const dayAhead = { fromMs: T0 - 3_600_000, hourlyUsdPerMwh: Array(8).fill(163) };
    const record = initialAdaptation(texasNorth, T0);
    const scoresUsd = DEFAULT_POLICIES.map((_, k) => (k === long ? 1e6 : 0));
    const at = { facility: texasNorth, observation: { ...obsAt(163), dayAhead }, state: initialControllerState(texasNorth, T0), forecast: path(Array(8).fill(40)) };
    const out = decide({ ...at, adaptation: { ...record.input, scoresUsd } });
    const short = decide({ ...at, policy: { forecast: 'persistence', margin: 0 } });
    const s21Asleep = (r: typeof out) => r.recommendation.allocation.groups.reduce((n, g) => n + (g.kind === 'asic' && g.model === 'S21' ? g.sleeping : 0), 0);
    expect(s21Asleep(short)).toBe(0);
    expect(s21Asleep(out)).toBeGreaterThan(0);
    expect(out.recommendation.policy).toEqual(DEFAULT_POLICIES[long]);
    expect(out.recommendation.reason).toContain(`over ${horizon} intervals`);
    expect(recompute(out.recommendation)).toEqual({ ok: true, differences: [] });
  });

  it('a policy on the mean forecast decides on the mean of the given forecast and persistence, is recorded with it and recomputes', () => {
    const policies = [...DEFAULT_POLICIES, { forecast: 'mean', margin: 0 } as const];
    const mean = policies.length - 1;
    // no day-ahead: persistence holds the last price, $250; the given forecast says $40; their mean, $145, lies between
    // the S19 XP strike (≈ $130) and the S21 strike (≈ $159): the S19 XPs sleep, the S21s mine
    const at = { facility: texasNorth, observation: obsAt(250), state: initialControllerState(texasNorth, T0), forecast: path(Array(8).fill(40)) };
    const asleep = (r: ReturnType<typeof decide>) => Object.fromEntries(r.recommendation.allocation.groups.flatMap((g) => (g.kind === 'asic' ? [[g.model, g.sleeping]] : [])));
    const record = initialAdaptation(texasNorth, T0, undefined, { policies });
    const out = decide({ ...at, adaptation: { ...record.input, scoresUsd: policies.map((_, k) => (k === mean ? 1e6 : 0)) } });
    expect(out.recommendation.policy).toEqual(policies[mean]);
    expect(asleep(out)).toEqual({ S21: 0, S19XP: 5000 });
    expect(asleep(decide({ ...at, policy: { forecast: 'given', margin: 0 } }))).toEqual({ S21: 0, S19XP: 0 });
    expect(asleep(decide({ ...at, policy: { forecast: 'persistence', margin: 0 } }))).toEqual({ S21: 10000, S19XP: 5000 });
    // exactly the decision on the averaged path
    const onMean = decide({ ...at, forecast: path(Array(8).fill(145)), policy: { forecast: 'given', margin: 0 } });
    expect(out.recommendation.allocation).toEqual(onMean.recommendation.allocation);
    expect(out.recommendation.reason).toContain('mean of forecast and day-ahead + persistence');
    expect(recompute(out.recommendation)).toEqual({ ok: true, differences: [] });
    // the given forecast is part of the recorded inputs: change it and recompute notices
    const tampered = { ...out.recommendation, inputs: { ...out.recommendation.inputs, forecast: path(Array(8).fill(400)) } };
    expect(recompute(tampered).ok).toBe(false);
  });

  it('with unchanged prices a block changes mode at most once (no flapping), whatever the record says', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 3000, noNaN: true }), (price) => {
        const steps = runPath(Array(40).fill(price));
        const changes = new Map<string, number>();
        for (const s of steps) for (const id of s.recommendation.switched) changes.set(id, (changes.get(id) ?? 0) + 1);
        for (const n of changes.values()) expect(n).toBeLessThanOrEqual(1);
      }),
      { ...FC, numRuns: 15 },
    );
  });
});
