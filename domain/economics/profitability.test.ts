import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  asicProfitUsdPerHour,
  expectedBlocksPerHour,
  gpuProfitUsdPerHour,
  gpuYieldPriceUsdPerMwh,
  hashpriceUsdPerThDay,
  strikePriceUsdPerMwh,
  toMicroUsd,
} from './profitability.ts';

/*
 * Hand computations from the real data in simulators/market/data:
 *
 * 2024-06-11 (btc_network_daily.csv): difficulty 83,716,654,861,185, subsidy 3.125 BTC,
 * fees 0.36038 BTC/block (fees_source sample4d); BTC close 2024-06-11T12:00Z hour
 * (btc_usd_hourly.csv) $66,989.82; HB_WEST 12:00Z 15-minute price $31.76/MWh.
 *   difficulty × 2^32        = 83,716,654,861,185 × 4,294,967,296 = 3.595603e23 hashes per block
 *   blocks per TH/s per day  = 1e12 × 86,400 / 3.595603e23            = 2.402935e-7
 *   BTC per TH/s per day     = 2.402935e-7 × (3.125 + 0.36038)        = 8.375355e-7
 *   USD per TH/s per day     = 8.375355e-7 × 66,989.82                = 0.0561063
 *   after the 2.5 % pool fee = 0.0561063 × 0.975                      = 0.0547023  ← hashprice, in $0.04–0.06
 *   S21 revenue/h            = 200 × 0.0547023 / 24                   = $0.455852
 *   S21 power cost/h         = 3.5 kW × $31.76/MWh / 1000              = $0.111160
 *   S21 profit/h             = $0.344692 → 344,692 micro-USD
 *   S21 strike               = 0.455852 / (3.5 − 0.025 kW) × 1000      = $131.18/MWh
 *
 * 2023-08-17: difficulty 52,391,178,981,379, subsidy 6.25, fees 0.12141 (daily); BTC close
 * 19:00Z $27,856.50; HB_WEST 20:30Z $4,762.47/MWh (a scarcity interval).
 *   blocks per TH/s per day  = 8.64e16 / (52,391,178,981,379 × 2^32)   = 3.839686e-7
 *   hashprice                = 3.839686e-7 × 6.37141 × 27,856.50 × 0.975 = $0.066445/TH/day
 *   strike S21 = 200 × 0.066445 / 24 / 3.475 × 1000 = $159.34/MWh
 *   strike S19 XP = 140 × 0.066445 / 24 / 2.985 × 1000 = $129.85/MWh (less efficient: sheds first)
 */
const june2024 = { difficulty: 83_716_654_861_185, subsidyBtc: 3.125, feesPerBlockBtc: 0.36038 };
const aug2023 = { difficulty: 52_391_178_981_379, subsidyBtc: 6.25, feesPerBlockBtc: 0.12141 };

describe('mining profitability (real data points, computed by hand)', () => {
  it('2024-06-11: hashprice $0.0547/TH/day, inside the $0.04–0.06 docs/design.md §7 cites for 2024–2025', () => {
    expect(expectedBlocksPerHour(1, june2024.difficulty) * 24).toBeCloseTo(2.402935e-7, 12);
    const hp = hashpriceUsdPerThDay(june2024, 66_989.82);
    expect(hp).toBeCloseTo(0.0547023, 6);
    expect(hp).toBeGreaterThan(0.04);
    expect(hp).toBeLessThan(0.06);
  });

  it('2024-06-11 12:00Z at HB_WEST $31.76/MWh: an S21 earns $0.4559/h and nets $0.3447/h; strike $131.18/MWh', () => {
    const p = asicProfitUsdPerHour('S21', { network: june2024, btcUsd: 66_989.82, electricityUsdPerMwh: 31.76 });
    expect(p.revenue).toBeCloseTo(0.455852, 6);
    expect(toMicroUsd(p.mining)).toBe(344_692);
    expect(p.sleeping).toBeCloseTo(-0.000794, 9); // 25 W asleep
    expect(strikePriceUsdPerMwh('S21', june2024, 66_989.82)).toBeCloseTo(131.18, 2);
  });

  it('2023-08-17: strikes S21 $159.34 > M60S > S19 XP $129.85/MWh; at $4,762/MWh mining loses $16/h per S21', () => {
    expect(hashpriceUsdPerThDay(aug2023, 27_856.5)).toBeCloseTo(0.066445, 6);
    const s21 = strikePriceUsdPerMwh('S21', aug2023, 27_856.5);
    const m60 = strikePriceUsdPerMwh('M60S', aug2023, 27_856.5);
    const s19 = strikePriceUsdPerMwh('S19XP', aug2023, 27_856.5);
    expect(s21).toBeCloseTo(159.34, 2);
    expect(s19).toBeCloseTo(129.85, 2);
    expect(s21).toBeGreaterThan(m60);
    expect(m60).toBeGreaterThan(s19);
    const p = asicProfitUsdPerHour('S21', { network: aug2023, btcUsd: 27_856.5, electricityUsdPerMwh: 4_762.47 });
    expect(p.mining).toBeCloseTo(-16.114937, 5);
    expect(p.sleeping).toBeGreaterThan(p.mining);
  });

  it('GPU: an H100 at $3.38/h and 70 % utilization should pause above $3,755.56/MWh (2.366 / 0.63 kW)', () => {
    expect(gpuYieldPriceUsdPerMwh('H100', 3.38, 0.7)).toBeCloseTo(3_755.56, 2);
    const p = gpuProfitUsdPerHour('H100', 3.38, 0.7, 4_762.47);
    expect(p.revenue).toBeCloseTo(2.366, 9);
    expect(p.serving).toBeCloseTo(2.366 - 0.7 * 4.76247, 9);
    expect(p.idle).toBeGreaterThan(p.serving);
  });

  it('at the strike price mining and sleeping earn the same (any market)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e13, max: 2e14, noNaN: true }),
        fc.double({ min: 0, max: 5, noNaN: true }),
        fc.double({ min: 1_000, max: 200_000, noNaN: true }),
        fc.constantFrom('S21' as const, 'S19XP' as const, 'M60S' as const),
        (difficulty, fees, btcUsd, model) => {
          const network = { difficulty, subsidyBtc: 3.125, feesPerBlockBtc: fees };
          const strike = strikePriceUsdPerMwh(model, network, btcUsd);
          const p = asicProfitUsdPerHour(model, { network, btcUsd, electricityUsdPerMwh: strike });
          expect(Math.abs(p.mining - p.sleeping)).toBeLessThan(1e-9 * Math.max(1, p.revenue));
        },
      ),
    );
  });

  it('money leaves as integer micro-USD, rounded half away from zero, no -0', () => {
    expect(toMicroUsd(0.0000005)).toBe(1);
    expect(toMicroUsd(-0.0000005)).toBe(-1);
    expect(Object.is(toMicroUsd(-0.0000001), 0)).toBe(true);
    expect(toMicroUsd(12.3456784)).toBe(12_345_678);
    expect(() => toMicroUsd(Number.NaN)).toThrow(RangeError);
    expect(() => toMicroUsd(1e13)).toThrow(RangeError);
  });
});
