/**
 * What a round derives over a pool's GPUs, carried from array to array as GPUs change
 * (fleet/gpus.ts, overGpus), against the same counted afresh: random pools, random changes of
 * a few GPUs at a time (an index sometimes named twice), asked at random moments, so a value is
 * carried over one change or several.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eachOnce, overGpus, replaceGpus, type GpuUnit } from '../fleet/gpus.ts';
import { poweredCount } from '../resource/gpu-pool.ts';
import { freeGpus, idleWarmGpusOf, inServiceUnits, warmingCountsOf } from './gpu-counts.ts';

const MODELS = ['llama-3-8b', 'mistral-7b', 'falcon-40b'];

const unit: fc.Arbitrary<Omit<GpuUnit, 'index'>> = fc.record({
  health: fc.constantFrom('healthy', 'healthy', 'degraded', 'failed'),
  inService: fc.boolean(),
  model: fc.option(fc.constantFrom(...MODELS)),
  warming: fc.boolean(),
  warmReadyAt: fc.constant(null),
  busy: fc.option(fc.record({ workloadId: fc.constantFrom('w1', 'w2'), run: fc.constant(1), mode: fc.constantFrom('serving', 'training') })),
});

type Change = { indexes: number[]; to: Array<Omit<GpuUnit, 'index'>>; look: boolean };

const world = fc.record({
  start: fc.array(unit, { minLength: 1, maxLength: 24 }),
  changes: fc.array(fc.record({ indexes: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), to: fc.array(unit, { minLength: 4, maxLength: 4 }), look: fc.boolean() }), { maxLength: 30 }),
});

/** Replays the changes, asking `derived` at the moments chosen and at the end, and compares each answer with `afresh`. */
const carriedProperty = <T>(derived: (gpus: readonly GpuUnit[]) => T, afresh: (gpus: readonly GpuUnit[]) => T) =>
  fc.property(world, ({ start, changes }) => {
    let gpus: readonly GpuUnit[] = start.map((g, index) => ({ ...g, index }));
    derived(gpus);
    const check = () => {
      const value = derived(gpus);
      expect(value).toEqual(afresh(gpus));
      // lists hold the array's own GPUs, not earlier copies of them
      const lists = Array.isArray(value) ? [value] : value instanceof Map ? [...value.values()].filter(Array.isArray) : [];
      for (const list of lists as GpuUnit[][]) for (const g of list) expect(gpus[g.index]).toBe(g);
    };
    for (const c of changes as Change[]) {
      const indexes = c.indexes.map((i) => i % gpus.length);
      let k = 0;
      gpus = replaceGpus(gpus, indexes, () => ({ ...c.to[k++ % c.to.length]!, index: indexes[(k - 1) % indexes.length]! }));
      if (c.look) check();
    }
    check();
  });

describe('what a round derives over GPUs, carried across changes', () => {
  const cases = { 'free GPUs': freeGpus, 'idle warm GPUs by model': idleWarmGpusOf, 'GPUs warming per model': warmingCountsOf, 'GPUs in service': inServiceUnits } as const;
  it.each(Object.keys(cases) as Array<keyof typeof cases>)('%s: the same as counted afresh (property)', (name) => {
    fc.assert(carriedProperty<unknown>(cases[name], cases[name].afresh), { numRuns: 300 });
  });

  it('GPUs drawing power: the same as counted afresh (property)', () => {
    fc.assert(carriedProperty(poweredCount, (gpus) => gpus.filter((g) => g.busy !== null || g.warming || g.model !== null).length), { numRuns: 300 });
  });

  it('catches a carry that counts a GPU named twice in one change twice', () => {
    const powered = (g: GpuUnit) => g.busy !== null || g.warming || g.model !== null;
    const twice = overGpus(
      (gpus) => gpus.filter(powered).length,
      (n, from, to, changed) => changed.reduce((m, i) => m + (powered(to[i]!) ? 1 : 0) - (powered(from[i]!) ? 1 : 0), n),
    );
    expect(fc.check(carriedProperty(twice, twice.afresh), { numRuns: 300 }).failed).toBe(true);
    expect(eachOnce([3, 1, 3])).toEqual([3, 1]);
  });
});
