import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRng, hashString, xoshiro128ss } from './random.ts';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};

describe('seeded PRNG', () => {
  it('xoshiro128** matches the reference output for state [1, 2, 3, 4]', () => {
    const g = xoshiro128ss([1, 2, 3, 4]);
    // first four outputs of the reference C implementation
    expect([g(), g(), g(), g()]).toEqual([11520, 0, 5927040, 70819200]);
  });

  it('same seed gives the same stream; different seeds and forks differ', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.string()), (seed) => {
        const a = createRng(seed);
        const b = createRng(seed);
        const xs = Array.from({ length: 20 }, () => [a.next(), a.normal(), a.exponential(2)]);
        const ys = Array.from({ length: 20 }, () => [b.next(), b.normal(), b.exponential(2)]);
        expect(xs).toEqual(ys);
      }),
      { numRuns: 50 },
    );
    expect(createRng(1).next()).not.toBe(createRng(2).next());
    const r = createRng('s');
    expect(r.fork('btc').next()).not.toBe(r.fork('power').next());
    // a fork depends on the seed and the label, not on the parent's position
    const f1 = createRng('s').fork('x').next();
    const p = createRng('s');
    p.next();
    p.next();
    expect(p.fork('x').next()).toBe(f1);
    expect(createRng(42).next()).toBe(createRng('42').next());
  });

  it('uniform, normal and exponential have the right moments', () => {
    const r = createRng('moments');
    const n = 40_000;
    const u = Array.from({ length: n }, () => r.next());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(mean(u)).toBeCloseTo(0.5, 2);
    const z = Array.from({ length: n }, () => r.normal(3, 2));
    expect(mean(z)).toBeCloseTo(3, 1);
    expect(sd(z)).toBeCloseTo(2, 1);
    const e = Array.from({ length: n }, () => r.exponential(4));
    expect(Math.min(...e)).toBeGreaterThanOrEqual(0);
    expect(mean(e)).toBeCloseTo(0.25, 2);
    const k = Array.from({ length: 1000 }, () => r.int(3, 7));
    expect(new Set(k)).toEqual(new Set([3, 4, 5, 6]));
    expect(r.uniform(10, 20)).toBeGreaterThanOrEqual(10);
  });

  it('hashes strings to uint32', () => {
    expect(hashString('a')).not.toBe(hashString('b'));
    expect(hashString('abc')).toBe(hashString('abc'));
    expect(Number.isInteger(hashString('x')) && hashString('x') >= 0 && hashString('x') < 2 ** 32).toBe(true);
  });

  it('the PRNG and the market simulators never call Math.random', () => {
    const market = path.join(import.meta.dirname, 'market');
    const files = [
      path.join(import.meta.dirname, 'random.ts'),
      ...readdirSync(market)
        .filter((n) => n.endsWith('.ts') && !n.endsWith('.test.ts'))
        .map((n) => path.join(market, n)),
    ];
    expect(files.length).toBeGreaterThan(1);
    for (const f of files) expect(readFileSync(f, 'utf8'), f).not.toMatch(/Math\.random\s*\(/);
  });
});
