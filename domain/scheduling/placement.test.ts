import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstInOrder } from './placement.ts';

describe('firstInOrder', () => {
  it('gives what a full sort gives first, for any limit (a total order, as the scheduler uses)', () => {
    const byValueThenIndex = (a: { v: number; i: number }, b: { v: number; i: number }) => a.v - b.v || a.i - b.i;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), fc.integer({ min: -1, max: 220 }), (values, limit) => {
        const items = values.map((v, i) => ({ v, i }));
        const expected = items.slice().sort(byValueThenIndex).slice(0, Math.max(0, limit));
        expect(firstInOrder(items.slice(), byValueThenIndex, limit)).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('takes the partial path (a few of many) and still gives the full sort\'s first ones, ties included', () => {
    const byValueThenIndex = (a: { v: number; i: number }, b: { v: number; i: number }) => a.v - b.v || a.i - b.i;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 80, maxLength: 300 }), fc.integer({ min: 1, max: 9 }), (values, limit) => {
        const items = values.map((v, i) => ({ v, i }));
        expect(firstInOrder(items.slice(), byValueThenIndex, limit)).toEqual(items.slice().sort(byValueThenIndex).slice(0, limit));
      }),
      { numRuns: 300 },
    );
  });
});
