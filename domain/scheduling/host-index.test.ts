import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFree, type GpuUnit } from '../fleet/gpus.ts';
import type { GpuType } from '../workload/request.ts';
import { indexHosts, packIndexed, takeFromIndex, type HostIndex } from './host-index.ts';
import { placeGang, type GangChoice, type GangRequest } from './placement.ts';
import type { PoolView } from './types.ts';

const MODELS = ['llama-3-8b', 'mistral-7b', 'llama-3-70b'] as const;

/** A pool's GPUs in every state a round meets: free (off or warm), busy, loading, unhealthy, out of service. */
const gpuArb = fc.record({
  state: fc.constantFrom('off', 'off', 'off', 'off', 'warm', 'warm', 'busy', 'warming', 'degraded', 'out'),
  model: fc.constantFrom(...MODELS),
  // mostly unknown (45 °C), so that hosts often tie and the tie-breaks are compared too
  temperatureC: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 30, max: 80 }) }),
});

const worldArb = fc.record({
  gpuType: fc.constantFrom<GpuType>('H100', 'L40S'),
  gpus: fc.array(gpuArb, { minLength: 1, maxLength: 96 }),
  powerUsdPerMwh: fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
  /** Kept from P2/P3 (the warm reserve, GPUs held for P1s): indexes, taken modulo the pool's size. */
  kept: fc.array(fc.nat(), { maxLength: 12 }),
  requests: fc.array(fc.record({ gpuCount: fc.integer({ min: 1, max: 20 }), model: fc.constantFrom(...MODELS) }), { minLength: 1, maxLength: 12 }),
});

type World = typeof worldArb extends fc.Arbitrary<infer T> ? T : never;

const poolOf = (w: World): PoolView & { gpus: GpuUnit[] } => ({
  resourceId: 'p',
  facilityId: 'f',
  gpuType: w.gpuType,
  units: w.gpus.length,
  warmStandbyUnits: 0,
  mode: 'serving',
  switchingTo: undefined,
  warmTargets: {},
  lastDemandMs: 0,
  powerUsdPerMwh: w.powerUsdPerMwh,
  temperatureC: Object.fromEntries(w.gpus.flatMap((g, i) => (g.temperatureC === undefined ? [] : [[i, g.temperatureC]]))),
  gpus: w.gpus.map((g, index) => ({
    index,
    health: g.state === 'degraded' ? 'degraded' : 'healthy',
    inService: g.state !== 'out',
    model: g.state === 'warm' || g.state === 'busy' || g.state === 'warming' ? g.model : null,
    warming: g.state === 'warming',
    warmReadyAt: null,
    busy: g.state === 'busy' ? { workloadId: `w${index}`, run: 1, mode: 'serving' } : null,
  })),
});

/** Each request in turn placed on the pool, as a round does: the indexed search beside the plain one, the gang taken from both. */
const placeAll = (w: World, pack: (pool: PoolView, req: GangRequest, hosts: HostIndex) => GangChoice | undefined) => {
  const pool = poolOf(w);
  const excluded = new Set(w.kept.map((i) => i % w.gpus.length));
  const hosts = indexHosts(pool, pool.gpus.filter((g) => isFree(g) && !excluded.has(g.index)));
  return w.requests.map((r, n) => {
    const choice = pack(pool, { ...r, warmOnly: false, excluded }, hosts);
    if (choice) {
      for (const i of choice.gpuIndexes) pool.gpus[i] = { ...pool.gpus[i]!, busy: { workloadId: `new${n}`, run: 1, mode: 'serving' }, model: r.model };
      takeFromIndex(hosts, choice.gpuIndexes);
    }
    return choice;
  });
};

/** The envelope of a serving pool powers every GPU: the case the round gives the index. */
const HEADROOM = Infinity;

describe('packing a gang on the host index', () => {
  it('chooses exactly what the plain search chooses, gang after gang, as GPUs are taken', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        expect(placeAll(w, (pool, req, hosts) => packIndexed(pool, req, hosts, HEADROOM))).toEqual(placeAll(w, (pool, req) => placeGang(pool, req)));
      }),
      { numRuns: 400 },
    );
  });

  it('is caught by the comparison when a taken GPU stays in its host (a planted bug)', () => {
    const keepsTaken = fc.property(worldArb, (w) => {
      const pool = poolOf(w);
      const hosts = indexHosts(pool, pool.gpus.filter(isFree));
      const plain = poolOf(w);
      for (const r of w.requests) {
        const a = packIndexed(pool, { ...r, warmOnly: false }, hosts, HEADROOM);
        const b = placeGang(plain, { ...r, warmOnly: false });
        expect(a).toEqual(b);
        if (!b) continue;
        // the plain pool's GPUs are taken; the index is never told
        for (const i of b.gpuIndexes) plain.gpus[i] = { ...plain.gpus[i]!, busy: { workloadId: 'x', run: 1, mode: 'serving' } };
      }
    });
    expect(fc.check(keepsTaken, { numRuns: 300 }).failed).toBe(true);
  });
});
