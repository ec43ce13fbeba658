/**
 * A step the platform takes after a command (opening the workload, releasing its quota) checks
 * that the command id it finds handled already really did that step: an id taken by something
 * else is an error, never success with the quota left reserved.
 */
import { describe, expect, it } from 'vitest';
import { customerDecider, customerStream } from '../domain/customer/customer.ts';
import { workloadStream } from '../domain/workload/workload.ts';
import { manualClock } from '../infra/clock.ts';
import { createMemoryEventStore } from '../infra/event-store/memory.ts';
import { sequentialIds } from '../infra/ids.ts';
import type { CommandDeps } from './context.ts';
import { grantQuota, registerCustomer } from './customers.ts';
import { handleCommand } from './handle.ts';
import { ensurePriceList } from './price-list.ts';
import { cancelWorkload, submitWorkload } from './workloads.ts';
import { releaseQuotaCommandId, StepNotTakenError } from './quota.ts';

const caller = (commandId: string) => ({ commandId, correlationId: commandId, actor: 'test' });
const request = { type: 'ai_inference_batch' as const, model: 'llama-3-8b', gpuType: 'A100' as const, gpuCount: 1, durationSeconds: 3600 };

/** A platform on the memory store with its price list and one customer holding quota. */
const customerWithQuota = async (clock: CommandDeps['clock']) => {
  const deps: CommandDeps = { store: createMemoryEventStore(), readModels: { query: async () => [] }, clock, ids: sequentialIds('s') };
  await ensurePriceList(deps);
  const { customerId } = await registerCustomer(deps, caller('register-1'), { name: 'C', tier: 'standard' });
  await grantQuota(deps, caller('grant-1'), { customerId, gpuSeconds: 100 * 3600, budgetMicroUsd: 1_000_000_000 });
  return { deps, customerId };
};

describe('workload steps', () => {
  it('refuses to take a release-quota id handled as something else for the release itself', async () => {
    const clock = manualClock();
    const { deps, customerId } = await customerWithQuota(clock);
    const { workloadId } = await submitWorkload(deps, caller('submit-1'), { customerId, request });
    // something other than the release takes its id on the customer's stream (a bug, or an id from outside)
    await handleCommand(deps.store, customerDecider, customerStream(customerId), { type: 'GrantQuota', gpuSeconds: 1, budgetMicroUsd: 1 }, {
      ...caller(releaseQuotaCommandId(workloadId)),
      now: clock.now,
    });
    await expect(cancelWorkload(deps, caller('cancel-1'), { workloadId, reason: 'test' })).rejects.toBeInstanceOf(StepNotTakenError);
  });

  it('stamps a workload submitted and queued at the same moment, while its clock moves on during the submission', async () => {
    const clock = manualClock();
    // a fast platform clock: every reading is a second later
    const { deps, customerId } = await customerWithQuota({ ...clock, now: () => (clock.advance(1000), clock.now()) });
    const { workloadId } = await submitWorkload(deps, caller('submit-1'), { customerId, request });
    const events = await deps.store.readStream(workloadStream(workloadId));
    const submittedAt = events.find((e) => e.type === 'WorkloadSubmitted')!.metadata.occurredAt;
    const queued = events.find((e) => e.type === 'WorkloadQueued')!;
    expect((queued.data as { at: string }).at).toBe(submittedAt);
    expect(queued.metadata.occurredAt).toBe(submittedAt);
  });
});
