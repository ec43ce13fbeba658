/**
 * Recomputes the synthetic market's calibration numbers from the real data in ./data,
 * so the constants in synthetic.ts cannot drift from what their comments claim.
 */
import { describe, expect, it } from 'vitest';
import { MARKET_NODES } from '../../domain/market/ticks.ts';
import { btcNetworkDaily, btcUsdHourly, ercotRealTimeHourly, gpuRentalMonthly, parseUtc, valueAt, type Point } from './history.ts';
import { CALIBRATION, DEFAULT_START, HALVING_INTERVAL_BLOCKS, subsidySchedule } from './synthetic.ts';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};
const quantile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))]!;
const ar1 = (x: number[], y: number[]) => {
  const [mx, my] = [mean(x), mean(y)];
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
  }
  return sxy / sxx;
};
const logReturns = (s: Point[], from: number, to: number) => {
  const r: number[] = [];
  for (let i = 1; i < s.length; i++) if (s[i]!.t > from && s[i]!.t <= to) r.push(Math.log(s[i]!.value / s[i - 1]!.value));
  return r;
};

describe('synthetic market calibration (recomputed from ./data)', () => {
  it('BTC: hourly volatility and the bull/bear regimes', () => {
    const btc = btcUsdHourly();
    const all = logReturns(btc, -Infinity, Infinity);
    expect(all).toHaveLength(29_482);
    expect(sd(all)).toBeCloseTo(CALIBRATION.btc.hourlyLogReturnSd, 5);
    const cuts = ['2022-01-01T00:00Z', '2022-11-21T21:00Z', '2024-03-14T06:00Z', '2024-08-05T12:00Z', '2024-12-17T14:00Z', '2025-04-07T06:00Z', '2025-05-13T11:00Z'].map(parseUtc);
    const pooled = { bear: [] as number[], bull: [] as number[] };
    const dwell = { bear: [] as number[], bull: [] as number[] };
    for (let s = 0; s < cuts.length - 1; s++) {
      const kind = s % 2 === 0 ? 'bear' : 'bull';
      pooled[kind].push(...logReturns(btc, cuts[s]!, cuts[s + 1]!));
      if (s < cuts.length - 2) dwell[kind].push((cuts[s + 1]! - cuts[s]!) / 86_400_000);
    }
    for (const kind of ['bull', 'bear'] as const) {
      const c = CALIBRATION.btc.regimes[kind];
      expect(mean(pooled[kind]) * 8760).toBeCloseTo(c.driftPerYear, 2);
      expect(sd(pooled[kind]) * Math.sqrt(8760)).toBeCloseTo(c.volPerYear, 3);
      expect(Math.round(mean(dwell[kind]))).toBe(c.meanDwellDays);
    }
    // the cut points are the extremes the comment names
    expect(valueAt(btc, parseUtc('2022-11-21T21:00Z'))).toBe(15_631.36);
    expect(valueAt(btc, parseUtc('2024-12-17T14:00Z'))).toBe(108_272.5);
  });

  it('ERCOT: level, time-of-day and month shapes, noise, basis and spikes', () => {
    const P = CALIBRATION.power;
    const hub = ercotRealTimeHourly('HB_HUBAVG');
    const v = hub.map((p) => p.value);
    const med = quantile(v, 0.5);
    expect(med).toBe(P.hubMedianUsdPerMwh);
    const by = (key: (d: Date) => number, n: number) => {
      const groups = Array.from({ length: n }, () => [] as number[]);
      for (const p of hub) groups[key(new Date(p.t))]!.push(p.value);
      return groups.map((g) => quantile(g, 0.5) / med);
    };
    by((d) => d.getUTCHours(), 24).forEach((x, h) => expect(x).toBeCloseTo(P.hourShape[h]!, 3));
    by((d) => d.getUTCMonth(), 12).forEach((x, m) => expect(x).toBeCloseTo(P.monthShape[m]!, 3));

    // log-OU of the non-spike deviation from the shaped median
    const hourS = by((d) => d.getUTCHours(), 24);
    const monthS = by((d) => d.getUTCMonth(), 12);
    const y = hub.map((p) => {
      const d = new Date(p.t);
      return p.value > 1 && p.value < 200 ? Math.log(p.value / (med * hourS[d.getUTCHours()]! * monthS[d.getUTCMonth()]!)) : NaN;
    });
    const [a, b] = [[] as number[], [] as number[]];
    for (let i = 1; i < y.length; i++) if (!Number.isNaN(y[i]!) && !Number.isNaN(y[i - 1]!)) (a.push(y[i - 1]!), b.push(y[i]!));
    expect(-Math.log(ar1(a, b))).toBeCloseTo(P.logOu.kappaPerHour, 3);
    expect(sd(a)).toBeCloseTo(P.logOu.sd, 3);

    // basis of each node against the hub average, non-spike hours
    for (const node of MARKET_NODES.filter((n) => n !== 'HB_HUBAVG')) {
      const d = ercotRealTimeHourly(node)
        .map((p, i) => p.value - hub[i]!.value)
        .filter((_, i) => hub[i]!.value < 200);
      const [p5, p95] = [quantile(d, 0.05), quantile(d, 0.95)];
      expect((p5 + p95) / 2).toBeCloseTo(P.basis[node].mean, 1);
      expect((p95 - p5) / 3.29).toBeCloseTo(P.basis[node].sd, 1);
      expect(-Math.log(ar1(d.slice(0, -1), d.slice(1)))).toBeCloseTo(P.basis[node].kappaPerHour, 2);
    }

    // spikes: runs of hours above $200
    const S = P.spikes;
    const byMonth = Array(12).fill(0);
    const byHour = Array(24).fill(0);
    const runs: number[] = [];
    const levels: number[] = [];
    let run = 0;
    for (const p of hub) {
      if (p.value > S.thresholdUsd) {
        levels.push(Math.log(p.value));
        if (run === 0) {
          byMonth[new Date(p.t).getUTCMonth()]++;
          byHour[new Date(p.t).getUTCHours()]++;
        }
        run++;
      } else if (run > 0) {
        runs.push(run);
        run = 0;
      }
    }
    expect(hub).toHaveLength(S.hours);
    expect(runs).toHaveLength(S.onsets);
    expect(byMonth).toEqual(S.onsetsByMonth);
    expect(byHour).toEqual(S.onsetsByUtcHour);
    expect(mean(runs)).toBeCloseTo(S.meanDurationHours, 2);
    expect(mean(levels)).toBeCloseTo(S.logMean, 3);
    expect(sd(levels)).toBeCloseTo(S.logSd, 3);
    expect(Math.max(...ercotRealTimeHourly('HB_WEST').map((p) => p.value))).toBe(5257.58);
  });

  it('network: fees, the hashrate fit and the 2024-01-01 anchors', () => {
    const net = btcNetworkDaily();
    const F = CALIBRATION.network.fees;
    const fees = net.filter((d) => d.t >= parseUtc('2023-01-01') && d.t < parseUtc('2025-01-01') && d.feesPerBlockBtc !== undefined).map((d) => Math.log(d.feesPerBlockBtc!));
    expect(Math.exp(mean(fees))).toBeCloseTo(F.medianBtc, 3);
    expect(sd(fees)).toBeCloseTo(F.logSd, 2);
    const daily = net.filter((d) => d.t >= parseUtc('2023-04-30') && d.t < parseUtc('2024-04-28')).map((d) => Math.log(d.feesPerBlockBtc!));
    expect(-Math.log(ar1(daily.slice(0, -1), daily.slice(1)))).toBeCloseTo(F.kappaPerDay, 3);

    // OLS: log(14-day mean hashrate) = a + b·log(7-day mean price × subsidy) + g·years, from 2022-03-01
    const btc = btcUsdHourly();
    const rows: [number, number, number][] = [];
    net.forEach((d, i) => {
      if (d.t < parseUtc('2022-03-01')) return;
      const w = net.slice(Math.max(0, i - 13), i + 1);
      let lp = 0;
      for (let k = 0; k < 7; k++) lp += Math.log(valueAt(btc, d.t - k * 86_400_000)!) / 7;
      rows.push([mean(w.map((x) => Math.log(x.hashrateThs))), lp + Math.log(d.subsidyBtc), (d.t - parseUtc('2023-01-01')) / (365.25 * 86_400_000)]);
    });
    // normal equations, 3×3, Gauss–Jordan
    const M = [0, 1, 2].map((r) => [0, 0, 0, 0]);
    for (const [yv, x1, x2] of rows) {
      const x = [1, x1, x2];
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < 3; c++) M[r]![c]! += x[r]! * x[c]!;
        M[r]![3]! += x[r]! * yv;
      }
    }
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++)
        if (j !== i) {
          const f = M[j]![i]! / M[i]![i]!;
          for (let k = 0; k < 4; k++) M[j]![k]! -= f * M[i]![k]!;
        }
    const beta = M.map((r, i) => r[3]! / r[i]!);
    expect(beta[1]).toBeCloseTo(CALIBRATION.network.hashrate.revenueElasticity, 3);
    expect(beta[2]).toBeCloseTo(CALIBRATION.network.hashrate.trendPerYear, 3);

    // the default start: height, difficulty, price
    const blocks = net.filter((d) => d.t >= parseUtc('2024-01-01') && d.t < parseUtc('2024-04-20')).reduce((s, d) => s + d.blocksMined, 0);
    expect(840_000 - blocks - 1).toBe(DEFAULT_START.height);
    expect(net.find((d) => d.t === parseUtc('2024-01-01'))?.difficulty).toBe(DEFAULT_START.difficulty);
    expect(valueAt(btc, parseUtc('2023-12-31T23:00Z'))).toBe(DEFAULT_START.btcUsd);
    // the subsidy file is the consensus rule
    for (const e of subsidySchedule()) expect(e.subsidySats).toBe(Math.floor(5_000_000_000 / 2 ** (e.startHeight / HALVING_INTERVAL_BLOCKS)));
  });

  it('GPU: month-to-month volatility and the 2024-01 starting rates', () => {
    const g = gpuRentalMonthly();
    for (const k of ['h100', 'a100'] as const) {
      const ch: number[] = [];
      for (let i = 1; i < g.length; i++) {
        const [a, b] = [g[i - 1]![k], g[i]![k]];
        if (a !== undefined && b !== undefined) ch.push(Math.log(b / a));
      }
      expect(ch).toHaveLength(32);
      expect(sd(ch)).toBeCloseTo(CALIBRATION.gpu[k === 'h100' ? 'H100' : 'A100'].monthlyLogVol, 4);
    }
    const jan = g.find((m) => m.t === parseUtc('2024-01-01'))!;
    expect([jan.h100, jan.a100]).toEqual([CALIBRATION.gpu.H100.initial, CALIBRATION.gpu.A100.initial]);
  });
});
