import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FacilitySpec } from '../../domain/fleet/inventory.ts';
import { parseBacktestArgs } from './args.ts';
import { runBacktest, STRATEGIES } from './backtest.ts';
import { formatBacktest } from './report.ts';
import { buildTrace, INTERVAL_MS, type Trace, type TraceInterval } from './trace.ts';

const day = (s: string) => Date.parse(`${s}T00:00:00Z`);

describe('trace from the real data', () => {
  it('knows what was realized and what was known, with the stated fill policies', () => {
    const t = buildTrace({ node: 'HB_WEST', fromMs: day('2023-01-01'), toMs: day('2023-01-02') });
    expect(t.intervals).toHaveLength(96);
    expect(t.intervals[0]!.lastRtUsdPerMwh).toBeNull(); // nothing settled before 2023
    expect(t.intervals[0]!.rtUsdPerMwh).toBe(26.86);
    expect(t.intervals[1]!.lastRtUsdPerMwh).toBe(26.86);
    // no fee data on 2023-01-01: the nearest day with data is 2022-12-31 (0.07808 BTC/block; 2023-01-04 is farther)
    expect(t.intervals[0]!.network.feesPerBlockBtc).toBe(0.07808);
    expect(t.intervals[0]!.networkKnown.feesPerBlockBtc).toBe(0.07808); // the day before, 2022-12-31, itself
    // H100 has no list price before 2023-09: the nearest month, 2023-09, $3.38
    expect(t.intervals[0]!.gpuUsdPerHour).toEqual({ H100: 3.38, A100: 2.19 });
    expect(t.notes.join('\n')).toMatch(/no fee data/);
    const dec = buildTrace({ node: 'HB_WEST', fromMs: day('2023-12-10'), toMs: day('2023-12-11') });
    expect(dec.intervals[0]!.gpuUsdPerHour.H100).toBe(4.78); // January 2024 is nearer than September 2023
    const summer = buildTrace({ node: 'HB_NORTH', fromMs: day('2023-08-01'), toMs: day('2023-08-02') });
    expect(summer.intervals.every((i) => i.daUsdPerMwh === null)).toBe(true); // the DA gap
  });
});

describe('backtest on a real slice', () => {
  it('runs the week of 2023-08-14 (ERCOT scarcity) fast; the optimum bounds every strategy', () => {
    const started = performance.now();
    const progress: number[] = [];
    const res = runBacktest({ fromMs: day('2023-08-14'), toMs: day('2023-08-21'), facility: 'texas-north', forecasterWarmUpDays: 14, onProgress: (f) => progress.push(f) });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(res.trace.intervals).toBe(7 * 96);
    expect(res.strategies.map((s) => s.strategy)).toEqual([...STRATEGIES]);
    const optimum = res.strategies.find((s) => s.strategy === 'optimum')!;
    for (const s of res.strategies) expect(s.netProfitUsd).toBeLessThanOrEqual(optimum.netProfitUsd);
    expect(optimum.shareOfOptimumPct).toBe(100);
    const by = Object.fromEntries(res.strategies.map((s) => [s.strategy, s]));
    expect(by.controller!.netProfitUsd).toBeGreaterThan(by['mining-only']!.netProfitUsd);
    expect(by.reactive!.netProfitUsd).toBeGreaterThan(by['mining-only']!.netProfitUsd);
    expect(progress.at(-1)).toBe(1);
    expect(progress.every((f, k) => k === 0 || f >= progress[k - 1]!)).toBe(true);
    const text = formatBacktest(res);
    expect(text).toMatch(/hindsight optimum \(DP\).*100\.000 %/);
    expect(text).toMatch(/L40S/); // the unpriced pool is named, not silently dropped
  });
});

// ---------------------------------------------------------------------------------------
// DP optimum ≥ every strategy, on random small synthetic traces (same costs, dwell, fleet)

const T0 = Date.UTC(2023, 5, 1);
const traceArb = fc
  .record({
    prices: fc.array(fc.oneof({ weight: 4, arbitrary: fc.double({ min: -30, max: 200, noNaN: true }) }, { weight: 1, arbitrary: fc.double({ min: 200, max: 5_500, noNaN: true }) }), { minLength: 2, maxLength: 120 }),
    da: fc.option(fc.double({ min: 0, max: 1_000, noNaN: true }), { nil: null }),
    btc: fc.double({ min: 15_000, max: 80_000, noNaN: true }),
    fees: fc.double({ min: 0, max: 2, noNaN: true }),
    h100: fc.double({ min: 0.5, max: 6, noNaN: true }),
  })
  .map(({ prices, da, btc, fees, h100 }): Trace => {
    const network = { difficulty: 5e13, subsidyBtc: 6.25, feesPerBlockBtc: fees };
    const intervals: TraceInterval[] = prices.map((p, k) => ({
      startMs: T0 + k * INTERVAL_MS,
      rtUsdPerMwh: p,
      lastRtUsdPerMwh: k === 0 ? null : prices[k - 1]!,
      daUsdPerMwh: da,
      btcUsd: btc,
      btcUsdKnown: btc,
      network,
      networkKnown: network,
      gpuUsdPerHour: { H100: h100 },
    }));
    const dayAheadByHour = new Map<number, number>();
    if (da !== null) for (let h = -1; h <= prices.length / 4 + 12; h++) dayAheadByHour.set(T0 + h * 3_600_000, da);
    return { node: 'HB_WEST', fromMs: T0, toMs: T0 + prices.length * INTERVAL_MS, intervalMs: INTERVAL_MS, intervals, dayAheadByHour, notes: [] };
  });

