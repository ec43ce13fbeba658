/** One timed run: how much it did, how long it took, and the latency of each operation. */
export type Sample = { events: number; ops: number; seconds: number; latenciesMs: number[] };

/** Medians over the repetitions of each run's size, throughput and latency percentiles. */
export type Summary = { eventsPerRun: number; eventsPerSecond: number; opsPerSecond: number; p50Ms: number; p99Ms: number };

/** Nearest-rank quantile. */
export const quantile = (values: readonly number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
};

export const median = (values: readonly number[]) => quantile(values, 0.5);

export const summarize = (samples: readonly Sample[]): Summary => ({
  eventsPerRun: median(samples.map((s) => s.events)),
  eventsPerSecond: median(samples.map((s) => s.events / s.seconds)),
  opsPerSecond: median(samples.map((s) => s.ops / s.seconds)),
  p50Ms: median(samples.map((s) => quantile(s.latenciesMs, 0.5))),
  p99Ms: median(samples.map((s) => quantile(s.latenciesMs, 0.99))),
});

/** Runs `op` one call at a time until it has returned `events` events in all (or returns 0: nothing left). */
export const timeSequential = async (events: number, op: () => Promise<number>): Promise<Sample> => {
  const latenciesMs: number[] = [];
  let done = 0;
  const start = performance.now();
  while (done < events) {
    const t0 = performance.now();
    const n = await op();
    if (n === 0) break;
    latenciesMs.push(performance.now() - t0);
    done += n;
  }
  return { events: done, ops: latenciesMs.length, seconds: (performance.now() - start) / 1000, latenciesMs };
};
