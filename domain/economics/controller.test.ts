import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FacilitySpec } from '../fleet/inventory.ts';
import { SEED_SCENARIO } from '../fleet/inventory.ts';
import { DEFAULT_CONTROLLER_CONFIG, decide, initialControllerState, recompute, type ControllerConfig, type ControllerState, type EconomicsObservation, type Recommendation } from './controller.ts';
import { expandFacility } from './blocks.ts';
import type { PriceForecast } from './forecast.ts';
import { DEFAULT_POLICIES, type AdaptationInput } from './policy.ts';

const T0 = Date.UTC(2023, 7, 17, 20, 30);
const INTERVAL = 900_000;
// 2023-08-17 (real): difficulty, subsidy, fees; BTC $27,856.50 — strikes S21 $159.34, S19 XP $129.85 per MWh
const aug2023 = { difficulty: 52_391_178_981_379, subsidyBtc: 6.25, feesPerBlockBtc: 0.12141 };
const texasNorth = SEED_SCENARIO.find((f) => f.facilityId === 'texas-north')!;

const obsAt = (price: number, over: Partial<EconomicsObservation> = {}): EconomicsObservation => ({
  atMs: T0,
  btcUsd: 27_856.5,
  network: aug2023,
  electricityUsdPerMwh: price,
  gpuUsdPerHour: { H100: 3.38, A100: 2.19, L40S: 1.96 },
  gpuUtilization: 0.7,
  gpuDemandShares: { P1: 0.4, P2: 0.3, P3: 0.3 },
  ...over,
});
const flat = (price: number, k = DEFAULT_CONTROLLER_CONFIG.horizonIntervals): PriceForecast => ({ pricesUsdPerMwh: Array(k).fill(price), method: 'test: flat' });
const mining = (rec: Recommendation, model: string) => {
  const g = rec.allocation.groups.find((x) => x.kind === 'asic' && x.model === model);
  return g && g.kind === 'asic' ? g.mining : undefined;
};
const serving = (rec: Recommendation, gpuType: string) => {
  const g = rec.allocation.groups.find((x) => x.kind === 'gpu' && x.gpuType === gpuType);
  return g && g.kind === 'gpu' ? g.serving : 0;
};

