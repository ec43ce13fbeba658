/** `hcp scenario <family> --out DIR [--seed S] [--from YYYY-MM-DD] [--days N]`: write a stress market in the format of simulators/market/data. */
import { SCENARIO_DESCRIPTIONS, SCENARIO_FAMILIES, writeScenario, type ScenarioFamily } from '../simulators/market/scenarios.ts';

export const SCENARIO_USAGE = `usage: hcp scenario <${SCENARIO_FAMILIES.join('|')}> --out DIR [--seed 1] [--from 2023-01-01] [--days 365]`;

export const scenarioCommand = (argv: readonly string[]) => {
  const [family, ...rest] = argv;
  if (!family || !(SCENARIO_FAMILIES as readonly string[]).includes(family))
    throw new Error(`scenario: expected a family, one of:\n${SCENARIO_FAMILIES.map((f) => `  ${f.padEnd(13)} ${SCENARIO_DESCRIPTIONS[f]}`).join('\n')}\n${SCENARIO_USAGE}`);
  let out: string | undefined;
  let seed: string = '1';
  let fromMs: number | undefined;
  let days: number | undefined;
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i]!;
    const v = rest[++i];
    if (v === undefined) throw new Error(`${flag}: expected a value`);
    if (flag === '--out') out = v;
    else if (flag === '--seed') seed = v;
    else if (flag === '--from') {
      fromMs = /^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : NaN;
      if (Number.isNaN(fromMs)) throw new Error(`--from: expected a date YYYY-MM-DD, got ${JSON.stringify(v)}`);
    } else if (flag === '--days') {
      days = Number(v);
      if (!Number.isInteger(days) || days < 2 || days > 3660) throw new Error(`--days: expected a whole number of days, 2..3660, got ${JSON.stringify(v)}`);
    } else throw new Error(`unknown flag ${JSON.stringify(flag)}: ${SCENARIO_USAGE}`);
  }
  if (!out) throw new Error(`--out: expected the folder to write\n${SCENARIO_USAGE}`);
  const files = writeScenario(out, { family: family as ScenarioFamily, seed, ...(fromMs !== undefined ? { fromMs } : {}), ...(days !== undefined ? { days } : {}) });
  process.stdout.write(`${family} (seed ${seed}) written to ${out}: ${files.join(', ')}\nbacktest it: npx hcp backtest --data ${out}\n`);
};
