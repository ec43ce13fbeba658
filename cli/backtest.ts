/** `hcp backtest`: the economic controller against its baselines and the hindsight optimum on a real market trace. */
import { parseBacktestArgs } from '../simulators/backtest/args.ts';
import { runBacktest } from '../simulators/backtest/backtest.ts';
import { formatBacktest } from '../simulators/backtest/report.ts';

/** A one-line progress bar on stderr, when stderr is a terminal. */
const progressBar = (stream: NodeJS.WriteStream) => {
  let last = -1;
  return (fraction: number) => {
    if (!stream.isTTY) return;
    const percent = Math.floor(fraction * 100);
    if (percent === last) return;
    last = percent;
    const width = 30;
    const filled = Math.round((percent / 100) * width);
    stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(percent).padStart(3)} %`);
  };
};

export const backtestCommand = (argv: readonly string[]) => {
  const { options, json } = parseBacktestArgs(argv);
  const started = performance.now();
  const result = runBacktest({ ...options, ...(json ? {} : { onProgress: progressBar(process.stderr) }) });
  if (!json && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    json
      ? `${JSON.stringify(
          {
            ...result,
            controllerShareOfOptimumPercent: result.strategies.find((s) => s.strategy === 'controller')?.shareOfOptimumPct ?? null,
            runtimeSeconds: seconds,
          },
          null,
          2,
        )}\n`
      : `${formatBacktest(result)}\nruntime: ${seconds.toFixed(1)} s\n`,
  );
};