describe('economic controller', () => {
  const state0 = initialControllerState(texasNorth, T0);

  it('sheds the least efficient ASICs first and keeps P1 serving through a $4,762/MWh spike', () => {
    // between the strikes: S19 XP ($129.85) sleeps, S21 ($159.34) mines
    const mid = decide({ facility: texasNorth, observation: obsAt(145), state: state0, forecast: flat(145) }).recommendation;
    expect(mining(mid, 'S19XP')).toBe(0);
    expect(mining(mid, 'S21')).toBe(10_000);
    // a scarcity interval: all ASICs asleep, batch/training H100 and A100 paused, P1 still serving
    const spike = decide({ facility: texasNorth, observation: obsAt(4_762.47), state: state0, forecast: flat(4_762.47) }).recommendation;
    expect(mining(spike, 'S21')).toBe(0);
    expect(mining(spike, 'S19XP')).toBe(0);
    const h100 = expandFacility(texasNorth, 1000, { P1: 0.4, P2: 0.3, P3: 0.3 }).blocks.find((b) => b.id === 'gpu:H100:P1')!;
    expect(serving(spike, 'H100')).toBe(h100.units);
    expect(spike.options.find((o) => o.blockId === 'gpu:H100:P1')!.cause).toBe('p1-never-yields');
    expect(spike.reason).toMatch(/S21 .*strike \$159\/MWh/);
    // at $1,000/MWh GPUs keep serving (H100 yields above $3,756/MWh at 70 % utilization)
    const high = decide({ facility: texasNorth, observation: obsAt(1_000), state: state0, forecast: flat(1_000) }).recommendation;
    expect(serving(high, 'H100')).toBe(448);
  });

  it('under a falling price the most efficient ASICs return first', () => {
    const asleep: ControllerState = { blocks: Object.fromEntries(Object.keys(state0.blocks).map((id) => [id, { active: !id.startsWith('asic:'), sinceMs: T0 - 86_400_000 }])) };
    const back = decide({ facility: texasNorth, observation: obsAt(145), state: asleep, forecast: flat(145) }).recommendation;
    expect(mining(back, 'S21')).toBe(10_000);
    expect(mining(back, 'S19XP')).toBe(0);
  });

  it('keeps a mode for the minimum dwell after a change', () => {
    const config: ControllerConfig = { ...DEFAULT_CONTROLLER_CONFIG, minDwellMs: 4 * INTERVAL };
    const justSlept: ControllerState = { blocks: { ...state0.blocks, 'asic:S21:0': { active: false, sinceMs: T0 - INTERVAL } } };
    const rec = decide({ facility: texasNorth, observation: obsAt(20), state: justSlept, config, forecast: flat(20) }).recommendation;
    expect(rec.allocation.blocks['asic:S21:0']).toBe(0);
    expect(rec.options.find((o) => o.blockId === 'asic:S21:0')!.cause).toBe('dwell');
    expect(rec.allocation.blocks['asic:S21:1']).toBe(1);
  });

  it('a short spike that does not pay for two switches is ridden through', () => {
    const config: ControllerConfig = { ...DEFAULT_CONTROLLER_CONFIG, asicSwitchCostUsdPerMw: 50 };
    // one interval at $170 (S21 strike $159.34), then $30: sleeping saves ~$10.7/MW·h × 0.25 h < 2 × $50/MW
    const rec = decide({ facility: texasNorth, observation: obsAt(170), state: state0, config, forecast: { pricesUsdPerMwh: [170, 30, 30, 30, 30, 30, 30, 30], method: 'test' } }).recommendation;
    expect(mining(rec, 'S21')).toBe(10_000);
    expect(rec.changed).toBe(false);
  });

  it('under a binding budget sheds the lowest value per kW first and never P1', () => {
    const tight: FacilitySpec = { ...texasNorth, powerBudgetKw: 40_000 };
    const rec = decide({ facility: tight, observation: obsAt(40), state: state0, forecast: flat(40) }).recommendation;
    expect(rec.allocation.withinBudget).toBe(true);
    expect(rec.allocation.totalKw).toBeLessThanOrEqual(40_000);
    expect(mining(rec, 'S21')).toBe(10_000); // S21 earns more per kW than S19 XP
    expect(mining(rec, 'S19XP')).toBeLessThan(5_000);
    expect(serving(rec, 'H100')).toBe(448); // GPUs earn ~15× more per kW
    expect(rec.options.filter((o) => o.cause === 'budget').every((o) => o.blockId.startsWith('asic:S19XP'))).toBe(true);
  });

  it('records its inputs: recompute reproduces a recommendation and catches a tampered one', () => {
    const { recommendation } = decide({ facility: texasNorth, observation: obsAt(4_762.47, { dayAhead: { fromMs: T0 - 3_600_000, hourlyUsdPerMwh: [900, 1200, 800] } }), state: state0 });
    const stored = JSON.parse(JSON.stringify(recommendation)) as Recommendation;
    expect(recompute(stored)).toEqual({ ok: true, differences: [] });
    expect(Number.isInteger(stored.facilityOptionsMicroUsdPerHour.chosen)).toBe(true);
    expect(stored.confidence).toBeGreaterThanOrEqual(0);
    expect(stored.confidence).toBeLessThanOrEqual(1);
    const tampered = { ...stored, allocation: { ...stored.allocation, blocks: { ...stored.allocation.blocks, 'asic:S21:0': 1 } } } as Recommendation;
    expect(recompute(tampered).differences).toContain('allocation');
    const otherPrice = { ...stored, inputs: { ...stored.inputs, observation: { ...stored.inputs.observation, electricityUsdPerMwh: 20 } } };
    expect(recompute(otherPrice).ok).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------
// Invariant 8 (docs/design.md §3), as properties over random facilities, markets and states

const facilityArb = fc
  .record({
    s21: fc.integer({ min: 0, max: 3000 }),
    s19: fc.integer({ min: 0, max: 3000 }),
    m60: fc.integer({ min: 0, max: 1500 }),
    h100: fc.integer({ min: 0, max: 300 }),
    a100: fc.integer({ min: 0, max: 300 }),
    warm: fc.double({ min: 0, max: 0.5, noNaN: true }),
    budgetFactor: fc.oneof(fc.constant(1.1), fc.double({ min: 0.2, max: 1.2, noNaN: true })),
  })
  .map((x): FacilitySpec => {
    const asicGroups = [
      { model: 'S21' as const, count: x.s21 },
      { model: 'S19XP' as const, count: x.s19 },
      { model: 'M60S' as const, count: x.m60 },
    ].filter((g) => g.count > 0);
    const gpuPools = [
      { gpuType: 'H100' as const, count: x.h100, warmStandby: Math.floor(x.h100 * x.warm) },
      { gpuType: 'A100' as const, count: x.a100, warmStandby: Math.floor(x.a100 * x.warm) },
    ].filter((g) => g.count > 0);
    const full = x.s21 * 3.5 + x.s19 * 3.01 + x.m60 * 3.42 + x.h100 * 0.7 + x.a100 * 0.4;
    return { facilityId: 'f', name: 'F', marketNode: 'HB_WEST', powerBudgetKw: Math.max(1, Math.round(full * x.budgetFactor)), asicGroups, gpuPools };
  });

const priceArb = fc.oneof(fc.double({ min: -50, max: 300, noNaN: true }), fc.double({ min: 300, max: 6_000, noNaN: true }));

const observationArb = fc.record({
  atMs: fc.constant(T0),
  btcUsd: fc.double({ min: 15_000, max: 100_000, noNaN: true }),
  network: fc.record({
    difficulty: fc.double({ min: 3e13, max: 1.2e14, noNaN: true }),
    subsidyBtc: fc.constantFrom(6.25, 3.125),
    feesPerBlockBtc: fc.double({ min: 0, max: 3, noNaN: true }),
  }),
  electricityUsdPerMwh: priceArb,
  gpuUsdPerHour: fc.record({ H100: fc.double({ min: 0.5, max: 6, noNaN: true }), A100: fc.double({ min: 0.3, max: 4, noNaN: true }) }),
  gpuUtilization: fc.double({ min: 0.05, max: 1, noNaN: true }),
  gpuDemandShares: fc.constantFrom({ P1: 0.4, P2: 0.3, P3: 0.3 }, { P1: 0.2, P2: 0.5, P3: 0.3 }, { P1: 1, P2: 0, P3: 0 }),
}) as fc.Arbitrary<EconomicsObservation>;

const configArb = fc.record({
  dwell: fc.integer({ min: 1, max: 4 }),
  cost: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 60, noNaN: true })),
  horizon: fc.integer({ min: 1, max: 8 }),
  gpuSwitchSeconds: fc.constantFrom(0, 84),
  blockUnits: fc.constantFrom(250, 1000),
}).map((c): ControllerConfig => ({ ...DEFAULT_CONTROLLER_CONFIG, minDwellMs: c.dwell * INTERVAL, asicSwitchCostUsdPerMw: c.cost, horizonIntervals: c.horizon, gpuSwitchSeconds: c.gpuSwitchSeconds, asicBlockUnits: c.blockUnits }));

const forecastArb = fc.option(fc.array(priceArb, { minLength: 1, maxLength: 8 }).map((p): PriceForecast => ({ pricesUsdPerMwh: p, method: 'random' })), { nil: undefined });

/** No adaptation (always trust the forecast), or a record whose scores make any policy of the menu lead. */
const adaptationArb = fc.option(
  fc.record({ scoresUsd: fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: DEFAULT_POLICIES.length, maxLength: DEFAULT_POLICIES.length }), incumbent: fc.nat(DEFAULT_POLICIES.length - 1) }).map(
    (r): AdaptationInput => ({ policies: DEFAULT_POLICIES.map((p) => ({ ...p })), leadUsd: 1000, halfLifeIntervals: 672, ...r }),
  ),
  { nil: undefined },
);

