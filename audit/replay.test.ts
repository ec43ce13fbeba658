/** Replay keeps exactly the events its filter names, in store order, across page boundaries. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryEventStore } from '../infra/event-store/memory.ts';
import { testEvents } from '../tests/support/events.ts';
import { categoryOf, replay, REPLAY_PAGE, type ReplayFilter } from './replay.ts';

const collect = async <T>(it: AsyncIterable<T>) => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

describe('audit replay', () => {
  it('names a category by the stream name up to its first dash', () => {
    expect(categoryOf('workload-w-1')).toBe('workload');
    expect(categoryOf('price-list')).toBe('price');
    expect(categoryOf('solo')).toBe('solo');
  });

  it('gives what the filter keeps, in store order, for any filter (property)', async () => {
    const store = createMemoryEventStore();
    const streams = ['workload-a', 'workload-b', 'customer-c', 'market-x'];
    // more than two pages, so paging is crossed
    for (let i = 0; i < 2 * REPLAY_PAGE + 37; i++) {
      const [e] = testEvents(1);
      const occurredAt = new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString();
      await store.appendToStream(streams[i % 4]!, [{ ...e!, type: i % 3 === 0 ? 'A' : 'B', metadata: { ...e!.metadata, occurredAt } }]);
    }
    const all = await store.readAll();
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            stream: fc.constantFrom(...streams),
            category: fc.constantFrom('workload', 'customer', 'nothing'),
            types: fc.subarray(['A', 'B', 'C']),
            after: fc.nat({ max: all.length - 1 }).map((i) => all[i]!.position),
            until: fc.nat({ max: all.length - 1 }).map((i) => all[i]!.position),
            fromMs: fc.integer({ min: 0, max: all.length }).map((i) => Date.UTC(2024, 0, 1) + i * 60_000),
            toMs: fc.integer({ min: 0, max: all.length }).map((i) => Date.UTC(2024, 0, 1) + i * 60_000),
            limit: fc.integer({ min: 1, max: 3000 }),
          },
          { requiredKeys: [] },
        ),
        async (filter: ReplayFilter) => {
          const got = (await collect(replay(store, filter))).map((e) => e.id);
          const until = filter.until ? all.findIndex((e) => e.position === filter.until) : all.length - 1;
          const afterIndex = filter.after ? all.findIndex((e) => e.position === filter.after) : -1;
          const kept = all.filter((e, i) => {
            const at = Date.parse(e.metadata.occurredAt);
            return (
              i > afterIndex &&
              i <= until &&
              (!filter.stream || e.streamName === filter.stream) &&
              (!filter.category || e.streamName.startsWith(`${filter.category}-`)) &&
              (!filter.types?.length || filter.types.includes(e.type)) &&
              (filter.fromMs === undefined || at >= filter.fromMs) &&
              (filter.toMs === undefined || at <= filter.toMs)
            );
          });
          const expected = kept.slice(0, filter.limit ?? Infinity).map((e) => e.id);
          expect(got).toEqual(expected);
        },
      ),
      { numRuns: 40, seed: 5 },
    );
  });
});
