/**
 * The queue kept between rounds (createQueue) against the queue sorted afresh (queueOrder): random
 * arrivals of each tier, some of them work preempted earlier (older in age than in time queued),
 * removals, work queued anew, and time moving on across the ages at which P2 and P3 reach their
 * best rank.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Tier } from '../billing/price-list.ts';
import { createQueue, queueOrder, waitingByType } from './queue.ts';
import type { Waiting } from './types.ts';

type Step = { kind: 'add'; tier: Tier; agedBy: number; id: number } | { kind: 'remove' | 'requeue'; pick: number } | { kind: 'time'; ms: number } | { kind: 'look' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), tier: fc.constantFrom<Tier>('P1', 'P2', 'P3'), agedBy: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 * 3_600_000 })), id: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
  // the same workload queued anew (a preemption's requeue): it takes its old entry's place
  fc.record({ kind: fc.constant('requeue' as const), pick: fc.nat() }),
  // steps of time that land on, just before and well past the ages where a tier stops rising
  fc.record({ kind: fc.constant('time' as const), ms: fc.oneof({ arbitrary: fc.constantFrom(0, 1, 299_999, 300_000, 2_700_000), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 1_800_000 }), weight: 1 }) }),
  fc.constant({ kind: 'look' as const }),
);

describe('the queue kept between rounds', () => {
  it('gives exactly the order sorted afresh (of all, of a GPU type, its first), and what waits of each GPU type, whatever comes, goes and however time moves (property)', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const queue = createQueue();
        const waiting: Waiting[] = [];
        let now = 1_700_000_000_000;
        let n = 0;
        for (const s of steps) {
          if (s.kind === 'add') {
            const w: Waiting = {
              workloadId: `w-${String(s.id).padStart(2, '0')}-${n++}`,
              customerId: 'c',
              priority: s.tier,
              request: { type: 'ai_inference_batch', model: 'm', gpuType: s.id % 3 === 0 ? 'A100' : 'H100', gpuCount: 1 + (s.id % 4), durationSeconds: 60 },
              // preempted work keeps its first place in age; some arrive at the same moment
              firstQueuedAtMs: now - s.agedBy,
              queuedAtMs: now,
              nextRun: 1,
              remainingSeconds: 60,
            };
            waiting.push(w);
            queue.add(w);
          } else if (s.kind === 'remove' && waiting.length > 0) queue.remove(waiting.splice(s.pick % waiting.length, 1)[0]!.workloadId);
          else if (s.kind === 'requeue' && waiting.length > 0) {
            const k = s.pick % waiting.length;
            waiting[k] = { ...waiting[k]!, queuedAtMs: now, nextRun: waiting[k]!.nextRun + 1 };
            queue.add(waiting[k]!);
          }
          else if (s.kind === 'time') now += s.ms;
          else {
            expect([...queue.inOrder(now)].map((w) => w.workloadId)).toEqual(queueOrder(waiting, now).map((w) => w.workloadId));
            expect(queue.byType()).toEqual(waitingByType(waiting));
            // a GPU type's work alone, and its first, as the whole order has them
            const whole = queueOrder(waiting, now);
            for (const type of ['H100', 'A100'] as const) {
              expect([...queue.inOrder(now, new Set([type]))].map((w) => w.workloadId)).toEqual(whole.filter((w) => w.request.gpuType === type).map((w) => w.workloadId));
              expect(queue.firstOf(type, now)?.workloadId).toEqual(whole.find((w) => w.request.gpuType === type)?.workloadId);
            }
          }
        }
        expect(queue.byType()).toEqual(waitingByType(waiting));
        expect([...queue.inOrder(now)].map((w) => w.workloadId)).toEqual(queueOrder(waiting, now).map((w) => w.workloadId));
        expect(queue.size).toBe(waiting.length);
      }),
      { numRuns: 1000 },
    );
  });
});
