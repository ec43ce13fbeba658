import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { sleepUnlessAborted } from './clock.ts';

describe('sleepUnlessAborted', () => {
  it('leaves no listener on the signal after pauses that end on time, and ends a pause at once on abort', async () => {
    const stopping = new AbortController();
    for (let i = 0; i < 12; i++) await sleepUnlessAborted(1, stopping.signal);
    expect(getEventListeners(stopping.signal, 'abort')).toHaveLength(0);
    const started = performance.now();
    const pause = sleepUnlessAborted(60_000, stopping.signal);
    stopping.abort();
    await pause;
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
