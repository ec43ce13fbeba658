/**
 * Workload submission and cancellation, across two streams. The customer's
 * QuotaReserved is the commit point of a submission; opening the workload stream
 * follows from it with a command id derived from the workload id, so it is
 * idempotent and the workload-quota process manager can finish it after a crash.
 * Cancelling is the mirror: WorkloadCancelled first, then the quota release.
 */
import { customerDecider, customerStream, type CustomerEvent } from '../domain/customer/customer.ts';
import type { WorkloadRequest } from '../domain/workload/request.ts';
import { isWorkloadOf, workloadDecider, workloadStream } from '../domain/workload/workload.ts';
import { accepted, contextFor, type Caller, type CommandDeps } from './context.ts';
import { handleCommand, loadState, type Handled } from './handle.ts';
import { CommandRejectedError } from './errors.ts';

type QuotaReserved = Extract<CustomerEvent, { type: 'QuotaReserved' }>;

export const openWorkloadCommandId = (workloadId: string) => `open-workload:${workloadId}`;
export const releaseQuotaCommandId = (workloadId: string) => `release-quota:${workloadId}`;

/** A step's command id found handled already must have done this step: anything else is a collision, never success. */
export class StepNotTakenError extends Error {
  readonly type = 'step_not_taken' as const;
  constructor(readonly commandId: string, step: string) {
    super(`command id ${commandId} was handled already, but not as ${step}: the step was not taken`);
    this.name = 'StepNotTakenError';
  }
}

const confirmStep = <E extends { type: string; data: Record<string, unknown> }>(handled: Handled<E>, commandId: string, step: string, did: (e: E) => boolean) => {
  if (handled.type === 'accepted' && handled.duplicate && !handled.events.some(did)) throw new StepNotTakenError(commandId, step);
  return handled;
};

/** Opens the workload stream for a reservation; a no-op when it is open already. */
export const openWorkload = async (deps: CommandDeps, caller: Caller, reserved: QuotaReserved['data'], causationId: string) =>
  confirmStep(
    await handleCommand(
      deps.store,
      workloadDecider,
      workloadStream(reserved.workloadId),
      {
        type: 'OpenWorkload',
        workloadId: reserved.workloadId,
        customerId: reserved.customerId,
        request: reserved.request,
        classification: reserved.classification,
        reservedGpuSeconds: reserved.gpuSeconds,
        reservedBudgetMicroUsd: reserved.budgetMicroUsd,
      },
      contextFor(deps, caller, openWorkloadCommandId(reserved.workloadId), causationId),
    ),
    openWorkloadCommandId(reserved.workloadId),
    'the opening of the workload',
    (e) => e.type === 'WorkloadSubmitted' && e.data.workloadId === reserved.workloadId,
  );

export const releaseQuota = async (
  deps: CommandDeps,
  caller: Caller,
  input: { customerId: string; workloadId: string; reason: string },
  causationId: string,
) =>
  confirmStep(
    await handleCommand(
      deps.store,
      customerDecider,
      customerStream(input.customerId),
      { type: 'ReleaseQuota', workloadId: input.workloadId, reason: input.reason },
      contextFor(deps, caller, releaseQuotaCommandId(input.workloadId), causationId),
    ),
    releaseQuotaCommandId(input.workloadId),
    'the release of its quota',
    (e) => (e.type === 'QuotaReleased' || e.type === 'QuotaConsumed') && e.data.workloadId === input.workloadId,
  );

export const submitWorkload = async (deps: CommandDeps, caller: Caller, input: { customerId: string; request: WorkloadRequest }) => {
  const reserve = accepted(
    await handleCommand(
      deps.store,
      customerDecider,
      customerStream(input.customerId),
      { type: 'ReserveQuota', workloadId: deps.ids.id('w'), request: input.request },
      contextFor(deps, caller),
    ),
  );
  const reserved = reserve.events.find((e): e is QuotaReserved => e.type === 'QuotaReserved');
  // the command id was used before for another command on this customer (a grant, say): its first result is not a reservation
  if (!reserved) throw new CommandRejectedError({ code: 'already_exists', message: 'this command id was already used for another command', field: 'commandId' });
  const opened = accepted(await openWorkload(deps, caller, reserved.data, caller.commandId));
  return { workloadId: reserved.data.workloadId, position: opened.position ?? reserve.position };
};

export const cancelWorkload = async (
  deps: CommandDeps,
  caller: Caller,
  input: { workloadId: string; customerId?: string; reason: string },
) => {
  // ownership first: a command id another customer used on this workload must not answer
  // differently from any other id (the pipeline matches ids before the decider runs)
  if (input.customerId && !isWorkloadOf(await loadState(deps.store, workloadDecider, workloadStream(input.workloadId)), input.customerId))
    throw new CommandRejectedError({ code: 'not_found', message: 'workload not found', field: 'id' });
  const cancelled = accepted(
    await handleCommand(
      deps.store,
      workloadDecider,
      workloadStream(input.workloadId),
      { type: 'CancelWorkload', reason: input.reason, ...(input.customerId ? { customerId: input.customerId } : {}) },
      contextFor(deps, caller),
    ),
  );
  const event = cancelled.events.find((e) => e.type === 'WorkloadCancelled');
  if (event?.type !== 'WorkloadCancelled') return { position: cancelled.position };
  const released = accepted(
    await releaseQuota(deps, caller, { customerId: event.data.customerId, workloadId: input.workloadId, reason: 'cancelled' }, caller.commandId),
  );
  return { position: released.position ?? cancelled.position };
};
