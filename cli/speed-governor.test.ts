import { describe, expect, it } from 'vitest';
import { GOVERNOR, governSpeed, nextSpeed } from './speed-governor.ts';

const idle = { utilization: 0.2, lagP99Ms: 1 };
const saturated = { utilization: 0.99, lagP99Ms: 30 };

describe('the embedded platform slows market time while its event loop is saturated', () => {
  it('slows when the loop is saturated, never below the floor, holds when busy, and comes back up to what was asked', () => {
    const asked = 36_000;
    let speed = asked;
    for (let i = 0; i < 3; i++) speed = nextSpeed(speed, asked, saturated);
    expect(speed).toBeCloseTo(asked * GOVERNOR.slowdown ** 3, 6);
    // answering late counts as saturated; blocked for seconds: a tenth at once
    expect(nextSpeed(1000, asked, { utilization: 0.5, lagP99Ms: GOVERNOR.lateAfterMs + 1 })).toBe(1000 * GOVERNOR.slowdown);
    expect(nextSpeed(1000, asked, { utilization: 1, lagP99Ms: 5000 })).toBeCloseTo(100, 6);
    for (let i = 0; i < 100; i++) speed = nextSpeed(speed, asked, saturated);
    expect(speed).toBe(GOVERNOR.floor);
    // busy but not saturated: held
    expect(nextSpeed(500, asked, { utilization: 0.8, lagP99Ms: 20 })).toBe(500);
    for (let i = 0; i < 100; i++) speed = nextSpeed(speed, asked, idle);
    expect(speed).toBe(asked);
    // asked for less than the floor: never slowed below what was asked
    expect(nextSpeed(0.5, 0.5, saturated)).toBe(0.5);
  });

  it('hears a loop kept busy', async () => {
    const heard: number[] = [];
    const g = governSpeed({ asked: 3600, governor: { ...GOVERNOR, intervalMs: 100 }, onSpeed: (s) => heard.push(s) });
    try {
      const until = Date.now() + 450;
      while (Date.now() < until) {
        const step = Date.now() + 40;
        while (Date.now() < step); // a background step hogging the loop
        await new Promise((r) => setImmediate(r));
      }
      await new Promise((r) => setTimeout(r, 150));
      expect(heard.length).toBeGreaterThan(0);
      expect(g.speed()).toBeLessThan(3600);
    } finally {
      g.stop();
    }
  });
});
