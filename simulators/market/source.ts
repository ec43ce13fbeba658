/**
 * One interface for every market source (real-history replay, seeded synthetic
 * market), and the pump that publishes a source's ticks as (possibly accelerated)
 * simulated time advances.
 *
 * A source is pulled by time range: it is a deterministic function of its
 * construction options and the range asked for, so a backtest pulls ranges
 * directly and a live run pulls the slice of simulated time that has elapsed
 * since its last poll. Time never comes from the source itself.
 */
import type { Clock } from '../../infra/clock.ts';
import { MARKET_NODES, NETWORK_FEED, dayAheadFeed, feedKey, gpuFeed, powerFeed, type MarketTick } from '../../domain/market/ticks.ts';

export type MarketSource = {
  /**
   * The ticks with `fromMs ≤ at < toMs` (epoch ms, half-open), ordered by time and,
   * at equal times, by a fixed feed order (network, btc-usd, power nodes, gpu types).
   * The same source options and range always give the same ticks, with the same ids,
   * whatever ranges were asked for before; adjacent ranges concatenate to the union.
   */
  ticksBetween(fromMs: number, toMs: number): MarketTick[];
  /**
   * The values in force at `atMs`: the latest tick of each feed with `at ≤ atMs`,
   * in the fixed feed order (feeds with no tick yet are absent). Lets a run that
   * starts mid-history know a monthly GPU rate or a daily difficulty at once.
   */
  inForceAt(atMs: number): MarketTick[];
};

export const tickTimeMs = (tick: MarketTick): number => Date.parse(tick.at);

/**
 * The fixed feed order for ticks at the same instant: network, btc-usd, gpu types, day-ahead
 * schedules, power nodes. Real-time power comes last because the economic controller decides
 * an interval when its node's first price of that interval arrives: everything else stamped
 * at that instant (the hour's BTC close, the day's network stats, the month's GPU rate) is then
 * known, as it is to the backtest.
 */
export const FEED_ORDER: readonly string[] = [
  NETWORK_FEED,
  'btc-usd',
  ...(['H100', 'A100', 'L40S'] as const).map(gpuFeed),
  ...MARKET_NODES.map(dayAheadFeed),
  ...MARKET_NODES.map(powerFeed),
];
export const feedRank = (tick: MarketTick): number => FEED_ORDER.indexOf(feedKey(tick));

/** Sleeps `ms`, resolving early (not rejecting) when the signal aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const timerSleep: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export type MarketFeedOptions = {
  source: MarketSource;
  /** Real (wall) time; simulated time = startMs + (real elapsed since the call) × speed. */
  clock: Clock;
  /** Simulated time at the start of the run (epoch ms). */
  startMs: number;
  /** Simulated ms per real ms, e.g. 3600 (an hour of market per second). Default 1. */
  speed?: number;
  /**
   * Called once per tick, in order; awaited, so a slow publisher slows the pump (no loss, no
   * reordering). If it throws, the run rejects with that error; the ticks before it were published.
   */
  publish: (tick: MarketTick) => void | Promise<void>;
  /** Stops the pump; it returns after the tick being published, without publishing more. */
  signal?: AbortSignal;
  /** Stop once every tick with `at ≤ untilMs` has been published. Default: run until aborted. */
  untilMs?: number;
  /** Real ms between polls. Default 100. */
  pollMs?: number;
  /** Largest simulated span pulled from the source at once while catching up. Default one hour. */
  maxSliceMs?: number;
  /**
   * Where publishing starts, if before `startMs`: the ticks from here to the simulated now are
   * published at once (a feed taken over by another process fills what its predecessor missed).
   */
  fromMs?: number;
  /** Before the first poll, publish `source.inForceAt(fromMs - 1)` (ticks older than where it starts). Default false. */
  prime?: boolean;
  /** Injectable timer, for tests. Default: setTimeout. */
  sleep?: Sleep;
};

export type MarketFeedResult = {
  published: number;
  /**
   * Every tick with `at < nextFromMs` has been published. To resume, start a new run at
   * nextFromMs; if the run was aborted mid-batch, ticks at exactly nextFromMs may be
   * delivered again, which their deterministic tick ids make harmless.
   */
  nextFromMs: number;
  reason: 'aborted' | 'until';
};

/** Simulated time for a real-time reading (whole ms, rounded down). */
export const simulatedNow = (startMs: number, realStartMs: number, realNowMs: number, speed: number): number =>
  startMs + Math.floor((realNowMs - realStartMs) * speed);

/**
 * Publishes the source's ticks in order as simulated time advances: on each poll,
 * every tick with `cursor ≤ at ≤ simulated now` (the first poll starts at startMs),
 * then sleeps. Resolves when aborted or when `untilMs` has been passed.
 */
export const runMarketFeed = async (opts: MarketFeedOptions): Promise<MarketFeedResult> => {
  const { source, clock, startMs, publish, signal } = opts;
  const speed = opts.speed ?? 1;
  const pollMs = opts.pollMs ?? 100;
  const maxSliceMs = opts.maxSliceMs ?? 3_600_000;
  const untilMs = opts.untilMs ?? Number.POSITIVE_INFINITY;
  const sleep = opts.sleep ?? timerSleep;
  if (!(speed > 0) || !Number.isFinite(speed)) throw new Error(`speed must be a positive number, got ${speed}`);
  if (!(pollMs > 0)) throw new Error(`pollMs must be > 0, got ${pollMs}`);
  if (!(maxSliceMs >= 1)) throw new Error(`maxSliceMs must be ≥ 1, got ${maxSliceMs}`);

  const realStartMs = clock.now().getTime();
  let cursor = Math.min(startMs, opts.fromMs ?? startMs);
  let published = 0;

  if (opts.prime) {
    for (const tick of source.inForceAt(cursor - 1)) {
      if (signal?.aborted) return { published, nextFromMs: cursor, reason: 'aborted' };
      await publish(tick);
      published++;
    }
  }

  for (;;) {
    if (signal?.aborted) return { published, nextFromMs: cursor, reason: 'aborted' };
    const now = Math.min(simulatedNow(startMs, realStartMs, clock.now().getTime(), speed), untilMs);
    while (cursor <= now) {
      const sliceEnd = Math.min(now + 1, cursor + maxSliceMs);
      for (const tick of source.ticksBetween(cursor, sliceEnd)) {
        if (signal?.aborted) return { published, nextFromMs: tickTimeMs(tick), reason: 'aborted' };
        await publish(tick);
        published++;
      }
      cursor = sliceEnd;
    }
    if (cursor > untilMs) return { published, nextFromMs: cursor, reason: 'until' };
    await sleep(pollMs, signal);
  }
};
