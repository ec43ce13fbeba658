/** The backtest's result as a text table, for people (`hcp backtest` without --json). */
import { formatUsd } from '../../domain/money.ts';
import type { BacktestResult } from './backtest.ts';

const money = (usd: number) => {
  const s = formatUsd(Math.round(usd * 1e6)).replace(/\.\d+$/, '');
  const neg = s.startsWith('-');
  const digits = neg ? s.slice(1) : s;
  return `${neg ? '-' : ''}$${digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}`;
};

/** A text table of the result, for people. */
export const formatBacktest = (res: BacktestResult): string => {
  const lines: string[] = [];
  const f = res.facility;
  lines.push(`Backtest: ${f.name} (${f.facilityId}), ${f.asicUnits.toLocaleString('en-US')} ASICs and ${f.gpus} GPUs in ${f.blocks} blocks, budget ${f.powerBudgetKw.toLocaleString('en-US')} kW`);
  lines.push(`Trace: ERCOT ${res.trace.node} real-time 15-min, ${res.trace.from} to ${res.trace.to}, ${res.trace.intervals.toLocaleString('en-US')} intervals`);
  const s = res.settings;
  lines.push(
    `Switching: $${s.switchCostUsdPerMw}/MW per ASIC switch, ${s.gpuSwitchSeconds} s of GPU revenue per pause/resume; min dwell ${s.minDwellMinutes} min; look-ahead ${s.horizonIntervals} × 15 min; pool fee ${(s.poolFee * 100).toFixed(1)} %; GPU utilization ${s.gpuUtilization}, tiers P1/P2/P3 ${s.gpuDemandShares.P1}/${s.gpuDemandShares.P2}/${s.gpuDemandShares.P3}`,
  );
  lines.push('');
  const header = ['strategy', 'net profit', 'ASIC', 'GPU', 'switch cost', 'switches', 'events', '% of optimum'];
  const rows = res.strategies.map((x) => [
    x.label,
    money(x.netProfitUsd),
    money(x.asicProfitUsd),
    money(x.gpuProfitUsd),
    money(x.switchingCostUsd),
    x.blockSwitches.toLocaleString('en-US'),
    x.switchEvents.toLocaleString('en-US'),
    x.shareOfOptimumPct === null ? 'n/a' : `${x.shareOfOptimumPct.toFixed(3)} %`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  lines.push(fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt));
  lines.push('');
  if (res.budgetCanBind) lines.push('The power budget can bind: the optimum is the per-block DP without the budget, an upper bound that may not be attainable.');
  for (const n of [...res.trace.notes, ...f.leftOut.map((x) => `left out: ${x}`)]) lines.push(`note: ${n}`);
  return lines.join('\n');
};
