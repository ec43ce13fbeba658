/**
 * Invariant 7: building the read models incrementally, in any batch sizes, with
 * crashes mid-batch and redeliveries, gives exactly the same rows as a clean rebuild.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { grantQuota, registerCustomer } from '../commands/customers.ts';
import { cancelWorkload, submitWorkload } from '../commands/workloads.ts';
import type { CommandDeps } from '../commands/context.ts';
import { CommandRejectedError } from '../commands/errors.ts';
import { GPU_TYPES, WORKLOAD_TYPES } from '../domain/workload/request.ts';
import { manualClock } from '../infra/clock.ts';
import { createMemoryEventStore } from '../infra/event-store/memory.ts';
import { START, type GlobalPosition } from '../infra/event-store/position.ts';
import type { RecordedEvent } from '../infra/event-store/types.ts';
import { sequentialIds } from '../infra/ids.ts';
import type { Database } from '../infra/postgres/database.ts';
import { postgresBackends } from '../tests/support/databases.ts';
import { readCheckpoint } from './checkpoints.ts';
import { customersProjection } from './customers.ts';
import type { Projection } from './projection.ts';
import { applyBatch, catchUp, migrateProjections } from './runner.ts';
import { workloadsProjection } from './workloads.ts';

const PROJECTIONS = [customersProjection, workloadsProjection];

type Op =
  | { op: 'register'; c: number; tier: 'standard' | 'enterprise' }
  | { op: 'grant'; c: number; hours: number; usd: number }
  | { op: 'submit'; c: number; type: (typeof WORKLOAD_TYPES)[number]; gpu: (typeof GPU_TYPES)[number]; count: number; minutes: number; latency: number }
  | { op: 'cancel'; w: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('register' as const), c: fc.nat({ max: 2 }), tier: fc.constantFrom('standard' as const, 'enterprise' as const) }),
  fc.record({ op: fc.constant('grant' as const), c: fc.nat({ max: 2 }), hours: fc.integer({ min: 1, max: 100 }), usd: fc.integer({ min: 1, max: 500 }) }),
  fc.record({
    op: fc.constant('submit' as const),
    c: fc.nat({ max: 2 }),
    type: fc.constantFrom(...WORKLOAD_TYPES),
    gpu: fc.constantFrom(...GPU_TYPES),
    count: fc.integer({ min: 1, max: 8 }),
    minutes: fc.integer({ min: 1, max: 600 }),
    latency: fc.integer({ min: 10, max: 400 }),
  }),
  fc.record({ op: fc.constant('cancel' as const), w: fc.nat({ max: 9 }) }),
);

/** Runs the operations through the real command handlers, into a memory store. */
const history = async (ops: Op[]) => {
  const store = createMemoryEventStore();
  const clock = manualClock();
  const deps: CommandDeps = { store, readModels: { query: async () => [] }, clock, ids: sequentialIds('p') };
  const workloads: string[] = [];
  let i = 0;
  const caller = () => ({ commandId: `cmd-${++i}`, correlationId: 'prop', actor: 'test' });
  for (const o of ops) {
    clock.advance(1000);
    const customerId = `c${'c' in o ? o.c : 0}`;
    try {
      if (o.op === 'register') await registerCustomer(deps, caller(), { customerId, name: customerId, tier: o.tier });
      if (o.op === 'grant') await grantQuota(deps, caller(), { customerId, gpuSeconds: o.hours * 3600, budgetMicroUsd: o.usd * 1_000_000 });
      if (o.op === 'submit') {
        const request = { type: o.type, model: 'm-7b', gpuType: o.gpu, gpuCount: o.count, durationSeconds: o.minutes * 60, maxLatencyMs: o.latency };
        workloads.push((await submitWorkload(deps, caller(), { customerId, request })).workloadId);
      }
      if (o.op === 'cancel' && workloads[o.w]) await cancelWorkload(deps, caller(), { workloadId: workloads[o.w]!, reason: 'test' });
    } catch (e) {
      if (!(e instanceof CommandRejectedError)) throw e;
    }
  }
  return store;
};

