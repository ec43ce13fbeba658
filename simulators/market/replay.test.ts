import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { feedKey, marketStream, marketTickSchema, type DayAheadSchedule, type MarketTick, type PriceTick } from '../../domain/market/ticks.ts';
import { createReplaySource, L40S_LIST_PRICE_USD_PER_GPU_HOUR } from './replay.ts';
import { feedRank } from './source.ts';

const T = (s: string) => Date.parse(s);
const HOUR = 3_600_000;
const price = (ticks: MarketTick[], feed: string, at: string) =>
  ticks.find((t): t is PriceTick => t.kind === 'price' && t.feed === feed && t.at === new Date(T(at)).toISOString());

describe('replay of the real market history', () => {
  const replay = createReplaySource();

  it('reproduces known ERCOT values: hourly, and 15-minute for HB_WEST/HB_NORTH in 2023', () => {
    const hourly = createReplaySource({ fifteenMinute: false, feeds: { power: true, btc: false, network: false, gpu: false, dayAhead: false } });
    const scarcityHour = hourly.ticksBetween(T('2023-09-07T00:00Z'), T('2023-09-07T00:00Z') + HOUR);
    const west = price(scarcityHour, 'power-hb_west', '2023-09-07T00:00Z');
    expect(west).toMatchObject({ priceMicroUsd: 5_257_580_000, tickId: 'replay:power-hb_west:rt1h:2023-09-07T00:00:00.000Z' });
    expect(scarcityHour.filter((t) => feedKey(t) === 'power-hb_west')).toHaveLength(1);

    // default: the four 15-minute values of that hour (ercot_hb_west_north_rt_15min.csv), whose mean is the hourly 5,257.58
    const q = replay.ticksBetween(T('2023-09-07T00:00Z'), T('2023-09-07T01:00Z')).filter((t) => feedKey(t) === 'power-hb_west') as PriceTick[];
    expect(q.map((t) => t.priceMicroUsd)).toEqual([5_215_590_000, 5_223_360_000, 5_333_970_000, 5_257_380_000]);
    expect(q[1]!.tickId).toBe('replay:power-hb_west:rt15:2023-09-07T00:15:00.000Z');
    expect(Math.round(q.reduce((a, t) => a + t.priceMicroUsd, 0) / 4 / 10_000) * 10_000).toBe(5_257_580_000);
    // other hubs stay hourly: HB_HOUSTON 5,117.88
    expect(price(replay.ticksBetween(T('2023-09-07T00:00Z'), T('2023-09-07T00:01Z')), 'power-hb_houston', '2023-09-07T00:00Z')?.priceMicroUsd).toBe(5_117_880_000);

    // 2023 is 15-minute (35,040 intervals, complete), 2024 hourly (8,784 hours)
    const count = (from: string, to: string) => replay.ticksBetween(T(from), T(to)).filter((t) => feedKey(t) === 'power-hb_north').length;
    expect(count('2023-01-01T00:00Z', '2024-01-01T00:00Z')).toBe(35_040);
    expect(count('2024-01-01T00:00Z', '2025-01-01T00:00Z')).toBe(8_784);
  });

  it('stamps the BTC hourly close at the end of its hour', () => {
    const first = replay.ticksBetween(T('2022-01-01T00:00Z'), T('2022-01-01T01:00Z') + 1).filter((t) => feedKey(t) === 'btc-usd');
    // the file's first row, 2022-01-01T00:00Z close 46,657.53, is observed at 01:00Z
    expect(first).toEqual([
      { kind: 'price', tickId: 'replay:btc-usd:2022-01-01T01:00:00.000Z', feed: 'btc-usd', at: '2022-01-01T01:00:00.000Z', priceMicroUsd: 46_657_530_000 },
    ]);
  });

  it("replays daily network stats with the day before's fees, held from the last day that had them", () => {
    const day = (d: string) => replay.ticksBetween(T(d), T(d) + 1).find((t) => t.kind === 'network');
    // the halving day: its own difficulty and subsidy, the fees of 2024-04-19 (0.77445 BTC/block; its own 9.67 are known a day later)
    expect(day('2024-04-20T00:00Z')).toEqual({
      kind: 'network',
      tickId: 'replay:network-btc:2024-04-20T00:00:00.000Z',
      at: '2024-04-20T00:00:00.000Z',
      difficulty: 86_388_558_925_171,
      subsidySats: 312_500_000,
      feesPerBlockSats: 77_445_000,
    });
    expect(day('2024-04-21T00:00Z')).toMatchObject({ feesPerBlockSats: 967_473_000 });
    // 2022-12-31 has fees 0.07808 BTC/block; 2023-01-01 has none, so 2023-01-02 holds 2022-12-31's
    expect(day('2023-01-01T00:00Z')).toMatchObject({ feesPerBlockSats: 7_808_000, difficulty: 35_364_065_900_457 });
    expect(day('2023-01-02T00:00Z')).toMatchObject({ feesPerBlockSats: 7_808_000 });
    expect(replay.feeHeldDays).toContain(T('2023-01-02T00:00Z'));
    expect(replay.feeHeldDays).not.toContain(T('2023-01-01T00:00Z'));
    expect(replay.feeHeldDays).toHaveLength(1_092);
    // the days up to the first with a fee value (2020-04-13) have no fees of the day before: not replayed
    const net = replay.ticksBetween(replay.fromMs, replay.toMs).filter((t) => t.kind === 'network');
    expect(net[0]!.at).toBe('2020-04-14T00:00:00.000Z');
    expect(net).toHaveLength(1_821);
  });

  it('publishes each day-ahead schedule at 20:00 UTC the day before, with the hours the source lacks as null', () => {
    const schedules = (from: string, to: string) => replay.ticksBetween(T(from), T(to)).filter((t): t is DayAheadSchedule => t.kind === 'day-ahead' && t.node === 'HB_WEST');
    const [oct2] = schedules('2023-10-01T00:00Z', '2023-10-02T00:00Z');
    expect(oct2).toMatchObject({ tickId: 'replay:hb_west-da:2023-10-02T00:00:00.000Z', at: '2023-10-01T20:00:00.000Z', fromHour: '2023-10-02T00:00:00.000Z' });
    expect(oct2!.hourlyMicroUsdPerMwh).toHaveLength(24);
    expect(oct2!.hourlyMicroUsdPerMwh.slice(0, 2)).toEqual([74_480_000, 42_760_000]);
    expect(marketStream(oct2!)).toBe('market-hb_west-da');
    // the summer 2023 gap: no schedule at all
    expect(schedules('2023-08-01T00:00Z', '2023-08-20T00:00Z')).toEqual([]);
  });

  it('replays monthly GPU rates, withheld months keep the previous rate, and L40S is a fixed list price or absent', () => {
    const feb = replay.ticksBetween(T('2024-02-01T00:00Z'), T('2024-02-01T00:00Z') + 1);
    expect(price(feb, 'gpu-h100', '2024-02-01T00:00Z')?.priceMicroUsd).toBe(4_840_000);
    expect(price(feb, 'gpu-l40s', '2024-02-01T00:00Z')).toMatchObject({ priceMicroUsd: 1_960_000, tickId: 'replay:gpu-l40s:list:2024-02-01T00:00:00.000Z' });
    expect(L40S_LIST_PRICE_USD_PER_GPU_HOUR).toBe(1.96);
    // A100 is withheld in 2024-03: no tick, February's 2.35 stays in force
    expect(replay.ticksBetween(T('2024-03-01T00:00Z'), T('2024-04-01T00:00Z')).filter((t) => feedKey(t) === 'gpu-a100')).toEqual([]);
    const mid = replay.inForceAt(T('2024-03-15T00:00Z'));
    expect(mid.find((t) => feedKey(t) === 'gpu-a100')).toMatchObject({ priceMicroUsd: 2_350_000, at: '2024-02-01T00:00:00.000Z' });
    const omit = createReplaySource({ l40s: 'omit', feeds: { gpu: true, btc: false, power: false, network: false, dayAhead: false } });
    expect(new Set(omit.ticksBetween(omit.fromMs, omit.toMs).map(feedKey))).toEqual(new Set(['gpu-h100', 'gpu-a100']));
  });

  it('every tick validates, ticks are in time order (ties in feed order), and ids are unique', () => {
    const all = replay.ticksBetween(replay.fromMs, replay.toMs);
    expect(all.length).toBeGreaterThan(180_000);
    const ids = new Set(all.map((t) => t.tickId));
    expect(ids.size).toBe(all.length);
    const disorder = all.filter((t, i) => {
      if (i === 0) return false;
      const p = all[i - 1]!;
      return t.at < p.at || (t.at === p.at && feedRank(t) <= feedRank(p)); // ISO strings of one format sort as times
    });
    expect(disorder).toEqual([]);
    // schema check on every tick of one busy month, and on a sample of the rest
    for (const t of replay.ticksBetween(T('2023-08-01T00:00Z'), T('2023-09-01T00:00Z'))) expect(marketTickSchema.parse(t)).toEqual(t);
    for (let i = 0; i < all.length; i += 97) expect(marketTickSchema.safeParse(all[i]).success).toBe(true);
  });

  it('is deterministic: adjacent ranges concatenate, and inForceAt is the last tick of each feed', () => {
    const a = T('2023-08-31T00:00Z');
    const b = T('2023-09-02T00:00Z');
    const whole = replay.ticksBetween(a, b);
    fc.assert(
      fc.property(fc.integer({ min: a, max: b }), (cut) => {
        expect([...replay.ticksBetween(a, cut), ...createReplaySource().ticksBetween(cut, b)]).toEqual(whole);
      }),
      { numRuns: 25 },
    );
    const at = T('2023-09-01T12:34Z');
    const before = replay.ticksBetween(replay.fromMs, at + 1);
    const last = new Map<string, MarketTick>();
    for (const t of before) last.set(feedKey(t), t);
    expect(replay.inForceAt(at)).toEqual([...last.values()].sort((x, y) => feedRank(x) - feedRank(y)));
    expect(replay.ticksBetween(b, a)).toEqual([]);
  });
});
