/** `hcp backtest`'s flags, refused by name when bad. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SEED_SCENARIO } from '../../domain/fleet/inventory.ts';
import { MARKET_NODES } from '../../domain/market/ticks.ts';
import { GPU_TYPES, type GpuType } from '../../domain/workload/request.ts';
import { ANALYSIS_STRATEGIES, STRATEGIES, type BacktestOptions, type StrategyName } from './backtest.ts';

export type ParsedBacktestArgs = { options: BacktestOptions; json: boolean };

/** Parse `hcp backtest` flags. Throws an Error naming the flag on bad input. */
export const parseBacktestArgs = (argv: readonly string[]): ParsedBacktestArgs => {
  const options: BacktestOptions = {};
  let json = false;
  const num = (flag: string, v: string | undefined, ok: (x: number) => boolean, what: string) => {
    const x = Number(v);
    if (v === undefined || v.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new Error(`${flag}: expected ${what}, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
    return x;
  };
  const date = (flag: string, v: string | undefined) => {
    const t = v && /^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : NaN;
    if (Number.isNaN(t)) throw new Error(`${flag}: expected a date YYYY-MM-DD, got ${JSON.stringify(v ?? '')}`);
    return t;
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf('=');
    const flag = raw.startsWith('--') && eq > 0 ? raw.slice(0, eq) : raw;
    const inline = raw.startsWith('--') && eq > 0 ? raw.slice(eq + 1) : undefined;
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--json':
        json = true;
        break;
      case '--year':
        options.year = num(flag, value(), (x) => Number.isInteger(x) && x >= 2000 && x <= 2100, 'a year, e.g. 2023 (the built-in data holds 2023 and 2024)');
        break;
      case '--data': {
        const v = value();
        if (!v || !existsSync(path.join(v, 'ercot_hb_west_north_rt_15min.csv')))
          throw new Error(`--data: expected a folder of market files in the format of simulators/market/data (at least ercot_hb_west_north_rt_15min.csv), got ${JSON.stringify(v ?? '')}`);
        options.dataDir = v;
        break;
      }
      case '--from':
        options.fromMs = date(flag, value());
        break;
      case '--to':
        options.toMs = date(flag, value());
        break;
      case '--node': {
        const v = value()?.toUpperCase();
        if (v !== 'HB_WEST' && v !== 'HB_NORTH')
          throw new Error(`--node: expected HB_WEST or HB_NORTH (the nodes with 15-minute prices)${v && (MARKET_NODES as readonly string[]).includes(v) ? `; ${v} has hourly prices only` : ''}, got ${JSON.stringify(v ?? '')}`);
        options.node = v;
        break;
      }
      case '--facility': {
        const v = value();
        if (!SEED_SCENARIO.some((f) => f.facilityId === v)) throw new Error(`--facility: expected one of ${SEED_SCENARIO.map((f) => f.facilityId).join(', ')}, got ${JSON.stringify(v ?? '')}`);
        options.facility = v!;
        break;
      }
      case '--switch-cost':
        options.switchCostUsdPerMw = num(flag, value(), (x) => x >= 0 && x <= 100_000, 'USD per MW switched, ≥ 0');
        break;
      case '--gpu-switch-seconds':
        options.gpuSwitchSeconds = num(flag, value(), (x) => x >= 0 && x <= 3600, 'seconds, 0..3600');
        break;
      case '--min-dwell':
        options.minDwellMinutes = num(flag, value(), (x) => x >= 15 && x % 15 === 0 && x <= 24 * 60, 'minutes, a multiple of 15 up to 1440');
        break;
      case '--horizon':
        options.horizonIntervals = num(flag, value(), (x) => Number.isInteger(x) && x >= 1 && x <= 96, 'a number of 15-minute intervals, 1..96');
        break;
      case '--pool-fee':
        options.poolFee = num(flag, value(), (x) => x >= 0 && x < 0.2, 'a fraction, e.g. 0.025');
        break;
      case '--gpu-utilization':
        options.gpuUtilization = num(flag, value(), (x) => x >= 0 && x <= 1, 'a fraction 0..1');
        break;
      case '--gpu-shares': {
        const v = value();
        const parts = (v ?? '').split(',').map(Number);
        if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x) || x < 0) || Math.abs(parts[0]! + parts[1]! + parts[2]! - 1) > 1e-9)
          throw new Error(`--gpu-shares: expected P1,P2,P3 fractions summing to 1 (e.g. 0.4,0.3,0.3), got ${JSON.stringify(v ?? '')}`);
        options.gpuDemandShares = { P1: parts[0]!, P2: parts[1]!, P3: parts[2]! };
        break;
      }
      case '--gpu-rate': {
        const v = value();
        const m = /^(H100|A100|L40S)=(\d+(?:\.\d+)?)$/i.exec(v ?? '');
        if (!m) throw new Error(`--gpu-rate: expected TYPE=USD per GPU-hour, e.g. L40S=1.96, got ${JSON.stringify(v ?? '')}`);
        options.gpuRates = { ...options.gpuRates, [m[1]!.toUpperCase() as GpuType]: Number(m[2]) };
        break;
      }
      case '--anchor': {
        const v = value();
        if (v !== 'last' && v !== 'day-ahead') throw new Error(`--anchor: expected last or day-ahead, got ${JSON.stringify(v ?? '')}`);
        options.forecastAnchor = v;
        break;
      }
      case '--swing':
        options.forecastSwing = true;
        break;
      case '--budget-kw':
        options.budgetKw = num(flag, value(), (x) => x > 0, 'kW, > 0');
        break;
      case '--block-units':
        options.asicBlockUnits = num(flag, value(), (x) => Number.isInteger(x) && x >= 1, 'a positive integer');
        break;
      case '--warm-up-days':
        options.forecasterWarmUpDays = num(flag, value(), (x) => Number.isInteger(x) && x >= 0 && x <= 3650, 'days, 0..3650');
        break;
      case '--strategies': {
        const v = value();
        const names = (v ?? '').split(',').filter(Boolean);
        const known: readonly string[] = [...STRATEGIES, ...ANALYSIS_STRATEGIES];
        const bad = names.filter((x) => !known.includes(x));
        if (names.length === 0 || bad.length) throw new Error(`--strategies: expected a comma list of ${known.join(', ')}, got ${JSON.stringify(v ?? '')}`);
        options.strategies = names as StrategyName[];
        break;
      }
      default:
        throw new Error(`unknown flag ${JSON.stringify(raw)}: known flags are --data --year --from --to --node --facility --switch-cost --gpu-switch-seconds --min-dwell --horizon --pool-fee --gpu-utilization --gpu-shares --gpu-rate --anchor --swing --budget-kw --block-units --warm-up-days --strategies --json`);
    }
  }
  if ((options.fromMs === undefined) !== (options.toMs === undefined)) throw new Error('--from and --to go together');
  if (options.fromMs !== undefined && options.toMs! <= options.fromMs) throw new Error('--to must be after --from');
  return { options, json };
};
