/**
 * The tail buffer answers every read exactly as the store would, whatever the readers, their
 * positions and page sizes, while the store grows and the buffer drops its oldest events.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { START, type GlobalPosition } from './position.ts';
import { createTailBuffer } from './tail-buffer.ts';
import type { RecordedEvent } from './types.ts';

const eventAt = (n: number): RecordedEvent => ({
  id: `e${n}`,
  type: 'Happened',
  data: { n },
  metadata: { commandId: `c${n}`, correlationId: 'test', causationId: 'test', actor: 'test', schemaVersion: 1, occurredAt: '2024-01-01T00:00:00Z' },
  streamName: `s-${n % 3}`,
  revision: BigInt(n),
  position: { commit: BigInt(n + 1), prepare: BigInt(n + 1) },
  hash: `h${n}`,
});

describe('tail buffer', () => {
  it('reads what the store holds, in order, for any readers while the store grows past its capacity', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('append' as const), count: fc.integer({ min: 1, max: 30 }) }),
            fc.record({ kind: fc.constant('read' as const), back: fc.integer({ min: 0, max: 40 }), maxCount: fc.integer({ min: 1, max: 30 }) }),
          ),
          { maxLength: 60 },
        ),
        async (capacity, steps) => {
          const store: RecordedEvent[] = [];
          const direct = async (after: GlobalPosition, maxCount: number) => store.filter((e) => e.position.commit > after.commit).slice(0, maxCount);
          let generation = 0;
          const buffer = createTailBuffer(direct, () => generation, capacity);
          for (const step of steps) {
            if (step.kind === 'append') {
              for (let i = 0; i < step.count; i++) store.push(eventAt(store.length));
              generation++;
              continue;
            }
            // a reader some way behind the end (or at the start)
            const n = Math.max(0, store.length - step.back);
            const after = n === 0 ? START : store[n - 1]!.position;
            const got = await buffer.read(after, step.maxCount);
            expect(got.map((e) => e.id)).toEqual((await direct(after, step.maxCount)).map((e) => e.id));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
