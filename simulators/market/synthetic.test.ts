import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { feedKey, marketTickSchema, type DayAheadSchedule, type MarketTick, type NetworkStats, type PriceTick } from '../../domain/market/ticks.ts';
import { feedRank, tickTimeMs } from './source.ts';
import {
  CALIBRATION,
  DEFAULT_START,
  RETARGET_INTERVAL_BLOCKS,
  TARGET_BLOCK_SECONDS,
  createSyntheticSource,
  subsidySatsAtHeight,
  type SyntheticOptions,
} from './synthetic.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const start = DEFAULT_START.ms;
const heightOf = (t: NetworkStats) => Number(t.tickId.split(':').at(-1));
const network = (ticks: MarketTick[]) => ticks.filter((t): t is NetworkStats => t.kind === 'network');
const prices = (ticks: MarketTick[], feed: string) =>
  ticks.filter((t): t is PriceTick => t.kind === 'price' && t.feed === feed).map((t) => t.priceMicroUsd / 1e6);

const inOrder = (ticks: MarketTick[]) =>
  ticks.every((t, i) => {
    if (i === 0) return true;
    const p = ticks[i - 1]!;
    const dt = tickTimeMs(t) - tickTimeMs(p);
    return dt > 0 || (dt === 0 && feedRank(t) > feedRank(p));
  });

/** A year at coarse rates: hourly BTC and power, daily GPU, every block. */
const coarse = (seed: number | string, extra: Partial<SyntheticOptions> = {}) =>
  createSyntheticSource({ seed, btcIntervalMs: HOUR, powerIntervalMs: HOUR, gpuIntervalMs: DAY, ...extra });

