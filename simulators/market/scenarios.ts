/**
 * Stress markets: named, seeded scenario families written as a folder in the exact format of
 * simulators/market/data, so `hcp backtest --data DIR` (and anything else that reads that
 * format) takes them like the real history. Each family isolates one way a market can differ
 * from the ERCOT years the controller was built on:
 *
 * | family        | what it does to the controller |
 * |---------------|--------------------------------|
 * | alternating   | the price flips around the S21's strike every interval or two: a forecaster that trusts the last price is always a step behind |
 * | random-walk   | a slowly mean-reverting walk around the strike: persistence is right, but every crossing tempts a switch |
 * | spiky-summer  | June–September spikes three times as frequent and twice as long as the rest of the year, none in the day-ahead prices |
 * | btc-crash     | BTC falls 60 % over six weeks from March 1: the strike falls into the daily price range |
 * | halving       | the subsidy halves on July 1 and the difficulty follows only after two weeks, by 8 % |
 *
 * (A span shorter than a year keeps the proportions: the crash starts a sixth of the way in and
 * lasts a third, the halving falls in the middle with a quarter's lag.)
 * | flat-cheap    | a whole year of $25/MWh power, ±$1: nothing is worth a switch |
 * | da-biased     | day-ahead prices $40/MWh above what real time settles at, on a walk around the strike |
 * | da-missing    | as da-biased's real-time prices, with no day-ahead price published at all |
 *
 * The strike is computed from the scenario's own BTC and network series (profitability.ts), so
 * "around the strike" means around the price at which an S21 at the default 2.5 % pool fee earns
 * what it pays for power. Every draw comes from the seed (simulators/random.ts): the same
 * family, seed and span give the same bytes.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { strikePriceUsdPerMwh, type NetworkFacts } from '../../domain/economics/profitability.ts';
import { createRng, type Rng } from '../random.ts';
import { MARKET_DATA_DIR } from './history.ts';
import { isoMinute } from '../../domain/time.ts';

export const SCENARIO_FAMILIES = ['alternating', 'random-walk', 'spiky-summer', 'btc-crash', 'halving', 'flat-cheap', 'da-biased', 'da-missing'] as const;
export type ScenarioFamily = (typeof SCENARIO_FAMILIES)[number];

export const SCENARIO_DESCRIPTIONS: Record<ScenarioFamily, string> = {
  alternating: 'price flips around the S21 strike every 1–2 intervals (±$25/MWh, noise $5), centred $5 below it',
  'random-walk': 'AR(1) walk around the S21 strike (φ 0.99 per 15 min, σ $6), centred $5 below it',
  'spiky-summer': 'ERCOT-like base with unannounced spikes, 3× as frequent and 2× as long in June–September afternoons',
  'btc-crash': 'BTC −60 % over six weeks from March 1 (a shorter span: from its first sixth, over a third), then flat; the strike falls into the price range',
  halving: 'subsidy 6.25 → 3.125 BTC on July 1 (a shorter span: its middle); difficulty −8 % only two weeks (a quarter of the span) later',
  'flat-cheap': '$25/MWh ± $1 all year',
  'da-biased': 'walk around the strike; day-ahead published $40/MWh above the settled hourly mean',
  'da-missing': 'walk around the strike; no day-ahead price at all',
};

export type ScenarioOptions = {
  family: ScenarioFamily;
  seed: number | string;
  /** First day, UTC midnight. Default 2023-01-01. */
  fromMs?: number;
  /** Days of 15-minute prices. Default 365. */
  days?: number;
};

const MIN15 = 900_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** The network of the scenarios before any event: close to 2023's (difficulty ~47 T, 6.25 BTC, ~0.1 BTC fees per block). */
const BASE = { btcUsd: 30_000, difficulty: 50e12, subsidyBtc: 6.25, feesPerBlockBtc: 0.1 };
const GPU_RATES = { h100: 2.5, a100: 1.5 };

type Day = { t: number; network: NetworkFacts };
type Market = {
  /** 15-minute real-time prices at HB_WEST, from fromMs. */
  rt: number[];
  /** Hourly day-ahead prices from fromMs, null where none is published. */
  da: (number | null)[];
  /** Hourly BTC closes from fromMs − 1 day. */
  btc: number[];
  /** Daily network facts from fromMs − 1 day. */
  days: Day[];
};

