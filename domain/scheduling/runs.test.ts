/**
 * The runs kept between rounds (createRuns) against the same grouped and sorted afresh: random
 * placements on a few pools (some ends unknown, many equal), runs ending, workloads placed anew,
 * and ends becoming known.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { byEnd, createRuns } from './runs.ts';
import type { Running } from './types.ts';

type Step = { kind: 'add'; id: number; pool: number; end: number | null } | { kind: 'remove'; id: number } | { kind: 'ends'; id: number; end: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('add' as const), id: fc.nat(20), pool: fc.nat(2), end: fc.option(fc.integer({ min: 0, max: 5 })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), id: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('ends' as const), id: fc.nat(20), end: fc.integer({ min: 0, max: 5 }) }) },
);

const runOf = (id: number, pool: number, end: number | null): Running => ({
  workloadId: `w${id}`,
  priority: 'P2',
  request: { type: 'ai_inference_batch', model: 'm', gpuType: 'H100', gpuCount: 1, durationSeconds: 60 },
  run: 1,
  poolId: `p${pool}`,
  gpuIndexes: [id],
  sinceMs: 0,
  endsAtMs: end ?? undefined,
});

describe('the runs kept between rounds', () => {
  it('holds each pool\'s runs in the order placed and by end, as grouping and sorting afresh does (property)', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const runs = createRuns();
        for (const s of steps) {
          if (s.kind === 'add') runs.add(runOf(s.id, s.pool, s.end));
          else if (s.kind === 'remove') runs.remove(`w${s.id}`);
          else runs.endsAt(`w${s.id}`, s.end);
          const all = [...runs.values()];
          for (const pool of ['p0', 'p1', 'p2']) {
            const mine = all.filter((r) => r.poolId === pool);
            const kept = runs.byPool().get(pool) ?? { inOrder: [], byEnd: [] };
            expect(kept.inOrder).toEqual(mine);
            expect(kept.byEnd.map((r) => r.workloadId)).toEqual(byEnd(mine).map((r) => r.workloadId));
          }
          expect(runs.size).toBe(all.length);
        }
      }),
      { numRuns: 500 },
    );
  });
});
