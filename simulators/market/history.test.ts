import { describe, expect, it } from 'vitest';
import { btcNetworkDaily, btcUsdHourly, ercotDayAheadHourly, ercotRealTime15Min, ercotRealTimeHourly, gpuRentalMonthly, parseUtc, valueAt } from './history.ts';

describe('market history (real data)', () => {
  it('loads every series with the row counts and anchors PROVENANCE.md gives', () => {
    expect(btcUsdHourly()).toHaveLength(29_483);
    expect(ercotRealTimeHourly('HB_WEST')).toHaveLength(17_544);
    expect(ercotDayAheadHourly('HB_WEST')).toHaveLength(17_544 - 1_202);
    expect(ercotRealTime15Min('HB_WEST')).toHaveLength(65_350);
    expect(btcNetworkDaily()).toHaveLength(1_824);
    // the 2023-09-07T00Z West scarcity hour and the halving-day difficulty
    expect(valueAt(ercotRealTimeHourly('HB_WEST'), parseUtc('2023-09-07T00:00Z'))).toBe(5257.58);
    const halving = btcNetworkDaily().find((d) => d.t === parseUtc('2024-04-20'));
    expect(halving?.difficulty).toBe(86_388_558_925_171);
    expect(gpuRentalMonthly().find((m) => m.t === parseUtc('2024-02-01'))?.h100).toBe(4.84);
  });

  it('answers the value in force at a time', () => {
    const s = [{ t: 10, value: 1 }, { t: 20, value: 2 }];
    expect(valueAt(s, 5)).toBeUndefined();
    expect(valueAt(s, 10)).toBe(1);
    expect(valueAt(s, 19)).toBe(1);
    expect(valueAt(s, 25)).toBe(2);
  });
});
