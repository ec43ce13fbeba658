/**
 * Keeps workloads and quota in step across their two streams: a QuotaReserved without its
 * workload gets the workload opened. The API does it inline; this finishes what a crash between
 * the two appends left half done. (What a workload's end owes its quota, metering settles:
 * commands/billing/metering.ts.)
 */
import type { CustomerEvent } from '../../domain/customer/customer.ts';
import type { CommandDeps } from '../context.ts';
import { openWorkload } from '../workloads.ts';
import { loadState } from '../handle.ts';
import { workloadDecider, workloadStream } from '../../domain/workload/workload.ts';
import type { ProcessManager } from './runner.ts';

export const workloadQuotaManager = (deps: CommandDeps): ProcessManager => ({
  name: 'workload-quota',
  async react(recorded) {
    const event = { type: recorded.type, data: recorded.data } as CustomerEvent;
    const caller = {
      commandId: recorded.id,
      correlationId: recorded.metadata.correlationId,
      actor: 'process-manager:workload-quota',
    };
    if (event.type !== 'QuotaReserved') return;
    // opened already (by the submission, in this process): nothing to finish. A stale cache can
    // only say "none" for an opened workload, and opening is idempotent.
    if ((await loadState(deps.store, workloadDecider, workloadStream(event.data.workloadId), { cached: true })).status !== 'none') return;
    await openWorkload(deps, caller, event.data, recorded.metadata.commandId, Date.parse(recorded.metadata.occurredAt));
  },
});