const facilityArb = fc
  .record({ s21: fc.integer({ min: 0, max: 2500 }), s19: fc.integer({ min: 0, max: 1500 }), h100: fc.integer({ min: 0, max: 200 }), tight: fc.boolean() })
  .filter((x) => x.s21 + x.s19 + x.h100 > 0)
  .map((x): FacilitySpec => {
    const full = x.s21 * 3.5 + x.s19 * 3.01 + x.h100 * 0.7;
    return {
      facilityId: 'synthetic',
      name: 'Synthetic',
      marketNode: 'HB_WEST',
      powerBudgetKw: Math.ceil(x.tight ? full * 0.6 + 1 : full * 1.1 + 1),
      asicGroups: [
        { model: 'S21' as const, count: x.s21 },
        { model: 'S19XP' as const, count: x.s19 },
      ].filter((g) => g.count > 0),
      gpuPools: x.h100 > 0 ? [{ gpuType: 'H100' as const, count: x.h100, warmStandby: Math.floor(x.h100 / 8) }] : [],
    };
  });

describe('hindsight optimum', () => {
  it('is at least every strategy on random small traces, with or without a binding budget', () => {
    fc.assert(
      fc.property(
        traceArb,
        facilityArb,
        fc.integer({ min: 1, max: 3 }),
        fc.double({ min: 0, max: 80, noNaN: true }),
        fc.integer({ min: 1, max: 8 }),
        (trace, facility, dwell, switchCost, horizon) => {
          const res = runBacktest({ trace, facility, minDwellMinutes: 15 * dwell, switchCostUsdPerMw: switchCost, horizonIntervals: horizon, asicBlockUnits: 500 });
          const optimum = res.strategies.find((s) => s.strategy === 'optimum')!;
          for (const s of res.strategies) expect(s.netProfitUsd, s.strategy).toBeLessThanOrEqual(optimum.netProfitUsd);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('hcp backtest flags', () => {
  it('parses every flag', () => {
    const { options, json } = parseBacktestArgs([
      '--year', '2023', '--node', 'hb_north', '--facility', 'north-dakota', '--json', '--switch-cost', '25',
      '--gpu-switch-seconds=30', '--min-dwell', '60', '--horizon', '4', '--pool-fee', '0.02', '--gpu-utilization', '0.9',
      '--gpu-shares', '0.5,0.25,0.25', '--gpu-rate', 'L40S=1.96', '--gpu-rate', 'h100=3', '--budget-kw', '40000',
      '--block-units', '250', '--warm-up-days', '0', '--strategies', 'controller,optimum',
    ]);
    expect(json).toBe(true);
    expect(options).toEqual({
      year: 2023, node: 'HB_NORTH', facility: 'north-dakota', switchCostUsdPerMw: 25, gpuSwitchSeconds: 30, minDwellMinutes: 60,
      horizonIntervals: 4, poolFee: 0.02, gpuUtilization: 0.9, gpuDemandShares: { P1: 0.5, P2: 0.25, P3: 0.25 },
      gpuRates: { L40S: 1.96, H100: 3 }, budgetKw: 40_000, asicBlockUnits: 250, forecasterWarmUpDays: 0, strategies: ['controller', 'optimum'],
    });
    expect(parseBacktestArgs(['--from', '2023-08-01', '--to', '2023-08-08']).options).toEqual({ fromMs: day('2023-08-01'), toMs: day('2023-08-08') });
  });

  it('names the flag at fault', () => {
    expect(() => parseBacktestArgs(['--year', '20x3'])).toThrow(/^--year: expected a year/);
    // a year the data does not hold is refused when the trace is built, with the span the data covers
    expect(() => runBacktest({ year: 2022, strategies: ['reactive'] })).toThrow(/no 15-minute HB_NORTH prices .* \(the data covers 2023-01-01T00:00Z to 2024-12-05T22:00Z\)/);
    expect(() => parseBacktestArgs(['--data', '/nonexistent'])).toThrow(/^--data: expected a folder of market files/);
    expect(() => parseBacktestArgs(['--anchor', 'tomorrow'])).toThrow(/^--anchor: expected last or day-ahead/);
    expect(() => parseBacktestArgs(['--node', 'HB_SOUTH'])).toThrow(/^--node: .*HB_SOUTH has hourly prices only/);
    expect(() => parseBacktestArgs(['--facility', 'mars'])).toThrow(/^--facility: expected one of texas-north/);
    expect(() => parseBacktestArgs(['--switch-cost'])).toThrow(/^--switch-cost: expected USD per MW switched, ≥ 0, got nothing/);
    expect(() => parseBacktestArgs(['--min-dwell', '20'])).toThrow(/^--min-dwell:/);
    expect(() => parseBacktestArgs(['--gpu-shares', '0.5,0.5,0.5'])).toThrow(/^--gpu-shares:/);
    expect(() => parseBacktestArgs(['--gpu-rate', 'V100=1'])).toThrow(/^--gpu-rate:/);
    expect(() => parseBacktestArgs(['--strategies', 'controller,oracle'])).toThrow(/^--strategies:/);
    expect(() => parseBacktestArgs(['--from', '2023-08-01'])).toThrow(/--from and --to go together/);
    expect(() => parseBacktestArgs(['--frobnicate'])).toThrow(/unknown flag "--frobnicate"/);
  });
});