const strikeAt = (btcUsd: number, network: NetworkFacts) => strikePriceUsdPerMwh('S21', network, btcUsd);

/** An ERCOT-like day shape: low at night, a peak in the late afternoon (Central time ≈ UTC − 6). */
const diurnal = (ms: number) => Math.sin(((hourLocal(ms) - 10) / 24) * 2 * Math.PI);

/** Hour of day in ERCOT's Central time, fractional (UTC − 6, no daylight saving). */
const hourLocal = (ms: number) => (((ms / HOUR) % 24) + 18) % 24;

const isSummer = (ms: number) => {
  const m = new Date(ms).getUTCMonth();
  return m >= 5 && m <= 8;
};

/** BTC: a small geometric walk (40 %/yr) around a path the family shapes. */
const btcPath = (rng: Rng, fromMs: number, hours: number, shape: (ms: number) => number) => {
  const sd = 0.4 / Math.sqrt(8760);
  let drift = 0;
  return Array.from({ length: hours }, (_, h) => {
    drift = 0.999 * drift + rng.normal(0, sd);
    return Math.round(BASE.btcUsd * shape(fromMs + h * HOUR) * Math.exp(drift) * 100) / 100;
  });
};

const networkPath = (fromMs: number, days: number, at: (ms: number) => Partial<NetworkFacts>): Day[] =>
  Array.from({ length: days }, (_, d) => {
    const t = fromMs + d * DAY;
    return { t, network: { difficulty: BASE.difficulty, subsidyBtc: BASE.subsidyBtc, feesPerBlockBtc: BASE.feesPerBlockBtc, ...at(t) } };
  });

/** An AR(1) walk: x ← φx + N(0, σ). */
const walk = (rng: Rng, n: number, phi: number, sd: number) => {
  let x = 0;
  return Array.from({ length: n }, () => (x = phi * x + rng.normal(0, sd)));
};

/** The base of the ERCOT-like families: $35 + $20 day shape, OU noise (σ $4, φ 0.95). */
const ercotLike = (rng: Rng, fromMs: number, n: number, level = 35, swing = 20) => {
  const noise = walk(rng, n, 0.95, 4);
  return Array.from({ length: n }, (_, i) => level + swing * diurnal(fromMs + i * MIN15) + noise[i]!);
};

/** The day-ahead price of each hour: the hour's mean of `of` plus a published error (σ $3) and a bias. */
const dayAheadFrom = (rng: Rng, of: number[], bias = 0) =>
  Array.from({ length: Math.floor(of.length / 4) }, (_, h) => of.slice(4 * h, 4 * h + 4).reduce((s, x) => s + x, 0) / 4 + bias + rng.normal(0, 3));

