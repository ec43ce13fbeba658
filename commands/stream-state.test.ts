/**
 * The cached stream states: a command reads only the new tail, yet the state is always the
 * full fold of the stream, whoever appended; duplicates are recognised after the cache has
 * forgotten a stream; the cache is bounded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { customerDecider, customerStream, type CustomerCommand, type CustomerEvent } from '../domain/customer/customer.ts';
import { fold } from '../domain/decider.ts';
import { manualClock } from '../infra/clock.ts';
import { createMemoryEventStore } from '../infra/event-store/memory.ts';
import type { EventStore, ReadStreamOptions } from '../infra/event-store/types.ts';
import { handleCommand } from './handle.ts';
import { asDomain, loadStreamState, MAX_CACHED_STREAMS } from './stream-state.ts';

const clock = manualClock();
const ctx = (commandId: string) => ({ commandId, actor: 'test', correlationId: commandId, now: clock.now });

/** A store that counts the events its readStream returned. */
const counting = (store: EventStore) => {
  const seen = { events: 0 };
  const wrapped: EventStore = {
    ...store,
    appendToStream: store.appendToStream.bind(store),
    readAll: store.readAll.bind(store),
    subscribeToAll: store.subscribeToAll.bind(store),
    close: store.close.bind(store),
    readStream: async (name: string, options?: ReadStreamOptions) => {
      const events = await store.readStream(name, options);
      seen.events += events.length;
      return events;
    },
  };
  return { store: wrapped, seen };
};

const grant = (gpuSeconds: number): CustomerCommand => ({ type: 'GrantQuota', gpuSeconds, budgetMicroUsd: gpuSeconds });

describe('cached stream states', () => {
  it('a command reads only the events appended since the last one', async () => {
    const { store, seen } = counting(createMemoryEventStore());
    const stream = customerStream('reads');
    await handleCommand(store, customerDecider, stream, { type: 'RegisterCustomer', customerId: 'reads', name: 'R', tier: 'standard' }, ctx('reg'));
    for (let i = 0; i < 50; i++) await handleCommand(store, customerDecider, stream, grant(1), ctx(`g${i}`));
    // 51 commands over a stream growing to 51 events: whole-stream reads would return 1,275 events
    expect(seen.events).toBeLessThanOrEqual(51);
  });

  it('is the full fold of the stream whatever was appended behind its back, in any order of loads and foreign appends', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 100 })), { minLength: 1, maxLength: 40 }), async (steps) => {
        const store = createMemoryEventStore();
        const stream = customerStream('mixed');
        // a second "process": another decider object, so another cache entry, appending to the same stream
        const elsewhere = { ...customerDecider };
        await handleCommand(store, customerDecider, stream, { type: 'RegisterCustomer', customerId: 'mixed', name: 'M', tier: 'standard' }, ctx('reg'));
        let i = 0;
        for (const [here, amount] of steps) await handleCommand(store, here ? customerDecider : elsewhere, stream, grant(amount), ctx(`g${i++}`));
        const cached = await loadStreamState(store, customerDecider, stream);
        const all = await store.readStream(stream);
        expect(cached.state).toEqual(fold(customerDecider, all.map(asDomain<CustomerEvent>)));
        expect(cached.revision).toBe(all.at(-1)!.revision);
      }),
    );
  });

  it('a repeated command id returns what it appended, also when the repeat comes through another cache', async () => {
    const store = createMemoryEventStore();
    const stream = customerStream('dup');
    await handleCommand(store, customerDecider, stream, { type: 'RegisterCustomer', customerId: 'dup', name: 'D', tier: 'standard' }, ctx('reg'));
    const first = await handleCommand(store, customerDecider, stream, grant(7), ctx('same'));
    await handleCommand(store, customerDecider, stream, grant(1), ctx('other'));
    const again = await handleCommand(store, { ...customerDecider }, stream, grant(7), ctx('same'));
    expect(first.type).toBe('accepted');
    expect(again).toMatchObject({ type: 'accepted', duplicate: true });
    expect(again.type === 'accepted' && first.type === 'accepted' && again.events).toEqual(first.type === 'accepted' && first.events);
    expect(await store.readStream(stream)).toHaveLength(3);
  });

  it('keeps at most MAX_CACHED_STREAMS streams, dropping the least recently used', async () => {
    const { store, seen } = counting(createMemoryEventStore());
    const decider = { ...customerDecider };
    await store.appendToStream('kept', [{ id: crypto.randomUUID(), type: 'CustomerRegistered', data: { customerId: 'k', name: 'K', tier: 'standard' }, metadata: { commandId: 'k', actor: 't', correlationId: 'k', causationId: 'k', schemaVersion: 1, occurredAt: new Date(0).toISOString() } }]);
    await loadStreamState(store, decider, 'kept');
    for (let i = 0; i < MAX_CACHED_STREAMS; i++) await loadStreamState(store, decider, `empty-${i}`);
    const before = seen.events;
    await loadStreamState(store, decider, 'kept'); // evicted: read whole again
    expect(seen.events - before).toBe(1);
  });
});
