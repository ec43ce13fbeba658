import { describe, expect, it } from 'vitest';
import { dayAheadAt, DEFAULT_LEARNED_CONFIG, initialLearnedForecaster, learnedForecast, observeSettled, persistenceForecast, type LearnedForecasterState } from './forecast.ts';

const I = 900_000;
const T0 = Date.UTC(2023, 6, 1);

describe('persistence forecast', () => {
  it('is the day-ahead price plus the last deviation decaying by ρ per interval, or plain persistence without day-ahead', () => {
    const dayAhead = { fromMs: T0 - 3_600_000, hourlyUsdPerMwh: [40, 60, null] };
    // last settled interval T0−15 min was $140 against a day-ahead of $40: deviation $100
    const f = persistenceForecast({ atMs: T0, intervalMs: I, horizon: 6, lastUsdPerMwh: 140, dayAhead, persistence: 0.5 });
    expect(f.pricesUsdPerMwh.slice(0, 4)).toEqual([60 + 50, 60 + 25, 60 + 12.5, 60 + 6.25]);
    expect(f.pricesUsdPerMwh.slice(4)).toEqual([140, 140]); // no day-ahead for that hour
    expect(persistenceForecast({ atMs: T0, intervalMs: I, horizon: 3, lastUsdPerMwh: 77 }).pricesUsdPerMwh).toEqual([77, 77, 77]);
    expect(dayAheadAt(dayAhead, T0 + 3_599_999)).toBe(60);
    expect(dayAheadAt(dayAhead, T0 + 3_600_000)).toBeUndefined();
  });
});

describe('learned forecast', () => {
  const feed = (state: LearnedForecasterState, from: number, prices: number[]) =>
    prices.reduce((s, p, k) => observeSettled(s, { startMs: from + k * I, priceUsdPerMwh: p, dayAheadUsdPerMwh: null }), state);

  it('takes a gap longer than its history as a fresh start, in constant work (a tick dated centuries ahead cannot exhaust memory)', () => {
    const s = feed(initialLearnedForecaster(), T0, [30, 40, 50]);
    const far = Date.UTC(9999, 11, 31);
    const after = observeSettled(s, { startMs: far, priceUsdPerMwh: 60, dayAheadUsdPerMwh: null });
    expect(after.prices).toEqual([60]);
    expect(after.firstSlot).toBe(Math.floor(far / I));
    // a short gap is still kept as gaps
    expect(observeSettled(s, { startMs: T0 + 5 * I, priceUsdPerMwh: 60, dayAheadUsdPerMwh: null }).prices).toEqual([30, 40, 50, null, null, 60]);
  });

  it('knows nothing at first: pure persistence', () => {
    const s = feed(initialLearnedForecaster(), T0, [30]);
    expect(learnedForecast(s, { atMs: T0 + I }).pricesUsdPerMwh).toEqual(Array(DEFAULT_LEARNED_CONFIG.horizon).fill(30));
  });

  it('learns that a heat wave brings a spike at the same time every afternoon, from earlier days only', () => {
    // 20 days: $30 all day except a $3,000 spike for 4 intervals starting at 20:00 UTC (slot 80)
    const day = (d: number) => Array.from({ length: 96 }, (_, k) => (d >= 0 && k >= 80 && k < 84 ? 3_000 : 30));
    let s = initialLearnedForecaster();
    for (let d = 0; d < 20; d++) s = feed(s, T0 + d * 86_400_000, day(d));
    // day 20, decided at 19:45: the last price is $30, yet the spike is expected next interval and after
    s = feed(s, T0 + 20 * 86_400_000, day(20).slice(0, 79));
    const f = learnedForecast(s, { atMs: T0 + 20 * 86_400_000 + 79 * I });
    // 20:00: the spike is expected (averaged over the ±1 h window of the regime feature); 19:45 is raised less
    expect(f.pricesUsdPerMwh[1]).toBeGreaterThan(500); // far above any 2023 strike (~$130–240/MWh)
    expect(f.pricesUsdPerMwh[0]).toBeLessThan(f.pricesUsdPerMwh[1]!);
    // a calm history predicts no spike at the same hour
    let calm = initialLearnedForecaster();
    for (let d = 0; d < 20; d++) calm = feed(calm, T0 + d * 86_400_000, Array(96).fill(30));
    calm = feed(calm, T0 + 20 * 86_400_000, Array(79).fill(30));
    expect(learnedForecast(calm, { atMs: T0 + 20 * 86_400_000 + 79 * I }).pricesUsdPerMwh[1]).toBeCloseTo(30, 6);
  });

  it('takes intervals in order, keeps gaps as gaps and a bounded history', () => {
    let s = feed(initialLearnedForecaster(), T0, [10, 20]);
    expect(() => observeSettled(s, { startMs: T0 + I, priceUsdPerMwh: 1, dayAheadUsdPerMwh: null })).toThrow(RangeError);
    s = observeSettled(s, { startMs: T0 + 5 * I, priceUsdPerMwh: 50, dayAheadUsdPerMwh: null });
    expect(s.prices).toEqual([10, 20, null, null, null, 50]);
    s = feed(s, T0 + 6 * I, Array(2_000).fill(40));
    expect(s.prices.length).toBeLessThan(400);
  });
});
