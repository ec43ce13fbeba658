import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../infra/clock.ts';
import type { MarketTick } from '../../domain/market/ticks.ts';
import { createReplaySource } from './replay.ts';
import { runMarketFeed, simulatedNow, timerSleep, tickTimeMs, type MarketSource, type Sleep } from './source.ts';
import { createSyntheticSource, DEFAULT_START } from './synthetic.ts';

const HOUR = 3_600_000;
const start = DEFAULT_START.ms;
/** A fresh synthetic source: 1-second BTC, 5-minute power, 1-minute GPU, every block. */
const synthetic = () => createSyntheticSource({ seed: 'pump' });
const realStart = new Date('2030-06-01T12:00:00Z');

/** A fake timer that moves the manual clock by each sleep and aborts after `polls` sleeps. */
const fakeTimers = (polls: number, advance: (i: number, ms: number) => number = (_i, ms) => ms) => {
  const clock = manualClock(realStart);
  const ac = new AbortController();
  let n = 0;
  const sleep: Sleep = async (ms) => {
    clock.advance(advance(n, ms));
    if (++n === polls) ac.abort();
  };
  return { clock, ac, sleep, sleeps: () => n };
};

describe('market feed pump', () => {
  it('publishes exactly the ticks in [start, simulated now] in order at 3600×, and stops when aborted', async () => {
    const { clock, ac, sleep, sleeps } = fakeTimers(5);
    const published: MarketTick[] = [];
    const result = await runMarketFeed({ source: synthetic(), clock, startMs: start, speed: 3600, pollMs: 1000, sleep, signal: ac.signal, publish: (t) => void published.push(t) });
    // polls at real +0, +1, …, +4 s ⇒ simulated now = start + 4 h; the abort after the 5th sleep ends the run
    expect(sleeps()).toBe(5);
    expect(result).toEqual({ published: published.length, nextFromMs: start + 4 * HOUR + 1, reason: 'aborted' });
    expect(published).toEqual(synthetic().ticksBetween(start, start + 4 * HOUR + 1));
    expect(published.length).toBeGreaterThan(4 * 3600);
    expect(tickTimeMs(published.at(-1)!)).toBe(start + 4 * HOUR); // a BTC tick exactly at "now" is included
  });

  it('publishes exactly [start, now] for any pattern of clock advances and speeds', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom(1, 60, 3600, 86_400),
        async (advances, speed) => {
          const { clock, ac, sleep } = fakeTimers(advances.length, (i) => advances[i]!);
          const source = createSyntheticSource({ seed: 'any', btcIntervalMs: 60_000, powerIntervalMs: 900_000 });
          const published: MarketTick[] = [];
          const r = await runMarketFeed({ source, clock, startMs: start, speed, sleep, signal: ac.signal, publish: (t) => void published.push(t) });
          // the last poll read the clock before the final advance
          const lastPollElapsed = advances.slice(0, -1).reduce((a, b) => a + b, 0);
          const now = simulatedNow(start, realStart.getTime(), realStart.getTime() + lastPollElapsed, speed);
          expect(r.nextFromMs).toBe(now + 1);
          expect(published).toEqual(createSyntheticSource({ seed: 'any', btcIntervalMs: 60_000, powerIntervalMs: 900_000 }).ticksBetween(start, now + 1));
        },
      ),
      { numRuns: 20 },
    );
  });

  it('stops by itself after untilMs, having published exactly [start, untilMs]', async () => {
    const clock = manualClock(realStart);
    const published: MarketTick[] = [];
    const sleep: Sleep = async (ms) => clock.advance(ms);
    const until = start + 3 * HOUR + 17_000;
    const r = await runMarketFeed({ source: synthetic(), clock, startMs: start, speed: 3600, pollMs: 700, sleep, untilMs: until, publish: (t) => void published.push(t) });
    expect(r).toMatchObject({ reason: 'until', nextFromMs: until + 1, published: published.length });
    expect(published).toEqual(synthetic().ticksBetween(start, until + 1));
  });

  it('awaits a slow publisher, keeps order, and an abort mid-batch publishes nothing more', async () => {
    const clock = manualClock(realStart);
    const ac = new AbortController();
    const published: MarketTick[] = [];
    const publish = async (t: MarketTick) => {
      await new Promise((r) => setImmediate(r));
      published.push(t);
      if (published.length === 500) ac.abort();
    };
    const sleep: Sleep = async (ms) => clock.advance(ms);
    const r = await runMarketFeed({ source: synthetic(), clock, startMs: start, speed: 3600, pollMs: 1000, sleep, signal: ac.signal, publish });
    expect(published).toHaveLength(500);
    expect(published).toEqual(synthetic().ticksBetween(start, start + HOUR).slice(0, 500));
    expect(r).toEqual({ published: 500, nextFromMs: tickTimeMs(synthetic().ticksBetween(start, start + HOUR)[500]!), reason: 'aborted' });
  });

  it('replays real history at 3600×, optionally priming the values in force at the start', async () => {
    const replay = createReplaySource({ nodes: ['HB_WEST'], feeds: { btc: false } });
    const from = Date.parse('2023-09-06T22:00:00Z');
    const clock = manualClock(realStart);
    const published: MarketTick[] = [];
    const sleep: Sleep = async (ms) => clock.advance(ms);
    const until = Date.parse('2023-09-07T01:00:00Z') - 1;
    await runMarketFeed({ source: replay, clock, startMs: from, speed: 3600, pollMs: 250, sleep, untilMs: until, prime: true, publish: (t) => void published.push(t) });
    const primed = replay.inForceAt(from - 1);
    expect(published.slice(0, primed.length)).toEqual(primed);
    // the monthly GPU rates and the daily network stats are known from the start
    expect(primed.map((t) => (t.kind === 'price' ? t.feed : 'network'))).toEqual(expect.arrayContaining(['network', 'gpu-h100', 'gpu-a100', 'gpu-l40s']));
    expect(published.slice(primed.length)).toEqual(replay.ticksBetween(from, until + 1));
    expect(published.some((t) => t.tickId === 'replay:power-hb_west:rt15:2023-09-07T00:00:00.000Z')).toBe(true);
  });

  it('validates its options and the real timer wakes early on abort', async () => {
    const source: MarketSource = { ticksBetween: () => [], inForceAt: () => [] };
    const base = { source, clock: manualClock(), startMs: 0, publish: () => {} };
    await expect(runMarketFeed({ ...base, speed: 0 })).rejects.toThrow(/speed/);
    await expect(runMarketFeed({ ...base, pollMs: -1 })).rejects.toThrow(/pollMs/);
    const ac = new AbortController();
    const t0 = performance.now();
    const slept = timerSleep(10_000, ac.signal);
    ac.abort();
    await slept;
    expect(performance.now() - t0).toBeLessThan(1000);
    // a real-timer run (default sleep) stops promptly when aborted
    const ac2 = new AbortController();
    const run = runMarketFeed({ ...base, startMs: start, speed: 3600, pollMs: 5, signal: ac2.signal, source: synthetic() });
    setTimeout(() => ac2.abort(), 30);
    expect((await run).reason).toBe('aborted');
  });
});
