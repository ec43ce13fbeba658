/**
 * A step the platform takes for a workload on its customer's account, and the check every such
 * step makes: a step's command id found handled already must have done this step.
 */
import { customerDecider, customerStream } from '../domain/customer/customer.ts';
import { contextFor, type Caller, type CommandDeps } from './context.ts';
import { handleCommand, type Handled } from './handle.ts';

export const releaseQuotaCommandId = (workloadId: string) => `release-quota:${workloadId}`;

/** A step's command id found handled already must have done this step: anything else is a collision, never success. */
export class StepNotTakenError extends Error {
  readonly type = 'step_not_taken' as const;
  constructor(readonly commandId: string, step: string) {
    super(`command id ${commandId} was handled already, but not as ${step}: the step was not taken`);
    this.name = 'StepNotTakenError';
  }
}

export const confirmStep = <E extends { type: string; data: Record<string, unknown> }>(handled: Handled<E>, commandId: string, step: string, did: (e: E) => boolean) => {
  if (handled.type === 'accepted' && handled.duplicate && !handled.events.some(did)) throw new StepNotTakenError(commandId, step);
  return handled;
};

/** Gives back what is left of a workload's reservation (a no-op once released). */
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

