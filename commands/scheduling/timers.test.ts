import { describe, expect, it } from 'vitest';
import { createTimers } from './timers.ts';

describe('scheduler timers', () => {
  it('keeps a pool\'s later power-retry beside an earlier one (a second pause must wake its own round), in time order', () => {
    const timers = createTimers();
    timers.add({ kind: 'power-retry', atMs: 2_000, poolId: 'p' });
    timers.add({ kind: 'power-retry', atMs: 1_000, poolId: 'p' });
    timers.add({ kind: 'power-retry', atMs: 1_000, poolId: 'p' }); // the same pause twice: one timer
    expect(timers.nextAtMs()).toBe(1_000);
    expect([timers.takeDue(5_000)?.atMs, timers.takeDue(5_000)?.atMs, timers.takeDue(5_000)]).toEqual([1_000, 2_000, undefined]);
  });

  it('keeps one quiet timer per pool (the first; when it fires the scheduler looks at the last demand), another pool its own', () => {
    const timers = createTimers();
    timers.add({ kind: 'quiet', atMs: 1_000, poolId: 'p' });
    timers.add({ kind: 'quiet', atMs: 3_000, poolId: 'p' }); // more demand on p: its timer stays
    timers.add({ kind: 'quiet', atMs: 2_000, poolId: 'q' });
    expect([timers.takeDue(5_000), timers.takeDue(5_000), timers.takeDue(5_000)]).toEqual([
      { kind: 'quiet', atMs: 1_000, poolId: 'p' },
      { kind: 'quiet', atMs: 2_000, poolId: 'q' },
      undefined,
    ]);
    // once fired, the pool may have a timer again
    timers.add({ kind: 'quiet', atMs: 3_000, poolId: 'p' });
    expect(timers.nextAtMs()).toBe(3_000);
  });
});
