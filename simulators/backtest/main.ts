/**
 * Run the backtest from a shell until `npx hcp backtest` is wired:
 *   npx tsx simulators/backtest/main.ts --year 2023 --facility north-dakota [--json]
 */
import { formatBacktest, parseBacktestArgs, runBacktest } from './backtest.ts';

const { options, json } = parseBacktestArgs(process.argv.slice(2));
const started = performance.now();
const result = runBacktest({
  ...options,
  onProgress: (f) => {
    if (!json && process.stderr.isTTY) process.stderr.write(`\r${(f * 100).toFixed(0).padStart(3)} %`);
  },
});
if (!json && process.stderr.isTTY) process.stderr.write('\r');
const seconds = (performance.now() - started) / 1000;
process.stdout.write(json ? `${JSON.stringify({ ...result, runtimeSeconds: seconds }, null, 2)}\n` : `${formatBacktest(result)}\nruntime: ${seconds.toFixed(1)} s\n`);
