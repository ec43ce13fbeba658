import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstStepValues, optimalPlan, scheduleValue, type BlockProblem } from './plan.ts';

/** Every schedule that keeps the dwell rule, by enumeration (n ≤ 10). */
const bruteForce = (p: BlockProblem) => {
  const n = p.idle.length;
  let best = -Infinity;
  for (let mask = 0; mask < 1 << n; mask++) {
    const modes = Array.from({ length: n }, (_, t) => (mask >> t) & 1);
    try {
      best = Math.max(best, scheduleValue(p, modes).value);
    } catch {
      // breaks the dwell
    }
  }
  return best;
};

const problemArb = fc
  .record({
    n: fc.integer({ min: 1, max: 9 }),
    minDwell: fc.integer({ min: 1, max: 4 }),
    switchCost: fc.integer({ min: 0, max: 50 }),
    initialMode: fc.constantFrom(0 as const, 1 as const),
    initialAge: fc.integer({ min: 1, max: 5 }),
  })
  .chain((h) =>
    fc.record({
      h: fc.constant(h),
      idle: fc.array(fc.integer({ min: -20, max: 5 }), { minLength: h.n, maxLength: h.n }),
      active: fc.array(fc.integer({ min: -200, max: 100 }), { minLength: h.n, maxLength: h.n }),
    }),
  )
  .map(({ h, idle, active }): BlockProblem => ({ idle, active, switchCost: h.switchCost, minDwell: h.minDwell, initialMode: h.initialMode, initialAge: h.initialAge }));

describe('optimal block schedule (exact DP)', () => {
  it('a hand case: one spike worth sleeping through, one not worth two switches', () => {
    // mining earns 10 per interval except a spike (−100) at t=2 and a dip (−5) at t=5; sleeping 0; switch cost 8
    const p: BlockProblem = { idle: [0, 0, 0, 0, 0, 0, 0], active: [10, 10, -100, 10, 10, -5, 10], switchCost: 8, minDwell: 1, initialMode: 1, initialAge: 1 };
    const plan = optimalPlan(p);
    expect([...plan.modes]).toEqual([1, 1, 0, 1, 1, 1, 1]);
    expect(plan.value).toBe(10 + 10 - 8 + 0 - 8 + 10 + 10 - 5 + 10);
    expect(plan.switches).toBe(2);
    // with a 3-interval dwell, sleeping through the spike means sleeping t=2..4; waking at t=5
    // would earn −8 − 5 + 10 = −3 over t=5..6, waking at t=6 earns 0 − 8 + 10 = 2: stay asleep through the dip
    const dwell = optimalPlan({ ...p, minDwell: 3 });
    expect([...dwell.modes]).toEqual([1, 1, 0, 0, 0, 0, 1]);
    expect(dwell.value).toBe(20 - 8 - 8 + 10);
  });

  it('equals brute force over every schedule that keeps the dwell, and its schedule attains it', () => {
    fc.assert(
      fc.property(problemArb, (p) => {
        const plan = optimalPlan(p);
        expect(plan.value).toBe(bruteForce(p));
        expect(scheduleValue(p, plan.modes).value).toBe(plan.value);
      }),
      { numRuns: 100 },
    );
  });

  it('the look-ahead first step agrees with the full optimum', () => {
    fc.assert(
      fc.property(problemArb, (p) => {
        const { stay, switchNow } = firstStepValues(p);
        expect(Math.max(stay, switchNow ?? -Infinity)).toBe(optimalPlan(p).value);
        if (p.initialAge < p.minDwell) expect(switchNow).toBeUndefined();
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a schedule that breaks the dwell, unless told not to check', () => {
    const p: BlockProblem = { idle: [0, 0, 0], active: [1, 1, 1], switchCost: 1, minDwell: 2, initialMode: 1, initialAge: 2 };
    expect(() => scheduleValue(p, [0, 1, 1])).toThrow(/dwell/);
    expect(scheduleValue(p, [0, 1, 1], { checkDwell: false }).value).toBe(-1 + 0 - 1 + 1 + 1);
  });
});
