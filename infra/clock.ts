/** Time comes in through this port, so simulations and tests are deterministic. */
export type Clock = { now(): Date };

export const systemClock: Clock = { now: () => new Date() };

/** A clock that moves only when told to. */
export const manualClock = (start = new Date('2024-01-01T00:00:00Z')) => {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    advance(ms: number) {
      t += ms;
    },
  };
};

/**
 * The platform's clock on a market replay: simulated time, `speed` times as fast as the real
 * clock, from `startMs`. It stands still at `startMs` until started, so the market feed and the
 * platform start from the same instant.
 */
export const simulatedClock = ({ startMs, speed, real = systemClock }: { startMs: number; speed: number; real?: Clock }) => {
  let startedAt: number | undefined;
  return {
    now: () => new Date(startedAt === undefined ? startMs : startMs + (real.now().getTime() - startedAt) * speed),
    start() {
      startedAt ??= real.now().getTime();
    },
    startMs,
    speed,
  };
};

/** Waits `ms` of real time, or less when `signal` aborts first (a stopping process does not wait out its pauses). */
export const sleepUnlessAborted = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const aborted = () => (clearTimeout(t), resolve());
    // a pause that ends on time takes its listener away: a standby pausing every second must not pile them up on one signal
    const t = setTimeout(() => (signal.removeEventListener('abort', aborted), resolve()), ms);
    signal.addEventListener('abort', aborted, { once: true });
  });
