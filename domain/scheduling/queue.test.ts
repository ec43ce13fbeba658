/**
 * The queue kept between rounds (createQueue) against the queue sorted afresh (queueOrder): random
 * arrivals of each tier, some of them work preempted earlier (older in age than in time queued),
 * removals, work queued anew, and time moving on across the ages at which P2 and P3 reach their
 * best rank.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Tier } from '../billing/price-list.ts';
import { createQueue, queueOfList, queueOrder, waitingByType, type Fits, type QueueWalk, type WaitingQueue } from './queue.ts';
import type { Waiting } from './types.ts';

/**
 * A look reads each GPU type's work whole, and walked as a round walks it: each call letting
 * through the gangs whose size's bit is set in its tier's mask (all, when undefined): rooms that
 * grow and shrink, and need not let a smaller gang through where they let a larger one.
 */
type Look = { kind: 'look'; largest: number; fits: Array<Record<'P2' | 'P3', number> | undefined> };
const fitsOf = (masks: Record<'P2' | 'P3', number> | undefined): Fits | undefined => masks && ((tier, gpuCount) => (masks[tier] & (1 << (gpuCount - 1))) !== 0);
type Step = { kind: 'add'; tier: Tier; agedBy: number; id: number } | { kind: 'remove' | 'requeue'; pick: number } | { kind: 'time'; ms: number } | Look;

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), tier: fc.constantFrom<Tier>('P1', 'P2', 'P3'), agedBy: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 * 3_600_000 })), id: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
  // the same workload queued anew (a preemption's requeue): it takes its old entry's place
  fc.record({ kind: fc.constant('requeue' as const), pick: fc.nat() }),
  // steps of time that land on, just before and well past the ages where a tier stops rising
  fc.record({ kind: fc.constant('time' as const), ms: fc.oneof({ arbitrary: fc.constantFrom(0, 1, 299_999, 300_000, 2_700_000), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 1_800_000 }), weight: 1 }) }),
  fc.record({
    kind: fc.constant('look' as const),
    // gangs here take 1–4 GPUs: mostly all of them below the largest
    largest: fc.integer({ min: 3, max: 5 }),
    fits: fc.array(fc.option(fc.record({ P2: fc.nat(15), P3: fc.nat(15) }), { nil: undefined, freq: 8 }), { maxLength: 30 }),
  }),
);

/** What a walk gives, read off the whole order: from where the last call stopped, the first it lets through. */
const walkedFromWhole = (whole: readonly Waiting[], { largest, fits }: Look) => {
  let at = 0;
  return fits.map(fitsOf).map((fits) => {
    const given = (w: Waiting) => !fits || w.priority === 'P1' || w.request.gpuCount > largest || fits(w.priority, w.request.gpuCount, w.remainingSeconds);
    while (at < whole.length && !given(whole[at]!)) at++;
    return whole[at++]?.workloadId;
  });
};
const walked = (walk: QueueWalk, { fits }: Look) => fits.map((masks) => walk(fitsOf(masks))?.workloadId);
/** Each GPU type's work, walked whole, is exactly its part of the order sorted afresh. */
const expectInOrder = (queue: WaitingQueue, waiting: readonly Waiting[], now: number) => {
  const whole = queueOrder(waiting, now);
  for (const type of ['H100', 'A100'] as const) {
    const walk = queue.walk(type, now, Infinity);
    const ids: string[] = [];
    for (let w = walk(); w; w = walk()) ids.push(w.workloadId);
    expect(ids).toEqual(whole.filter((w) => w.request.gpuType === type).map((w) => w.workloadId));
  }
};

describe('the queue kept between rounds', () => {
  it('gives exactly the order sorted afresh (of each GPU type, its first, and walked past gangs with no room), and what waits of each GPU type, whatever comes, goes and however time moves (property)', () => {
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
          else if (s.kind === 'look') {
            expect(queue.byType()).toEqual(waitingByType(waiting));
            expectInOrder(queue, waiting, now);
            // each GPU type's first, as the whole order has it
            const whole = queueOrder(waiting, now);
            for (const type of ['H100', 'A100'] as const) {
              expect(queue.firstOf(type, now)?.workloadId).toEqual(whole.find((w) => w.request.gpuType === type)?.workloadId);
              // walked as a round walks it, passing over the gangs each call finds no room for
              const expected = walkedFromWhole(whole.filter((w) => w.request.gpuType === type), s);
              expect(walked(queue.walk(type, now, s.largest), s)).toEqual(expected);
              expect(walked(queueOfList(waiting).walk(type, now, s.largest), s)).toEqual(expected);
            }
          }
        }
        expect(queue.byType()).toEqual(waitingByType(waiting));
        expectInOrder(queue, waiting, now);
        expect(queue.size).toBe(waiting.length);
      }),
      { numRuns: 1000 },
    );
  });

  it('does not give, once the room grows, a gang it passed over while the room was smaller', () => {
    const queue = createQueue();
    const batch = (id: string, gpuCount: number, atMs: number): Waiting => ({
      workloadId: id,
      customerId: 'c',
      priority: 'P2',
      request: { type: 'ai_inference_batch', model: 'm', gpuType: 'H100', gpuCount, durationSeconds: 60 },
      firstQueuedAtMs: atMs,
      queuedAtMs: atMs,
      nextRun: 1,
      remainingSeconds: 60,
    });
    queue.add(batch('four', 4, 0));
    queue.add(batch('one', 1, 10));
    queue.add(batch('two', 2, 20));
    const walk = queue.walk('H100', 100, 8);
    const upTo = (n: number) => (_tier: 'P2' | 'P3', gpuCount: number) => gpuCount <= n;
    expect([walk(upTo(1)), walk(upTo(8)), walk()].map((w) => w?.workloadId)).toEqual(['one', 'two', undefined]);
  });
});