const build = (o: Required<ScenarioOptions>): Market => {
  const rng = createRng(`scenario:${o.family}:${o.seed}`);
  const n = o.days * 96;
  const hours = (o.days + 1) * 24;
  const btcFrom = o.fromMs - DAY;
  const flatBtc = () => btcPath(rng.fork('btc'), btcFrom, hours, () => 1);
  const flatNet = () => networkPath(btcFrom, o.days + 1, () => ({}));
  /** Hourly BTC close in force at a 15-minute interval (the close of the hour before, as a controller knows it). */
  const btcAt = (btc: number[], i: number) => btc[Math.floor((o.fromMs + i * MIN15 - btcFrom) / HOUR)]!;
  const netAt = (days: Day[], i: number) => days[Math.floor((o.fromMs + i * MIN15 - btcFrom) / DAY)]!.network;
  const aroundStrike = (btc: number[], days: Day[], offsets: number[]) => offsets.map((x, i) => strikeAt(btcAt(btc, i), netAt(days, i)) - 5 + x);

  switch (o.family) {
    case 'alternating': {
      const btc = flatBtc();
      const days = flatNet();
      const r = rng.fork('power');
      let sign = 1;
      const offsets = Array.from({ length: n }, () => {
        if (r.bernoulli(0.7)) sign = -sign;
        return 25 * sign + r.normal(0, 5);
      });
      const rt = aroundStrike(btc, days, offsets);
      // the day-ahead market sees the level, not the flips
      const level = aroundStrike(btc, days, new Array<number>(n).fill(0));
      return { rt, da: dayAheadFrom(rng.fork('da'), level), btc, days };
    }
    case 'random-walk':
    case 'da-biased':
    case 'da-missing': {
      const btc = flatBtc();
      const days = flatNet();
      const rt = aroundStrike(btc, days, walk(rng.fork('power'), n, 0.99, 6));
      const da = o.family === 'da-missing' ? new Array<null>(n / 4).fill(null) : dayAheadFrom(rng.fork('da'), rt, o.family === 'da-biased' ? 40 : 0);
      return { rt, da, btc, days };
    }
    case 'spiky-summer': {
      const base = ercotLike(rng.fork('power'), o.fromMs, n);
      const r = rng.fork('spikes');
      const rt = base.slice();
      for (let i = 0; i < n; i++) {
        const ms = o.fromMs + i * MIN15;
        const afternoon = hourLocal(ms) >= 14 && hourLocal(ms) < 20;
        const hazard = (afternoon ? 0.01 : 0.001) * (isSummer(ms) ? 3 : 1);
        if (!r.bernoulli(hazard)) continue;
        const length = Math.max(1, Math.round(r.exponential(1 / (isSummer(ms) ? 6 : 3))));
        const level = 400 * Math.exp(r.normal(0, 1));
        for (let k = 0; k < length && i + k < n; k++) rt[i + k] = Math.max(rt[i + k]!, level * Math.exp(r.normal(0, 0.3)));
        i += length;
      }
      // the day-ahead market did not see the spikes coming
      return { rt, da: dayAheadFrom(rng.fork('da'), base), btc: flatBtc(), days: flatNet() };
    }
    case 'btc-crash': {
      // in a year from January 1: March 1 to mid-April; a shorter span keeps the proportions
      const crashFrom = o.fromMs + Math.max(1, Math.round((o.days * 59) / 365)) * DAY;
      const crashMs = Math.min(42, Math.max(1, Math.floor(o.days / 3))) * DAY;
      const shape = (ms: number) => (ms < crashFrom ? 1 : ms >= crashFrom + crashMs ? 0.4 : 1 - (0.6 * (ms - crashFrom)) / crashMs);
      const btc = btcPath(rng.fork('btc'), btcFrom, hours, shape);
      const rt = ercotLike(rng.fork('power'), o.fromMs, n, 45, 25);
      return { rt, da: dayAheadFrom(rng.fork('da'), rt), btc, days: flatNet() };
    }
    case 'halving': {
      // in a year from January 1: July 1, the difficulty two weeks later; a shorter span keeps the proportions
      const halvingMs = o.fromMs + Math.round((o.days * 181) / 365) * DAY;
      const lagMs = Math.min(14, Math.max(1, Math.floor(o.days / 4))) * DAY;
      const days = networkPath(btcFrom, o.days + 1, (t) => ({
        subsidyBtc: t >= halvingMs ? BASE.subsidyBtc / 2 : BASE.subsidyBtc,
        difficulty: t >= halvingMs + lagMs ? BASE.difficulty * 0.92 : BASE.difficulty,
      }));
      const rt = ercotLike(rng.fork('power'), o.fromMs, n, 60, 30);
      return { rt, da: dayAheadFrom(rng.fork('da'), rt), btc: flatBtc(), days };
    }
    case 'flat-cheap': {
      const r = rng.fork('power');
      const rt = Array.from({ length: n }, () => 25 + r.uniform(-1, 1));
      return { rt, da: new Array<number>(n / 4).fill(25), btc: flatBtc(), days: flatNet() };
    }
  }
};

const money = (x: number) => (Math.round(x * 100) / 100).toString();