const snapshot = async (db: Database) => {
  const out: Record<string, unknown[]> = {};
  for (const p of PROJECTIONS)
    for (const table of p.tables) out[table] = await db.query(`SELECT * FROM ${table} ORDER BY 1, 2`);
  return out;
};

class Crash extends Error {}

/** A projection that crashes after `after` events of the batch it is applying. */
const crashing = (p: Projection, after: number): Projection => {
  let seen = 0;
  return {
    ...p,
    apply: async (tx, events) => {
      const room = after - seen;
      seen += events.length;
      if (room >= events.length) return p.apply(tx, events);
      // the events before the crash are applied, and rolled back with the batch's transaction
      if (room > 0) await p.apply(tx, events.slice(0, room));
      throw new Crash('crash');
    },
  };
};

const afterIndex = (events: RecordedEvent[], i: number): GlobalPosition => (i <= 0 ? START : events[i - 1]!.position);

for (const backend of postgresBackends()) {
  describe(`projections (invariant 7) on ${backend.label}`, () => {
    it('incremental builds with any batch sizes, crashes and redeliveries equal a clean rebuild', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(opArb, { minLength: 5, maxLength: 40, size: 'max' }),
          fc.array(
            fc.record({ size: fc.integer({ min: 1, max: 9 }), fault: fc.constantFrom('none', 'none', 'crash', 'redeliver'), at: fc.nat({ max: 8 }) }),
            { minLength: 1, maxLength: 20 },
          ),
          async (ops, steps) => {
            // every customer exists with some quota first, so most operations are accepted
            const setup: Op[] = [0, 1, 2].flatMap((c) => [
              { op: 'register' as const, c, tier: c === 0 ? ('enterprise' as const) : ('standard' as const) },
              { op: 'grant' as const, c, hours: 200, usd: 2000 },
            ]);
            const store = await history([...setup, ...ops]);
            const events = await store.readAll();

            const clean = await backend.open();
            let expected: Record<string, unknown[]>;
            try {
              await migrateProjections(clean, PROJECTIONS);
              for (const p of PROJECTIONS) await catchUp(clean, store, p);
              expected = await snapshot(clean);
            } finally {
              await clean.drop();
            }

            const db = await backend.open();
            try {
              await migrateProjections(db, PROJECTIONS);
              for (const p of PROJECTIONS) {
                let next = 0; // index of the next event the "subscription" delivers
                for (let s = 0; next < events.length; s++) {
                  const step = steps[s % steps.length]!;
                  const fault = s % 2 === 0 ? step.fault : 'none'; // every other step goes through: progress
                  const batch = events.slice(next, next + step.size);
                  // a crash while applying one of the batch's events of this projection (others pass it by unapplied)
                  const applied = batch.filter((e) => p.eventTypes.has(e.type)).length;
                  if (fault === 'crash' && applied > 0) {
                    await expect(applyBatch(db, crashing(p, step.at % applied), batch, afterIndex(events, next))).rejects.toThrow(Crash);
                    // a restarted subscription resumes from the stored checkpoint
                    const checkpoint = await readCheckpoint(db, p.name);
                    next = events.findIndex((e) => e.position.commit > checkpoint.commit);
                    if (next < 0) next = events.length;
                    continue;
                  }
                  const from = fault === 'redeliver' ? Math.max(0, next - step.at) : next; // at-least-once: old events again
                  const delivered = events.slice(from, next + step.size);
                  const outcome = await applyBatch(db, p, delivered, afterIndex(events, from));
                  expect(outcome.type).toBe('applied');
                  next += step.size;
                }
              }
              expect(await snapshot(db)).toEqual(expected);
            } finally {
              await db.drop();
            }
          },
        ),
        { numRuns: 20 },
      );
    });
  });
}