describe('synthetic market', () => {
  it('same seed and options ⇒ identical ticks; another seed ⇒ different ticks and ids', () => {
    const a = createSyntheticSource({ seed: 'same' }).ticksBetween(start, start + 2 * HOUR);
    const b = createSyntheticSource({ seed: 'same' }).ticksBetween(start, start + 2 * HOUR);
    expect(a.length).toBeGreaterThan(7200);
    expect(b).toEqual(a);
    const c = createSyntheticSource({ seed: 'other' }).ticksBetween(start, start + 2 * HOUR);
    expect(prices(c, 'btc-usd')).not.toEqual(prices(a, 'btc-usd'));
    expect(c[0]!.tickId).not.toBe(a[0]!.tickId);
    // ids are unique within a run
    expect(new Set(a.map((t) => t.tickId)).size).toBe(a.length);
  });

  it('every tick validates against marketTickSchema and ticks come in time order (ties in feed order)', () => {
    const day = createSyntheticSource({ seed: 3 }).ticksBetween(start, start + 2 * HOUR);
    const year = coarse(4).ticksBetween(start, start + 365 * DAY);
    // every tick of two hours at the default rates; over the year, every network tick and every 5th of the rest
    const checked = [...day, ...year.filter((t, i) => t.kind === 'network' || i % 5 === 0)];
    expect(checked.filter((t) => !marketTickSchema.safeParse(t).success)).toEqual([]);
    for (const ticks of [day, year]) expect(inOrder(ticks)).toBe(true);
    // all eleven feeds are present at the default rates
    expect(new Set(day.map(feedKey)).size).toBe(11);
  });

  it('the same ticks whatever ranges they are pulled in, including going back', () => {
    const whole = coarse('chunks').ticksBetween(start, start + 10 * DAY);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: start, max: start + 10 * DAY }), { maxLength: 6 }), (cuts) => {
        const src = coarse('chunks');
        const bounds = [start, ...cuts.sort((x, y) => x - y), start + 10 * DAY];
        const pieces = bounds.slice(1).flatMap((to, i) => src.ticksBetween(bounds[i]!, to));
        expect(pieces).toEqual(whole);
        // an earlier range after a later one replays from the start and gives the same ticks
        expect(src.ticksBetween(start, start + 2 * DAY)).toEqual(whole.filter((t) => tickTimeMs(t) < start + 2 * DAY));
      }),
      { numRuns: 10 },
    );
  });

  it('one feed does not depend on which other feeds are generated', () => {
    const all = createSyntheticSource({ seed: 'indep' }).ticksBetween(start, start + 6 * HOUR);
    const some = createSyntheticSource({ seed: 'indep', nodes: ['HB_PAN'], gpuTypes: ['L40S'], network: false }).ticksBetween(start, start + 6 * HOUR);
    for (const feed of ['btc-usd', 'power-hb_pan', 'gpu-l40s']) expect(prices(some, feed)).toEqual(prices(all, feed));
  });

  it('inForceAt gives the latest tick of each feed and leaves later pulls unchanged', () => {
    const src = coarse('force');
    const at = start + 3 * DAY + 1234;
    const expected = new Map<string, MarketTick>();
    for (const t of coarse('force').ticksBetween(start, at + 1)) expected.set(feedKey(t), t);
    expect(src.inForceAt(at)).toEqual([...expected.values()].sort((a, b) => feedRank(a) - feedRank(b)));
    expect(src.ticksBetween(at + 1, start + 5 * DAY)).toEqual(coarse('force').ticksBetween(at + 1, start + 5 * DAY));
  });

  it('halves the subsidy at block 840,000, as the schedule says', () => {
    const src = createSyntheticSource({ seed: 'halving', initial: { height: 839_990 }, nodes: [], gpuTypes: [], btcIntervalMs: HOUR });
    const blocks = network(src.ticksBetween(start, start + 2 * DAY));
    expect(blocks.length).toBeGreaterThan(20);
    for (const b of blocks) expect(b.subsidySats).toBe(heightOf(b) < 840_000 ? 625_000_000 : 312_500_000);
    expect(blocks.find((b) => heightOf(b) === 840_000)?.subsidySats).toBe(312_500_000);
    expect(blocks.find((b) => heightOf(b) === 839_999)?.subsidySats).toBe(625_000_000);
    expect([0, 209_999, 210_000, 839_999, 840_000, 1_050_000, 1_260_000].map(subsidySatsAtHeight)).toEqual([
      5_000_000_000, 5_000_000_000, 2_500_000_000, 625_000_000, 312_500_000, 156_250_000, 78_125_000,
    ]);
  });

  it('from 2024-01-01 the halving falls in spring 2024, and difficulty changes only at retarget boundaries by the pow.cpp rule', () => {
    const src = createSyntheticSource({ seed: 'chain', nodes: [], gpuTypes: [], btcIntervalMs: HOUR });
    const blocks = network(src.ticksBetween(start, start + 130 * DAY));
    // consecutive heights, one tick per block
    expect(blocks.every((b, i) => heightOf(b) === DEFAULT_START.height + i)).toBe(true);
    const halving = blocks.find((b) => heightOf(b) === 840_000)!;
    expect(tickTimeMs(halving)).toBeGreaterThan(Date.parse('2024-03-15T00:00Z'));
    expect(tickTimeMs(halving)).toBeLessThan(Date.parse('2024-05-31T00:00Z'));

    let retargets = 0;
    let checked = 0;
    const span = RETARGET_INTERVAL_BLOCKS * TARGET_BLOCK_SECONDS * 1000;
    for (let i = 1; i < blocks.length; i++) {
      const [prev, cur] = [blocks[i - 1]!, blocks[i]!];
      const boundary = heightOf(cur) % RETARGET_INTERVAL_BLOCKS === 0;
      if (!boundary) {
        if (cur.difficulty !== prev.difficulty) expect.fail(`difficulty changed at height ${heightOf(cur)}, not a retarget boundary`);
        continue;
      }
      retargets++;
      const first = blocks[i - RETARGET_INTERVAL_BLOCKS];
      if (first === undefined) continue; // the period began before the run
      // new = old × 2016·600 s / (time(h−1) − time(h−2016)), timespan clamped to [¼, 4] of the target
      const actual = Math.min(Math.max(tickTimeMs(prev) - tickTimeMs(first), span / 4), span * 4);
      expect(cur.difficulty).toBe(Math.round((prev.difficulty * span) / actual));
      checked++;
    }
    expect(retargets).toBe(Math.floor(heightOf(blocks.at(-1)!) / 2016) - Math.floor(DEFAULT_START.height / 2016));
    expect(retargets).toBeGreaterThanOrEqual(8);
    expect(checked).toBe(retargets - 1);
    // hashrate grows (trend +48 %/yr), so difficulty rises over the run
    expect(blocks.at(-1)!.difficulty).toBeGreaterThan(DEFAULT_START.difficulty);
  });

  it('GPU rates stay inside their bounds for any seed', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const ticks = createSyntheticSource({ seed, nodes: [], network: false, btcIntervalMs: 30 * DAY, gpuIntervalMs: 7 * DAY }).ticksBetween(start, start + 3 * 365 * DAY);
        for (const g of ['H100', 'A100', 'L40S'] as const) {
          const { min, max } = CALIBRATION.gpu[g];
          const xs = prices(ticks, `gpu-${g.toLowerCase()}`);
          expect(xs.length).toBe(157);
          for (const x of xs) expect(x >= min && x <= max).toBe(true);
        }
      }),
      { numRuns: 20 },
    );
  });

  it('reproduces the calibrated statistics over a simulated year', () => {
    const year = coarse('stats', { network: false, gpuTypes: [] }).ticksBetween(start, start + 365 * DAY);
    // BTC: annualised vol of hourly log returns between the bull (45 %) and bear (62 %) regimes, ± sampling
    const btc = prices(year, 'btc-usd');
    const r = btc.slice(1).map((p, i) => Math.log(p / btc[i]!));
    const m = r.reduce((a, x) => a + x, 0) / r.length;
    const vol = Math.sqrt((r.reduce((a, x) => a + (x - m) ** 2, 0) / (r.length - 1)) * 8760);
    expect(vol).toBeGreaterThan(0.4);
    expect(vol).toBeLessThan(0.7);
    // electricity: median near the real $20.66, evening (00Z) above morning (08Z), some spikes, capped
    const hub = year.filter((t): t is PriceTick => t.kind === 'price' && t.feed === 'power-hb_hubavg');
    const usd = hub.map((t) => t.priceMicroUsd / 1e6);
    const median = [...usd].sort((a, b) => a - b)[usd.length >> 1]!;
    expect(median).toBeGreaterThan(15);
    expect(median).toBeLessThan(30);
    const atHour = (h: number) => {
      const xs = hub.filter((t) => new Date(t.at).getUTCHours() === h).map((t) => t.priceMicroUsd / 1e6).sort((a, b) => a - b);
      return xs[xs.length >> 1]!;
    };
    expect(atHour(0)).toBeGreaterThan(atHour(8) * 1.4);
    const spikes = usd.filter((x) => x > 200).length;
    expect(spikes).toBeGreaterThan(20);
    expect(spikes).toBeLessThan(800);
    expect(Math.max(...usd)).toBeLessThanOrEqual(CALIBRATION.power.spikes.capUsd + 100);
    // HB_PAN sits below the hub average (basis mean −$16.85) and goes negative more often
    const pan = prices(year, 'power-hb_pan');
    expect(pan.filter((x) => x < 0).length).toBeGreaterThan(usd.filter((x) => x < 0).length);
  });

  it('rejects bad options', () => {
    expect(() => createSyntheticSource({ seed: 1, btcIntervalMs: 0 })).toThrow(/btcIntervalMs/);
    expect(() => createSyntheticSource({ seed: 1, powerIntervalMs: 1.5 })).toThrow(/powerIntervalMs/);
    expect(() => createSyntheticSource({ seed: 1, initial: { gpuUsdPerHour: { H100: 9 } } })).toThrow(/H100/);
  });

  it('publishes each UTC day\'s day-ahead prices at 20:00 UTC the day before, and they say more about the hour than a flat price does', () => {
    const ticks = coarse('da', { nodes: ['HB_WEST'] }).ticksBetween(start, start + 60 * DAY);
    const schedules = ticks.filter((t): t is DayAheadSchedule => t.kind === 'day-ahead');
    expect(schedules.length).toBeGreaterThanOrEqual(59);
    for (const d of schedules) {
      expect(marketTickSchema.safeParse(d).success).toBe(true);
      expect(Date.parse(d.fromHour) - Date.parse(d.at)).toBe(4 * HOUR);
      expect(Date.parse(d.fromHour) % DAY).toBe(0);
      expect(d.hourlyMicroUsdPerMwh).toHaveLength(24);
    }
    // realized hourly prices against the day-ahead price of their hour, and against one flat price
    const daOf = new Map(schedules.flatMap((d) => d.hourlyMicroUsdPerMwh.map((v, h) => [Date.parse(d.fromHour) + h * HOUR, v! / 1e6] as const)));
    const realized = ticks.filter((t): t is PriceTick => t.kind === 'price' && t.feed === 'power-hb_west' && daOf.has(tickTimeMs(t)));
    const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const flat = median(realized.map((t) => t.priceMicroUsd / 1e6));
    const errDa = median(realized.map((t) => Math.abs(t.priceMicroUsd / 1e6 - daOf.get(tickTimeMs(t))!)));
    const errFlat = median(realized.map((t) => Math.abs(t.priceMicroUsd / 1e6 - flat)));
    expect(errDa).toBeLessThan(errFlat);
  });
});