/** Write a scenario folder; returns the files written. The subsidy schedule is the protocol's (copied). */
export const writeScenario = (dir: string, opts: ScenarioOptions): string[] => {
  const o: Required<ScenarioOptions> = { fromMs: Date.UTC(2023, 0, 1), days: 365, ...opts };
  if (!Number.isInteger(o.days) || o.days < 2 || o.days > 3660) throw new RangeError(`days: expected 2..3660, got ${o.days}`);
  if (o.fromMs % DAY !== 0) throw new RangeError('from: expected a UTC midnight');
  const m = build(o);
  mkdirSync(dir, { recursive: true });
  const write = (name: string, lines: string[]) => writeFileSync(path.join(dir, name), `${lines.join('\n')}\n`);
  const hubs = ['hb_west', 'hb_north', 'hb_houston', 'hb_south', 'hb_pan', 'hb_hubavg'].map((h) => `${h}_usd_per_mwh`).join(',');
  // HB_NORTH carries a small basis over HB_WEST, like the real hubs
  const north = (x: number) => x + 2;
  write('ercot_hb_west_north_rt_15min.csv', ['ts_utc,hb_west_usd_per_mwh,hb_north_usd_per_mwh', ...m.rt.map((p, i) => `${isoMinute(o.fromMs + i * MIN15)},${money(p)},${money(north(p))}`)]);
  const hourlyRt = Array.from({ length: m.rt.length / 4 }, (_, h) => m.rt.slice(4 * h, 4 * h + 4).reduce((s, x) => s + x, 0) / 4);
  const row = (p: number) => [p, north(p), p, p, p, p].map(money).join(',');
  write('ercot_hubs_rt_hourly.csv', [`ts_utc,${hubs},n_15min_intervals,source`, ...hourlyRt.map((p, h) => `${isoMinute(o.fromMs + h * HOUR)},${row(p)},4,scenario`)]);
  write('ercot_hubs_da_hourly.csv', [`ts_utc,${hubs},source`, ...m.da.map((p, h) => `${isoMinute(o.fromMs + h * HOUR)},${p === null ? ',,,,,,missing' : `${row(p)},scenario`}`)]);
  const btcFrom = o.fromMs - DAY;
  write('btc_usd_hourly.csv', ['ts_utc,close_usd', ...m.btc.map((p, h) => `${isoMinute(btcFrom + h * HOUR)},${money(p)}`)]);
  write('btc_network_daily.csv', [
    'date_utc,difficulty,hashrate_th_per_s,blocks_mined,subsidy_btc_per_block,fees_btc_per_day,fees_btc_per_block,fees_source',
    ...m.days.map(({ t, network: n }) => {
      const hashrateThs = Math.round((n.difficulty * 2 ** 32) / 600 / 1e12);
      return `${isoMinute(t).slice(0, 10)},${n.difficulty},${hashrateThs},144,${n.subsidyBtc},${Math.round(n.feesPerBlockBtc * 144 * 1e8) / 1e8},${n.feesPerBlockBtc},scenario`;
    }),
  ]);
  const months: string[] = [];
  for (let d = new Date(btcFrom); d.getTime() < o.fromMs + o.days * DAY; d = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1))) months.push(isoMinute(d.getTime()).slice(0, 7));
  write('gpu_rental_price_monthly.csv', [
    'month,h100_usd_per_gpu_hour,h100_n_providers,h200_usd_per_gpu_hour,h200_n_providers,b200_usd_per_gpu_hour,b200_n_providers,a100_usd_per_gpu_hour,a100_n_providers',
    ...months.map((mo) => `${mo},${GPU_RATES.h100},1,,0,,0,${GPU_RATES.a100},1`),
  ]);
  copyFileSync(path.join(MARKET_DATA_DIR, 'btc_block_subsidy_schedule.csv'), path.join(dir, 'btc_block_subsidy_schedule.csv'));
  writeFileSync(
    path.join(dir, 'SCENARIO.md'),
    `# Scenario ${o.family}, seed ${o.seed}\n\n${SCENARIO_DESCRIPTIONS[o.family]}.\n\nSynthetic (simulators/market/scenarios.ts), ${o.days} days from ${isoMinute(o.fromMs).slice(0, 10)}; files in the format of simulators/market/data. GPU rates H100 $${GPU_RATES.h100}, A100 $${GPU_RATES.a100} per GPU-hour; no L40S.\n`,
  );
  return ['ercot_hb_west_north_rt_15min.csv', 'ercot_hubs_rt_hourly.csv', 'ercot_hubs_da_hourly.csv', 'btc_usd_hourly.csv', 'btc_network_daily.csv', 'gpu_rental_price_monthly.csv', 'btc_block_subsidy_schedule.csv', 'SCENARIO.md'];
};
