import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBacktest, type StrategyResult } from '../backtest/backtest.ts';
import { buildTrace } from '../backtest/trace.ts';
import { SCENARIO_FAMILIES, writeScenario, type ScenarioFamily } from './scenarios.ts';

const root = mkdtempSync(path.join(tmpdir(), 'hcp-scenarios-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The month CI runs a family over: spiky-summer in July, when its spikes come; the others from January. */
const startOf = (family: ScenarioFamily) => Date.UTC(2023, family === 'spiky-summer' ? 6 : 0, 1);

/** One month of a family, seed 1 unless told, written to its own folder. */
const month = (family: ScenarioFamily, seed: number | string = 1, dir = path.join(root, `${family}-${seed}`)) => {
  writeScenario(dir, { family, seed, days: 30, fromMs: startOf(family) });
  return dir;
};

describe('stress markets in the market-data format', () => {
  it('are the same bytes for the same seed, differ for another, and read back as a backtest trace', () => {
    for (const family of SCENARIO_FAMILIES) {
      const a = month(family);
      const b = month(family, 1, path.join(root, `${family}-again`));
      const rt = (dir: string) => readFileSync(path.join(dir, 'ercot_hb_west_north_rt_15min.csv'), 'utf8');
      expect(rt(b)).toBe(rt(a));
      expect(rt(month(family, 2))).not.toBe(rt(a));
      const trace = buildTrace({ node: 'HB_WEST', fromMs: startOf(family), toMs: startOf(family) + 30 * 86_400_000, dataDir: a });
      expect(trace.intervals).toHaveLength(30 * 96);
      expect(trace.intervals.every((iv) => Number.isFinite(iv.rtUsdPerMwh) && iv.btcUsd > 0 && iv.gpuUsdPerHour.H100 === 2.5)).toBe(true);
      const withDa = trace.intervals.filter((iv) => iv.daUsdPerMwh !== null).length;
      expect(withDa).toBe(family === 'da-missing' ? 0 : 30 * 96);
    }
  });

  const backtest = (family: ScenarioFamily, facility = 'north-dakota') => {
    const r = runBacktest({ dataDir: month(family), facility, forecasterWarmUpDays: 0 });
    return Object.fromEntries(r.strategies.map((s) => [s.strategy, s])) as Record<StrategyResult['strategy'], StrategyResult>;
  };

  it('flat cheap power: no switch at all', () => {
    const by = backtest('flat-cheap', 'texas-north');
    expect(by.controller.blockSwitches).toBe(0);
    expect(by.controller.netProfitUsd).toBe(by.optimum.netProfitUsd);
  });

  it('a price flipping around the strike: the adaptive controller profits, switches at most twice as often as the optimum, beats the unadapted one and loses nothing to mining only', () => {
    const by = backtest('alternating');
    expect(by.controller.netProfitUsd).toBeGreaterThan(0);
    expect(by.controller.netProfitUsd).toBeGreaterThanOrEqual(by['mining-only'].netProfitUsd);
    expect(by.controller.blockSwitches).toBeLessThanOrEqual(2 * by.optimum.blockSwitches);
    expect(by.controller.netProfitUsd).toBeGreaterThan(by['controller-fixed'].netProfitUsd + 50_000);
    expect(by.controller.netProfitUsd).toBeGreaterThan(by.reactive.netProfitUsd);
    expect(by.controller.netProfitUsd).toBeGreaterThan(by['controller-persistence'].netProfitUsd);
  });

  it.each(['random-walk', 'btc-crash', 'halving', 'da-biased', 'da-missing'] as const)('%s: the adaptive controller beats the reactive rule and mining only', (family) => {
    const by = backtest(family);
    expect(by.controller.netProfitUsd).toBeGreaterThanOrEqual(by.reactive.netProfitUsd);
    expect(by.controller.netProfitUsd).toBeGreaterThanOrEqual(by['mining-only'].netProfitUsd);
  });

  it('unannounced summer spikes: the controller beats mining only and its unadapted self (the reactive rule and DA + persistence still beat it here: simulators/backtest/README.md)', () => {
    const by = backtest('spiky-summer');
    expect(by.controller.netProfitUsd).toBeGreaterThan(by['mining-only'].netProfitUsd);
    expect(by.controller.netProfitUsd).toBeGreaterThan(by['controller-fixed'].netProfitUsd);
    expect(by.controller.shareOfOptimumPct!).toBeGreaterThan(90);
  });
});
