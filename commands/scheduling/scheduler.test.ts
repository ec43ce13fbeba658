/**
 * The scheduler after a restart: a handover the read models list as under way changes its pool's
 * power, so work waiting for that power does not ask for it a second time.
 */
import { testCaller, texasNorthWithCustomer } from '../../tests/support/fleet.ts';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../infra/clock.ts';
import { createMemoryEventStore } from '../../infra/event-store/memory.ts';
import { sequentialIds } from '../../infra/ids.ts';
import { createLogger } from '../../infra/logger.ts';
import type { Sql } from '../../infra/postgres/database.ts';
import type { CommandDeps } from '../context.ts';
import { submitWorkload } from '../workloads.ts';
import { SCHEDULER_ACTOR } from './execute.ts';
import { createScheduler } from './scheduler.ts';

const T0 = Date.parse('2024-03-01T00:00:00Z');
const POOL = 'texas-north-a100';

/** Read models that list one waiting workload and, when given, a handover under way for the A100 pool. */
const readModels = (workloadId: () => string, handover: boolean): Sql => ({
  query: async <R>(q: unknown) => {
    const text = typeof q === 'string' ? q : (q as { text: string }).text;
    if (text.includes('FROM rm_handovers')) return (handover ? [{ handover_id: 'ho-before-the-crash', gpu_resource_id: POOL, direction: 'to_ai' }] : []) as R[];
    if (text.includes("FROM rm_workloads WHERE status IN")) return [{ workload_id: workloadId() }] as R[];
    return [] as R[];
  },
});

/** A restarted scheduler over a waiting gang larger than the A100 pool's warm standby: the power changes it asks for. */
const powerAskedAfterRestart = async (handoverUnderWay: boolean) => {
  let workloadId = '';
  const deps: CommandDeps = { store: createMemoryEventStore(), readModels: readModels(() => workloadId, handoverUnderWay), clock: manualClock(new Date(T0)), ids: sequentialIds('r') };
  const { facilities, customerId } = await texasNorthWithCustomer(deps, { gpuSeconds: 1_000 * 3600, budgetMicroUsd: 100_000_000_000 });
  // 64 A100 for an hour: the pool's warm standby powers 32
  ({ workloadId } = await submitWorkload(deps, testCaller('submit'), { customerId, request: { type: 'model_training', model: 'llama-3-70b', gpuType: 'A100', gpuCount: 64, durationSeconds: 3600 } }));

  const scheduler = createScheduler({ deps, facilities, logger: createLogger('silent') });
  await scheduler.recover(T0 + 1_000);
  await scheduler.tick(T0 + 2_000);
  const events = await deps.store.readAll();
  return events.filter((e) => e.metadata.actor === SCHEDULER_ACTOR && (e.type === 'HandoverRequested' || e.type === 'ModeSwitchRequested')).length;
};

describe('scheduler recovery', () => {
  it('takes a handover under way as its pool\'s power change, and does not ask for power again', async () => {
    expect(await powerAskedAfterRestart(true)).toBe(0);
  });

  it('asks for the power when no change is under way (the test above could fail)', async () => {
    expect(await powerAskedAfterRestart(false)).toBeGreaterThan(0);
  });
});
