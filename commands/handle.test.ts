/**
 * Invariant 6: concurrent commands on one stream lose no update; the same command
 * id twice appends nothing new; a rejection appends nothing. On the memory store
 * and on the PostgreSQL store (PGlite, and the real server when configured).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { customerDecider, customerStream, type CustomerCommand } from '../domain/customer/customer.ts';
import { manualClock } from '../infra/clock.ts';
import { createMemoryEventStore } from '../infra/event-store/memory.ts';
import { createPostgresEventStore } from '../infra/event-store/postgres/store.ts';
import type { EventStore } from '../infra/event-store/types.ts';
import { postgresBackends } from '../tests/support/databases.ts';
import { requestDigest } from './context.ts';
import { handleCommand, handleTogether, loadState } from './handle.ts';
import { loadStreamState, MAX_COMMANDS_PER_STREAM } from './stream-state.ts';
import { INITIAL_RATES } from '../domain/billing/price-list.ts';

const backends: Array<{ label: string; open: () => Promise<{ store: EventStore; dispose: () => Promise<void> }> }> = [
  { label: 'memory', open: async () => ({ store: createMemoryEventStore(), dispose: async () => {} }) },
  ...postgresBackends().map((b) => ({
    label: b.label,
    open: async () => {
      const db = await b.open();
      return { store: await createPostgresEventStore(db), dispose: () => db.drop() };
    },
  })),
];

const clock = manualClock();
const ctx = (commandId: string) => ({ commandId, actor: 'test', correlationId: commandId, now: clock.now });
let n = 0;
const register = async (store: EventStore) => {
  const customerId = `c${++n}`;
  await handleCommand(store, customerDecider, customerStream(customerId), { type: 'RegisterCustomer', customerId, name: 'C', tier: 'standard' }, ctx(`reg-${customerId}`));
  return customerId;
};
const balanceOf = async (store: EventStore, customerId: string) => {
  const state = await loadState(store, customerDecider, customerStream(customerId));
  if (state.status !== 'registered') throw new Error('not registered');
  return state.balance;
};

for (const backend of backends) {
  describe(`command pipeline (invariant 6) on ${backend.label}`, () => {
    it('handles commands on several streams together, or leaves all of them to handleCommand', async () => {
      const { store, dispose } = await backend.open();
      try {
        const [a, b] = [await register(store), await register(store)];
        const grant = (customerId: string, gpuSeconds: number, id: string) => ({
          decider: customerDecider,
          streamName: customerStream(customerId),
          command: { type: 'GrantQuota', gpuSeconds, budgetMicroUsd: gpuSeconds * 10 } satisfies CustomerCommand,
          context: ctx(id),
        });
        const eventsNow = async () => (await store.readAll()).length;

        // both appended, in one go where the store can (EventStoreDB cannot: then it is declined)
        const together = await handleTogether(store, [grant(a, 1, `t1-${a}`), grant(b, 2, `t1-${b}`)]);
        if (!store.appendToStreams) return expect(together).toBeUndefined();
        expect(together?.map((h) => h.type)).toEqual(['accepted', 'accepted']);
        expect([(await balanceOf(store, a)).granted.gpuSeconds, (await balanceOf(store, b)).granted.gpuSeconds]).toEqual([1, 2]);

        // declined, appending nothing: a repeat, a refusal, one stream moved on behind the cache
        const before = await eventsNow();
        expect(await handleTogether(store, [grant(a, 1, `t1-${a}`), grant(b, 5, `t2-${b}`)])).toBeUndefined();
        expect(await handleTogether(store, [grant(a, 5, `t3-${a}`), { ...grant(b, 5, `t3-${b}`), command: { type: 'RegisterCustomer', customerId: b, name: 'again', tier: 'standard' } }])).toBeUndefined();
        const elsewhere = { ...store }; // another process: the same store, a cache of its own
        await handleCommand(elsewhere, customerDecider, customerStream(b), { type: 'GrantQuota', gpuSeconds: 100, budgetMicroUsd: 1000 }, ctx(`elsewhere-${b}`));
        expect(await handleTogether(store, [grant(a, 5, `t4-${a}`), grant(b, 5, `t4-${b}`)])).toBeUndefined();
        expect(await eventsNow()).toBe(before + 1);

        // and handleCommand then does each as usual
        for (const c of [grant(a, 5, `t4-${a}`), grant(b, 5, `t4-${b}`)]) expect((await handleCommand(store, c.decider, c.streamName, c.command, c.context)).type).toBe('accepted');
        expect([(await balanceOf(store, a)).granted.gpuSeconds, (await balanceOf(store, b)).granted.gpuSeconds]).toEqual([6, 107]);

        // several on one stream: decided in turn, appended at once; each command's id still answers as a repeat
        const many = await handleTogether(store, [grant(a, 1, `t5-${a}`), grant(b, 2, `t5-${b}`), grant(a, 3, `t6-${a}`)]);
        expect(many?.map((h) => h.events.length)).toEqual([1, 1, 1]);
        expect([(await balanceOf(store, a)).granted.gpuSeconds, (await balanceOf(store, b)).granted.gpuSeconds]).toEqual([10, 109]);
        const again = await handleCommand(store, customerDecider, customerStream(a), { type: 'GrantQuota', gpuSeconds: 1, budgetMicroUsd: 10 }, ctx(`t5-${a}`));
        expect(again.type === 'accepted' && again.duplicate).toBe(true);
        expect((await handleCommand(store, customerDecider, customerStream(a), { type: 'GrantQuota', gpuSeconds: 1, budgetMicroUsd: 10 }, ctx(`t7-${a}`))).type).toBe('accepted');
        expect((await balanceOf(store, a)).granted.gpuSeconds).toBe(11);
        // one id twice in the list is declined
        expect(await handleTogether(store, [grant(a, 1, `t8-${a}`), grant(a, 1, `t8-${a}`)])).toBeUndefined();
      } finally {
        await dispose();
      }
    });

    it('concurrent grants on one customer lose no update', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 2, maxLength: 12 }), async (amounts) => {
          const { store, dispose } = await backend.open();
          try {
            const customerId = await register(store);
            await Promise.all(
              amounts.map((a, i) =>
                handleCommand(store, customerDecider, customerStream(customerId), { type: 'GrantQuota', gpuSeconds: a, budgetMicroUsd: a * 10 }, ctx(`grant-${customerId}-${i}`)),
              ),
            );
            const sum = amounts.reduce((s, a) => s + a, 0);
            expect((await balanceOf(store, customerId)).granted).toEqual({ gpuSeconds: sum, budgetMicroUsd: sum * 10 });
          } finally {
            await dispose();
          }
        }),
        { numRuns: 10 },
      );
    });

    it('the same command id handled twice, even concurrently, appends nothing new', async () => {
      const commands: fc.Arbitrary<CustomerCommand> = fc.oneof(
        fc.record({ type: fc.constant('GrantQuota' as const), gpuSeconds: fc.nat({ max: 10_000 }), budgetMicroUsd: fc.nat({ max: 10_000 }) }),
        fc.record({
          type: fc.constant('ReserveQuota' as const),
          workloadId: fc.constantFrom('w1', 'w2'),
          request: fc.constant({ type: 'ai_inference_batch' as const, model: 'm-7b', gpuType: 'A100' as const, gpuCount: 1, durationSeconds: 60 }),
          rates: fc.constant(INITIAL_RATES.A100),
        }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(commands, { minLength: 1, maxLength: 6 }), async (sequence) => {
          const { store, dispose } = await backend.open();
          try {
            const customerId = await register(store);
            const stream = customerStream(customerId);
            for (const [i, command] of sequence.entries()) {
              const id = `cmd-${customerId}-${i}`;
              // twice at once the first time, then twice more: only one decision is ever appended
              const [first, twin] = await Promise.all([
                handleCommand(store, customerDecider, stream, command, ctx(id)),
                handleCommand(store, customerDecider, stream, command, ctx(id)),
              ]);
              const before = await store.readStream(stream);
              const appended = before.filter((e) => e.metadata.commandId === id);
              expect(appended.length).toBe(first.type === 'accepted' ? first.events.length : 0);
              expect(twin.type).toBe(first.type);
              const [again, concurrent] = await Promise.all([
                handleCommand(store, customerDecider, stream, command, ctx(id)),
                handleCommand(store, customerDecider, stream, command, ctx(id)),
              ]);
              expect(await store.readStream(stream)).toEqual(before);
              if (first.type === 'accepted' && first.events.length > 0) {
                expect(again).toMatchObject({ type: 'accepted', duplicate: true, events: first.events });
                expect(concurrent).toMatchObject({ type: 'accepted', duplicate: true });
              }
            }
          } finally {
            await dispose();
          }
        }),
        { numRuns: 10 },
      );
    });

    it('a rejection appends nothing and names its reason', async () => {
      const { store, dispose } = await backend.open();
      try {
        const customerId = await register(store);
        const before = await store.readAll();
        const rejected = await handleCommand(
          store,
          customerDecider,
          customerStream(customerId),
          { type: 'ReserveQuota', workloadId: 'w', request: { type: 'model_training', model: 'x', gpuType: 'H100', gpuCount: 8, durationSeconds: 3600 }, rates: INITIAL_RATES.H100 },
          ctx('too-much'),
        );
        expect(rejected).toMatchObject({ type: 'rejected', rejection: { code: 'quota_exceeded' } });
        expect(await store.readAll()).toEqual(before);
      } finally {
        await dispose();
      }
    });

    it('the same command id with a different request is refused; with the same request, or none said, it is the first result', async () => {
      const { store, dispose } = await backend.open();
      try {
        const customerId = await register(store);
        const grant = (gpuSeconds: number, requestDigest?: string) =>
          handleCommand(store, customerDecider, customerStream(customerId), { type: 'GrantQuota', gpuSeconds, budgetMicroUsd: 1 }, { ...ctx('g-1'), ...(requestDigest ? { requestDigest } : {}) });
        const [a, b] = [requestDigest({ grantQuota: { gpuHours: 1, budgetUsd: '1' } }), requestDigest({ grantQuota: { budgetUsd: '1', gpuHours: 2 } })];
        expect(requestDigest({ grantQuota: { budgetUsd: '1', gpuHours: 1, note: null } })).toBe(a); // key order and nulls do not count
        expect(await grant(3600, a)).toMatchObject({ type: 'accepted', duplicate: false });
        const events = (await store.readAll()).length;
        expect(await grant(3600, a)).toMatchObject({ type: 'accepted', duplicate: true });
        expect(await grant(7200, b)).toEqual({ type: 'rejected', rejection: { code: 'already_exists', message: 'this command id was already used for a different request', field: 'commandId' } });
        expect(await grant(7200)).toMatchObject({ type: 'accepted', duplicate: true, events: [{ data: { gpuSeconds: 3600 } }] }); // an internal caller that says no request
        expect((await store.readAll()).length).toBe(events);
        expect((await balanceOf(store, customerId)).granted.gpuSeconds).toBe(3600);
      } finally {
        await dispose();
      }
    });

    it('remembers a bounded number of command ids per stream, and still recognises an older one by its event id in the store', async () => {
      const { store, dispose } = await backend.open();
      try {
        const customerId = await register(store);
        const stream = customerStream(customerId);
        await handleCommand(store, customerDecider, stream, { type: 'GrantQuota', gpuSeconds: 100 * 3600, budgetMicroUsd: 10 ** 12 }, ctx(`grant-${customerId}`));
        const request = { type: 'ai_inference_batch' as const, model: 'llama-3-8b', gpuType: 'A100' as const, gpuCount: 1, durationSeconds: 3600 };
        const reserve = () => handleCommand(store, customerDecider, stream, { type: 'ReserveQuota', workloadId: `w-${customerId}`, request, rates: INITIAL_RATES.A100 }, ctx(`reserve-${customerId}`));
        const first = await reserve();
        for (let i = 0; i < 2 * MAX_COMMANDS_PER_STREAM; i++)
          await handleCommand(store, customerDecider, stream, { type: 'GrantQuota', gpuSeconds: 1, budgetMicroUsd: 1 }, ctx(`more-${customerId}-${i}`));
        const cached = await loadStreamState(store, customerDecider, stream);
        expect(cached.commands.size).toBeLessThanOrEqual(MAX_COMMANDS_PER_STREAM);
        expect(cached.commands.has(`reserve-${customerId}`)).toBe(false);
        const events = (await store.readStream(stream)).length;
        // the decider would now refuse it (the workload holds a reservation): the first answer comes back
        expect(await reserve()).toEqual({ ...first, duplicate: true });
        // a grant the decider would accept again: the store refuses its ids, and the first answer comes back
        const again = await handleCommand(store, customerDecider, stream, { type: 'GrantQuota', gpuSeconds: 1, budgetMicroUsd: 1 }, ctx(`more-${customerId}-0`));
        expect(again).toMatchObject({ type: 'accepted', duplicate: true, events: [{ type: 'QuotaGranted', data: { gpuSeconds: 1 } }] });
        expect((await store.readStream(stream)).length).toBe(events);
      } finally {
        await dispose();
      }
    });

    it('two requests racing with one command id: the one stored is the answer for both, or the other is refused', async () => {
      const { store, dispose } = await backend.open();
      try {
        for (const [round, sameRequest] of [[1, true], [2, false], [3, true], [4, false]] as const) {
          const customerId = await register(store);
          const grant = (gpuSeconds: number) =>
            handleCommand(store, customerDecider, customerStream(customerId), { type: 'GrantQuota', gpuSeconds, budgetMicroUsd: 1 }, {
              ...ctx(`race-${round}`),
              requestDigest: requestDigest({ grantQuota: { gpuSeconds: sameRequest ? 1 : gpuSeconds } }),
            });
          const [a, b] = await Promise.all([grant(100), grant(200)]);
          const granted = (await balanceOf(store, customerId)).granted.gpuSeconds;
          expect([100, 200]).toContain(granted); // one grant stored, never both
          const outcomes = [a, b].map((h) => (h.type === 'accepted' ? (h.events[0]?.data as { gpuSeconds: number }).gpuSeconds : h.rejection.code));
          if (sameRequest) expect(outcomes).toEqual([granted, granted]); // both answered with what was stored
          else expect(outcomes.sort()).toEqual([granted, 'already_exists'].sort());
        }
      } finally {
        await dispose();
      }
    });
  });
}