/** A random prior state: each block active or not, changed 0..6 intervals ago (or long ago). */
const stateFor = (facility: FacilitySpec, config: ControllerConfig, bits: number[]): ControllerState => {
  const base = initialControllerState(facility, T0, config);
  const ids = Object.keys(base.blocks);
  return {
    blocks: Object.fromEntries(ids.map((id, k) => {
      const b = bits[k % bits.length] ?? 0;
      return [id, { active: (b & 1) === 1, sinceMs: b & 8 ? T0 - 365 * 86_400_000 : T0 - ((b >> 1) % 7) * INTERVAL }];
    })),
  };
};

describe('invariant 8: economics (with or without the adaptation leading any policy)', () => {
  it('with prices unchanged no block switches more than once, and from its own decision none switches', () => {
    fc.assert(
      fc.property(facilityArb, observationArb, configArb, forecastArb, fc.array(fc.nat(15), { minLength: 1, maxLength: 20 }), adaptationArb, (facility, obs, config, forecast, bits, adaptation) => {
        let state = stateFor(facility, config, bits);
        const adapted = adaptation ? { adaptation } : {};
        const changes = new Map<string, number>();
        let last: Recommendation | undefined;
        for (let k = 0; k < 3 * (config.minDwellMs / INTERVAL) + 3; k++) {
          const out = decide({ facility, observation: { ...obs, atMs: T0 + k * INTERVAL }, state, config, ...adapted, ...(forecast ? { forecast } : {}) });
          for (const id of out.recommendation.switched) changes.set(id, (changes.get(id) ?? 0) + 1);
          state = out.state;
          last = out.recommendation;
        }
        for (const [id, n] of changes) expect(n, `${id} switched ${n} times`).toBeLessThanOrEqual(1);
        // steady: the last decision changed nothing and the next one changes nothing
        const again = decide({ facility, observation: { ...obs, atMs: T0 + 100 * INTERVAL }, state, config, ...adapted, ...(forecast ? { forecast } : {}) });
        expect(again.recommendation.switched).toEqual([]);
        expect(last!.allocation.blocks).toEqual(again.recommendation.allocation.blocks);
      }),
      { numRuns: 60 },
    );
  });

  it('a higher price for a GPU type never yields less of that type serving (binding budget or not)', () => {
    fc.assert(
      fc.property(
        facilityArb,
        observationArb,
        configArb,
        forecastArb,
        fc.array(fc.nat(15), { minLength: 1, maxLength: 20 }),
        fc.constantFrom('H100' as const, 'A100' as const),
        fc.double({ min: 0, max: 5, noNaN: true }),
        adaptationArb,
        (facility, obs, config, forecast, bits, type, raise, adaptation) => {
          const state = stateFor(facility, config, bits);
          // whichever policy the record makes lead (the record does not depend on today's GPU price)
          const run = (o: EconomicsObservation) => decide({ facility, observation: o, state, config, ...(adaptation ? { adaptation } : {}), ...(forecast ? { forecast } : {}) }).recommendation;
          const low = run(obs);
          const high = run({ ...obs, gpuUsdPerHour: { ...obs.gpuUsdPerHour, [type]: obs.gpuUsdPerHour[type]! + raise } });
          expect(serving(high, type)).toBeGreaterThanOrEqual(serving(low, type));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('when the budget does not bind, higher GPU prices (all types) never yield less AI allocation', () => {
    fc.assert(
      fc.property(facilityArb, observationArb, configArb, forecastArb, fc.array(fc.nat(15), { minLength: 1, maxLength: 20 }), fc.double({ min: 1, max: 3, noNaN: true }), (facility, obs, config, forecast, bits, factor) => {
        const roomy = { ...facility, powerBudgetKw: 1e9 };
        const state = stateFor(roomy, config, bits);
        const run = (o: EconomicsObservation) => decide({ facility: roomy, observation: o, state, config, ...(forecast ? { forecast } : {}) }).recommendation;
        const low = run(obs);
        const high = run({ ...obs, gpuUsdPerHour: { H100: obs.gpuUsdPerHour.H100! * factor, A100: obs.gpuUsdPerHour.A100! * factor } });
        for (const t of ['H100', 'A100']) expect(serving(high, t)).toBeGreaterThanOrEqual(serving(low, t));
        // and the ASIC side does not depend on GPU prices then
        expect(high.allocation.groups.filter((g) => g.kind === 'asic')).toEqual(low.allocation.groups.filter((g) => g.kind === 'asic'));
      }),
      { numRuns: 60 },
    );
  });

  it('every recommendation recomputes from its recorded inputs', () => {
    fc.assert(
      fc.property(facilityArb, observationArb, configArb, forecastArb, fc.array(fc.nat(15), { minLength: 1, maxLength: 20 }), adaptationArb, (facility, obs, config, forecast, bits, adaptation) => {
        const { recommendation } = decide({ facility, observation: obs, state: stateFor(facility, config, bits), config, ...(adaptation ? { adaptation } : {}), ...(forecast ? { forecast } : {}) });
        expect(recompute(JSON.parse(JSON.stringify(recommendation)) as Recommendation).ok).toBe(true);
      }),
      { numRuns: 30 },
    );
  });
});
