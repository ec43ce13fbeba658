/**
 * Workload submission and cancellation, across two streams. The customer's
 * QuotaReserved is the commit point of a submission; opening the workload stream
 * follows from it with a command id derived from the workload id, so it is
 * idempotent and the workload-quota process manager can finish it after a crash.
 * Cancelling is the mirror: WorkloadCancelled first, then (billing the run if it was
 * running) the quota release.
 */
import { customerDecider, customerStream, type CustomerEvent } from '../domain/customer/customer.ts';
import type { WorkloadRequest } from '../domain/workload/request.ts';
import { isWorkloadOf, workloadDecider, workloadStream } from '../domain/workload/workload.ts';
import { accepted, contextFor, type Caller, type CommandDeps } from './context.ts';
import { handleCommand, loadState } from './handle.ts';
import { handleTogetherGrouped } from './group-commit.ts';
import { confirmStep } from './quota.ts';
import { settleRunEnd } from './billing/metering.ts';
import { CommandRejectedError } from './errors.ts';
import { loadPriceList, ratesAt } from './price-list.ts';
import { largestGpuPools } from './fleet.ts';

type QuotaReserved = Extract<CustomerEvent, { type: 'QuotaReserved' }>;

export const openWorkloadCommandId = (workloadId: string) => `open-workload:${workloadId}`;

/** The command that opens the workload stream for a reservation, queued from `atMs`. */
const openCommand = (reserved: QuotaReserved['data'], atMs: number) => ({
  type: 'OpenWorkload' as const,
  workloadId: reserved.workloadId,
  customerId: reserved.customerId,
  request: reserved.request,
  classification: reserved.classification,
  reservedGpuSeconds: reserved.gpuSeconds,
  reservedBudgetMicroUsd: reserved.budgetMicroUsd,
  ...(reserved.rateMicroUsdPerGpuHour !== undefined ? { reservedRateMicroUsdPerGpuHour: reserved.rateMicroUsdPerGpuHour } : {}),
  at: atMs,
});

/** A workload's opening events carry the moment it was submitted, the time it is queued from (not a later moment of the append). */
const openedAt = <C extends { now: () => Date }>(context: C, atMs: number): C => ({ ...context, now: () => new Date(atMs) });

/** Opens the workload stream for a reservation (queued from `atMs`, the reservation's time); a no-op when it is open already. */
export const openWorkload = async (deps: CommandDeps, caller: Caller, reserved: QuotaReserved['data'], causationId: string, atMs: number) =>
  confirmStep(
    await handleCommand(
      deps.store,
      workloadDecider,
      workloadStream(reserved.workloadId),
      openCommand(reserved, atMs),
      openedAt(contextFor(deps, caller, openWorkloadCommandId(reserved.workloadId), causationId), atMs),
    ),
    openWorkloadCommandId(reserved.workloadId),
    'the opening of the workload',
    (e) => e.type === 'WorkloadSubmitted' && e.data.workloadId === reserved.workloadId,
  );

export const submitWorkload = async (deps: CommandDeps, caller: Caller, input: { customerId: string; request: WorkloadRequest }) => {
  const atMs = deps.clock.now().getTime();
  // a gang runs in one pool: one larger than every pool of its type could never run (before any
  // fleet is registered nothing is known, and the scheduler fails it later if need be)
  const largest = await largestGpuPools(deps);
  const { gpuType, gpuCount } = input.request;
  if (largest.size > 0 && gpuCount > (largest.get(gpuType) ?? 0))
    throw new CommandRejectedError({
      code: 'invalid_input',
      message: largest.has(gpuType) ? `a gang runs in one pool, and the largest ${gpuType} pool has ${largest.get(gpuType)} GPUs (${gpuCount} asked)` : `the fleet has no ${gpuType} pool`,
      field: largest.has(gpuType) ? 'gpuCount' : 'gpuType',
    });
  // reserved at the price list's rates now; a run rated higher later extends its reservation first
  // (a version set by another process a moment ago may be missed: the run is rated at its start anyway)
  const rates = ratesAt(await loadPriceList(deps, { cached: true }), input.request.gpuType, atMs);
  const workloadId = deps.ids.id('w');
  const reserveQuota = { type: 'ReserveQuota' as const, workloadId, request: input.request, rates };
  // the usual case, in one round trip: the reservation and the workload it opens, together
  const together = await handleTogetherGrouped(deps.store, [
    { decider: customerDecider, streamName: customerStream(input.customerId), command: reserveQuota, context: contextFor(deps, caller) },
    {
      decider: workloadDecider,
      streamName: workloadStream(workloadId),
      follows: (decided) => {
        // grouped with other submissions, the reservations of others come before it too
        const reserved = decided.find((e): e is QuotaReserved => e.type === 'QuotaReserved' && e.data.workloadId === workloadId);
        return reserved && openCommand(reserved.data, atMs);
      },
      context: openedAt(contextFor(deps, caller, openWorkloadCommandId(workloadId), caller.commandId), atMs),
    },
  ]);
  if (together) return { workloadId, position: together[1]!.position };
  // otherwise step by step, which tells apart a repeat, a refusal and a conflict
  const reserve = accepted(await handleCommand(deps.store, customerDecider, customerStream(input.customerId), reserveQuota, contextFor(deps, caller)));
  const reserved = reserve.events.find((e): e is QuotaReserved => e.type === 'QuotaReserved');
  // the command id was used before for another command on this customer (a grant, say): its first result is not a reservation
  if (!reserved) throw new CommandRejectedError({ code: 'already_exists', message: 'this command id was already used for another command', field: 'commandId' });
  const opened = accepted(await openWorkload(deps, caller, reserved.data, caller.commandId, atMs));
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
      { type: 'CancelWorkload', reason: input.reason, at: deps.clock.now().getTime(), ...(input.customerId ? { customerId: input.customerId } : {}) },
      contextFor(deps, caller),
    ),
  );
  const event = cancelled.events.find((e) => e.type === 'WorkloadCancelled');
  if (event?.type !== 'WorkloadCancelled') return { position: cancelled.position };
  // a running workload is billed for the time it ran, then the rest of its reservation goes back
  const settled = await settleRunEnd(deps, event, caller.correlationId);
  return { position: settled?.position ?? cancelled.position };
};
