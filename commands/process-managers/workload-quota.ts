/**
 * Keeps workloads and quota in step across their two streams: a QuotaReserved
 * without its workload gets the workload opened; a cancelled workload gets its
 * quota released. The API does both inline; this finishes what a crash between
 * the two appends left half done.
 */
import type { CustomerEvent } from '../../domain/customer/customer.ts';
import type { WorkloadEvent } from '../../domain/workload/workload.ts';
import type { CommandDeps } from '../context.ts';
import { openWorkload, releaseQuota } from '../workloads.ts';
import type { ProcessManager } from './runner.ts';

export const workloadQuotaManager = (deps: CommandDeps): ProcessManager => ({
  name: 'workload-quota',
  async react(recorded) {
    const event = { type: recorded.type, data: recorded.data } as CustomerEvent | WorkloadEvent;
    const caller = {
      commandId: recorded.id,
      correlationId: recorded.metadata.correlationId,
      actor: 'process-manager:workload-quota',
    };
    if (event.type === 'QuotaReserved') await openWorkload(deps, caller, event.data, recorded.metadata.commandId);
    if (event.type === 'WorkloadCancelled')
      await releaseQuota(
        deps,
        caller,
        { customerId: event.data.customerId, workloadId: event.data.workloadId, reason: 'cancelled' },
        recorded.metadata.commandId,
      );
  },
});
