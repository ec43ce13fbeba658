/**
 * The workload: opened from a quota reservation (the customer's decision to admit
 * it), then carried through its lifecycle. This slice queues and cancels; later
 * issues add allocation, running, preemption, completion and billing, so the
 * status machine below already names those states and their allowed moves.
 */
import { accept, reject, type Decider, type DomainEvent } from '../decider.ts';
import type { Classification } from './classify.ts';
import type { Priority, WorkloadRequest } from './request.ts';

export const workloadStream = (workloadId: string) => `workload-${workloadId}`;

export const WORKLOAD_STATUSES = [
  'queued',
  'allocated',
  'running',
  'preempted',
  'completed',
  'failed',
  'cancelled',
] as const;
export type WorkloadStatus = (typeof WORKLOAD_STATUSES)[number];

/** Statuses a workload may be cancelled from (a running one is stopped and billed for time used: a later issue). */
const CANCELLABLE: ReadonlySet<WorkloadStatus> = new Set(['queued', 'allocated', 'preempted']);
export const TERMINAL: ReadonlySet<WorkloadStatus> = new Set(['completed', 'failed', 'cancelled']);

export type WorkloadEvent =
  | DomainEvent<
      'WorkloadSubmitted',
      { workloadId: string; customerId: string; request: WorkloadRequest; reservedGpuSeconds: number; reservedBudgetMicroUsd: number }
    >
  | DomainEvent<'WorkloadClassified', { workloadId: string; priority: Priority; reason: string }>
  | DomainEvent<'WorkloadQueued', { workloadId: string; priority: Priority }>
  | DomainEvent<'WorkloadCancelled', { workloadId: string; customerId: string; reason: string; previousStatus: WorkloadStatus }>;

export type WorkloadCommand =
  | {
      type: 'OpenWorkload';
      workloadId: string;
      customerId: string;
      request: WorkloadRequest;
      classification: Classification;
      reservedGpuSeconds: number;
      reservedBudgetMicroUsd: number;
    }
  /** `customerId` is the customer asking; absent when staff cancel. */
  | { type: 'CancelWorkload'; customerId?: string; reason: string };

export type WorkloadState =
  | { status: 'none' }
  | { status: WorkloadStatus; workloadId: string; customerId: string; priority: Priority | undefined };

const evolve = (state: WorkloadState, event: WorkloadEvent): WorkloadState => {
  switch (event.type) {
    case 'WorkloadSubmitted':
      return { status: 'queued', workloadId: event.data.workloadId, customerId: event.data.customerId, priority: undefined };
    case 'WorkloadClassified':
      return state.status === 'none' ? state : { ...state, priority: event.data.priority };
    case 'WorkloadQueued':
      return state.status === 'none' ? state : { ...state, status: 'queued' };
    case 'WorkloadCancelled':
      return state.status === 'none' ? state : { ...state, status: 'cancelled' };
  }
};

/** Whether the workload exists and, when a customer asks, is theirs. */
export const isWorkloadOf = (state: WorkloadState, customerId: string | undefined): state is Exclude<WorkloadState, { status: 'none' }> =>
  state.status !== 'none' && (customerId === undefined || state.customerId === customerId);

const decide = (command: WorkloadCommand, state: WorkloadState) => {
  switch (command.type) {
    case 'OpenWorkload': {
      if (state.status !== 'none') return reject<WorkloadEvent>('already_exists', `workload ${command.workloadId} exists`);
      const { workloadId, customerId, classification } = command;
      return accept<WorkloadEvent>(
        {
          type: 'WorkloadSubmitted',
          data: {
            workloadId,
            customerId,
            request: command.request,
            reservedGpuSeconds: command.reservedGpuSeconds,
            reservedBudgetMicroUsd: command.reservedBudgetMicroUsd,
          },
        },
        { type: 'WorkloadClassified', data: { workloadId, priority: classification.priority, reason: classification.reason } },
        { type: 'WorkloadQueued', data: { workloadId, priority: classification.priority } },
      );
    }
    case 'CancelWorkload': {
      // the same answer for "missing" and "someone else's": existence is not disclosed
      if (!isWorkloadOf(state, command.customerId)) return reject<WorkloadEvent>('not_found', 'workload not found', 'id');
      if (!CANCELLABLE.has(state.status))
        return reject<WorkloadEvent>('invalid_state', `a ${state.status} workload cannot be cancelled`, 'id');
      return accept<WorkloadEvent>({
        type: 'WorkloadCancelled',
        data: { workloadId: state.workloadId, customerId: state.customerId, reason: command.reason, previousStatus: state.status },
      });
    }
  }
};

export const workloadDecider: Decider<WorkloadCommand, WorkloadEvent, WorkloadState> = {
  initialState: () => ({ status: 'none' }),
  evolve,
  decide,
};
