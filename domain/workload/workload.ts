/**
 * The workload: opened from a quota reservation (the customer's decision to admit it), then
 * carried through its lifecycle, each step an event:
 *
 *   queued → allocated (which GPUs, why: the score) → running (started: at once from warm GPUs,
 *   after the model loads from cold ones) → completed | failed | cancelled; or, while allocated or
 *   running, preempted (by a P1, for demand response) or interrupted (a GPU failed or went out of
 *   service) → back in the queue, keeping its place by age, checkpointed: it resumes as a new run
 *   for the time it has left.
 *
 * Each run that started ends in an event that carries its usage (the run's billing: seconds,
 * rate, amount, metering.ts) and the SLA breaches that belong to it, so billing needs nothing
 * else. P1 is never preempted (invariant 3): only a GPU fault moves it. Time comes in the
 * commands (`at`, epoch ms), as do the draws of the serving model (serving.ts).
 */
import { accept, reject, type Decider, type DomainEvent } from '../decider.ts';
import { billedSecondsOf, lineAmount, type RunEnd, type RunUsage } from '../billing/metering.ts';
export type { RunUsage };
import { availabilityBreach, latencyBreach, queueWaitBreach, type SlaBreach } from '../billing/sla.ts';
import { iso } from '../time.ts';
import type { Classification } from './classify.ts';
import type { Priority, WorkloadRequest } from './request.ts';
import { servingMetrics, type ServingMetrics } from './serving.ts';

export const workloadStream = (workloadId: string) => `workload-${workloadId}`;

export const WORKLOAD_STATUSES = ['queued', 'allocated', 'running', 'preempted', 'completed', 'failed', 'cancelled'] as const;
export type WorkloadStatus = (typeof WORKLOAD_STATUSES)[number];

export const TERMINAL: ReadonlySet<WorkloadStatus> = new Set(['completed', 'failed', 'cancelled']);
/** Waiting for GPUs: queued the first time, preempted (or interrupted) since. */
export const WAITING: ReadonlySet<WorkloadStatus> = new Set(['queued', 'preempted']);
/** Holding GPUs. */
export const ON_GPUS: ReadonlySet<WorkloadStatus> = new Set(['allocated', 'running']);

/** Why the platform took a run off its GPUs. */
export type PreemptionCause = 'p1' | 'demand_response';
export type InterruptionCause = 'gpu_failed' | 'out_of_service';

export type Allocation = {
  run: number;
  facilityId: string;
  resourceId: string;
  gpuIds: string[];
  /** The placement's score and why (placement.ts). */
  score: number;
  reason: string;
  warm: boolean;
  rateMicroUsdPerGpuHour: number;
  priceListVersion: number;
};

type RunEndData = { workloadId: string; run: number; at: string; usage: RunUsage | null };

export type WorkloadEvent =
  | DomainEvent<
      'WorkloadSubmitted',
      { workloadId: string; customerId: string; request: WorkloadRequest; reservedGpuSeconds: number; reservedBudgetMicroUsd: number; reservedRateMicroUsdPerGpuHour?: number }
    >
  | DomainEvent<'WorkloadClassified', { workloadId: string; priority: Priority; reason: string }>
  | DomainEvent<'WorkloadQueued', { workloadId: string; priority: Priority; at?: string }>
  | DomainEvent<'ResourcesAllocated', Allocation & { workloadId: string; allocatedAt: string; startsAt: string; waitedMs: number }>
  | DomainEvent<'WorkloadStarted', { workloadId: string; run: number; startedAt: string; runEndsAt: string }>
  | DomainEvent<'SlaBreached', SlaBreach & { workloadId: string; customerId: string; at: string }>
  | DomainEvent<'WorkloadCompleted', RunEndData & { metrics: (ServingMetrics & { availability: number }) | null; billed?: true }>
  | DomainEvent<'WorkloadPreempted', RunEndData & { cause: PreemptionCause; reason: string; remainingSeconds: number }>
  | DomainEvent<'WorkloadInterrupted', RunEndData & { cause: InterruptionCause; reason: string; remainingSeconds: number }>
  | DomainEvent<'WorkloadFailed', RunEndData & { customerId: string; reason: string; previousStatus: WorkloadStatus }>
  | DomainEvent<'WorkloadCancelled', { workloadId: string; customerId: string; reason: string; previousStatus: WorkloadStatus; at?: string; run?: number; usage?: RunUsage | null }>;

export type WorkloadCommand =
  | {
      type: 'OpenWorkload';
      workloadId: string;
      customerId: string;
      request: WorkloadRequest;
      classification: Classification;
      reservedGpuSeconds: number;
      reservedBudgetMicroUsd: number;
      /** The rate the reservation was made at. */
      reservedRateMicroUsdPerGpuHour?: number;
      at?: number;
    }
  /** `customerId` is the customer asking; absent when staff cancel. */
  | { type: 'CancelWorkload'; customerId?: string; reason: string; at?: number }
  | (Omit<Allocation, 'run'> & { type: 'AllocateRun'; run: number; at: number; startupMs: number })
  | { type: 'StartRun'; run: number; at: number }
  /** `draws`: two numbers in [0, 1) for the serving model; `degraded`: it ran on a degraded GPU. */
  /** `billed`: the run's bill is appended with its end, all or none (its event says so, and metering leaves it be). */
  | { type: 'CompleteRun'; run: number; at: number; draws: readonly [number, number]; degraded: boolean; billed?: true }
  | { type: 'PreemptRun'; run: number; at: number; cause: PreemptionCause; reason: string }
  | { type: 'InterruptRun'; run: number; at: number; cause: InterruptionCause; reason: string }
  | { type: 'FailWorkload'; at: number; reason: string };

type Current = Allocation & { allocatedAtMs: number; startsAtMs: number; startedAtMs: number | undefined; runEndsAtMs: number | undefined };

export type ActiveWorkload = {
  status: WorkloadStatus;
  workloadId: string;
  customerId: string;
  priority: Priority | undefined;
  request: WorkloadRequest;
  reservedGpuSeconds: number;
  reservedBudgetMicroUsd: number;
  /** When it first entered the queue (its place by age), and when it last did (its wait). */
  firstQueuedAtMs: number | undefined;
  queuedAtMs: number | undefined;
  /** The number of its latest run (0 before the first). */
  run: number;
  current: Current | undefined;
  /** Seconds it has run, over all runs (checkpointed: a resumed run runs only the rest). */
  ranSeconds: number;
  /** Seconds billed per GPU, and their cost, over all runs. */
  billedSeconds: number;
  billedMicroUsd: number;
  /** The current run's breaches not yet billed. */
  breaches: SlaBreach[];
  /** P1 availability: seconds it was off its GPUs after a fault, and since when it is. */
  interruptedSeconds: number;
  interruptedAtMs: number | undefined;
};

export type WorkloadState = { status: 'none' } | ActiveWorkload;

const CANCELLABLE: ReadonlySet<WorkloadStatus> = new Set(['queued', 'allocated', 'running', 'preempted']);

const ms = (t: string | undefined) => (t === undefined ? undefined : Date.parse(t));

/** Seconds the workload still has to run. */
export const remainingSeconds = (s: ActiveWorkload) => Math.max(0, s.request.durationSeconds - s.ranSeconds);

/** Seconds the current run has run at `atMs` (0 before it started). */
const ranSoFar = (s: ActiveWorkload, atMs: number) =>
  s.current?.startedAtMs === undefined ? 0 : Math.max(0, Math.min(Math.floor((atMs - s.current.startedAtMs) / 1000), remainingSeconds(s)));

const endOfRun = (s: ActiveWorkload, usage: RunUsage | null): Partial<ActiveWorkload> => ({
  current: undefined,
  breaches: [],
  ranSeconds: s.ranSeconds + (usage?.ranSeconds ?? 0),
  billedSeconds: s.billedSeconds + (usage?.billedSeconds ?? 0),
  billedMicroUsd: s.billedMicroUsd + (usage?.amountMicroUsd ?? 0),
});

const evolve = (state: WorkloadState, event: WorkloadEvent): WorkloadState => {
  if (event.type === 'WorkloadSubmitted')
    return {
      status: 'queued',
      workloadId: event.data.workloadId,
      customerId: event.data.customerId,
      priority: undefined,
      request: event.data.request,
      reservedGpuSeconds: event.data.reservedGpuSeconds,
      reservedBudgetMicroUsd: event.data.reservedBudgetMicroUsd,
      firstQueuedAtMs: undefined,
      queuedAtMs: undefined,
      run: 0,
      current: undefined,
      ranSeconds: 0,
      billedSeconds: 0,
      billedMicroUsd: 0,
      breaches: [],
      interruptedSeconds: 0,
      interruptedAtMs: undefined,
    };
  if (state.status === 'none') return state;
  switch (event.type) {
    case 'WorkloadClassified':
      return { ...state, priority: event.data.priority };
    case 'WorkloadQueued': {
      const at = ms(event.data.at);
      return { ...state, status: 'queued', queuedAtMs: at, firstQueuedAtMs: state.firstQueuedAtMs ?? at };
    }
    case 'ResourcesAllocated': {
      const { workloadId: _w, allocatedAt, startsAt, waitedMs: _wait, ...allocation } = event.data;
      const current: Current = { ...allocation, allocatedAtMs: Date.parse(allocatedAt), startsAtMs: Date.parse(startsAt), startedAtMs: undefined, runEndsAtMs: undefined };
      return { ...state, status: 'allocated', run: allocation.run, current };
    }
    case 'WorkloadStarted': {
      if (!state.current) return state;
      const startedAtMs = Date.parse(event.data.startedAt);
      const back = state.interruptedAtMs === undefined ? 0 : Math.max(0, Math.round((startedAtMs - state.interruptedAtMs) / 1000));
      return {
        ...state,
        status: 'running',
        current: { ...state.current, startedAtMs, runEndsAtMs: Date.parse(event.data.runEndsAt) },
        interruptedSeconds: state.interruptedSeconds + back,
        interruptedAtMs: undefined,
      };
    }
    case 'SlaBreached': {
      const { workloadId: _w, customerId: _c, at: _at, ...breach } = event.data;
      return { ...state, breaches: [...state.breaches, breach] };
    }
    case 'WorkloadCompleted':
      return { ...state, ...endOfRun(state, event.data.usage), status: 'completed' };
    case 'WorkloadPreempted':
    case 'WorkloadInterrupted': {
      const at = Date.parse(event.data.at);
      return {
        ...state,
        ...endOfRun(state, event.data.usage),
        status: 'preempted',
        queuedAtMs: at,
        // only a fault counts against availability (a P1 is never preempted)
        interruptedAtMs: event.type === 'WorkloadInterrupted' ? at : state.interruptedAtMs,
      };
    }
    case 'WorkloadFailed':
      return { ...state, ...endOfRun(state, event.data.usage), status: 'failed' };
    case 'WorkloadCancelled':
      return { ...state, ...endOfRun(state, event.data.usage ?? null), status: 'cancelled' };
  }
};

/** Whether the workload exists and, when a customer asks, is theirs. */
export const isWorkloadOf = (state: WorkloadState, customerId: string | undefined): state is ActiveWorkload =>
  state.status !== 'none' && (customerId === undefined || state.customerId === customerId);

/** The usage of the current run ending at `atMs` (null if it never started). */
const usageOf = (s: ActiveWorkload, atMs: number, endedBy: RunEnd, final: boolean, extra: readonly SlaBreach[] = []): RunUsage | null => {
  const c = s.current;
  if (!c || c.startedAtMs === undefined) return null;
  const ranSeconds = ranSoFar(s, atMs);
  const billedSeconds = billedSecondsOf({ ranSeconds, endedBy, billedBefore: s.billedSeconds, reservedSeconds: s.request.durationSeconds });
  const gpuSecondsBefore = s.billedSeconds * s.request.gpuCount;
  const gpuSeconds = billedSeconds * s.request.gpuCount;
  return {
    run: c.run,
    gpuType: s.request.gpuType,
    gpuCount: s.request.gpuCount,
    priority: s.priority ?? 'P3',
    model: s.request.model,
    startedAt: iso(c.startedAtMs),
    endedAt: iso(atMs),
    endedBy,
    ranSeconds,
    billedSeconds,
    gpuSeconds,
    gpuSecondsBefore,
    rateMicroUsdPerGpuHour: c.rateMicroUsdPerGpuHour,
    priceListVersion: c.priceListVersion,
    amountMicroUsd: lineAmount(c.rateMicroUsdPerGpuHour, gpuSecondsBefore, gpuSeconds),
    final,
    breaches: [...s.breaches, ...extra],
  };
};

const breachEvents = (s: ActiveWorkload, atMs: number, breaches: readonly SlaBreach[]): WorkloadEvent[] =>
  breaches.map((b) => ({ type: 'SlaBreached', data: { ...b, workloadId: s.workloadId, customerId: s.customerId, at: iso(atMs) } }));

const wrongRun = (s: ActiveWorkload, run: number) =>
  !s.current || s.current.run !== run ? reject<WorkloadEvent>('invalid_state', `run ${run} is not the current run (${s.current?.run ?? 'none'})`, 'run') : undefined;

const decide = (command: WorkloadCommand, state: WorkloadState) => {
  if (command.type === 'OpenWorkload') {
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
          ...(command.reservedRateMicroUsdPerGpuHour !== undefined ? { reservedRateMicroUsdPerGpuHour: command.reservedRateMicroUsdPerGpuHour } : {}),
        },
      },
      { type: 'WorkloadClassified', data: { workloadId, priority: classification.priority, reason: classification.reason } },
      { type: 'WorkloadQueued', data: { workloadId, priority: classification.priority, ...(command.at !== undefined ? { at: iso(command.at) } : {}) } },
    );
  }
  if (command.type === 'CancelWorkload') {
    // the same answer for "missing" and "someone else's": existence is not disclosed
    if (!isWorkloadOf(state, command.customerId)) return reject<WorkloadEvent>('not_found', 'workload not found', 'id');
    if (!CANCELLABLE.has(state.status)) return reject<WorkloadEvent>('invalid_state', `a ${state.status} workload cannot be cancelled`, 'id');
    const at = command.at;
    const usage = at !== undefined && ON_GPUS.has(state.status) ? usageOf(state, at, 'customer', true) : null;
    return accept<WorkloadEvent>({
      type: 'WorkloadCancelled',
      data: {
        workloadId: state.workloadId,
        customerId: state.customerId,
        reason: command.reason,
        previousStatus: state.status,
        ...(at !== undefined ? { at: iso(at) } : {}),
        ...(state.current ? { run: state.current.run, usage } : {}),
      },
    });
  }
  if (state.status === 'none') return reject<WorkloadEvent>('not_found', 'workload not found', 'workloadId');
  const priority = state.priority ?? 'P3';
  switch (command.type) {
    case 'AllocateRun': {
      if (!WAITING.has(state.status)) return state.current?.run === command.run ? accept<WorkloadEvent>() : reject<WorkloadEvent>('invalid_state', `a ${state.status} workload is not waiting for GPUs`, 'workloadId');
      if (command.run !== state.run + 1) return reject<WorkloadEvent>('invalid_state', `the next run is ${state.run + 1}`, 'run');
      if (command.gpuIds.length !== state.request.gpuCount) return reject<WorkloadEvent>('invalid_input', `needs ${state.request.gpuCount} GPUs, given ${command.gpuIds.length}`, 'gpuIds');
      const waitedMs = Math.max(0, command.at - (state.queuedAtMs ?? command.at));
      const breach = queueWaitBreach(priority, command.run, waitedMs);
      const { type: _t, at, startupMs, ...allocation } = command;
      const allocated: WorkloadEvent = {
        type: 'ResourcesAllocated',
        data: { ...allocation, workloadId: state.workloadId, allocatedAt: iso(at), startsAt: iso(at + startupMs), waitedMs },
      };
      // a warm start is a matter of milliseconds: the run starts with its allocation
      const started: WorkloadEvent[] = command.warm
        ? [{ type: 'WorkloadStarted', data: { workloadId: state.workloadId, run: command.run, startedAt: iso(at + startupMs), runEndsAt: iso(at + startupMs + remainingSeconds(state) * 1000) } }]
        : [];
      return accept<WorkloadEvent>(allocated, ...(breach ? breachEvents(state, at, [breach]) : []), ...started);
    }
    case 'StartRun': {
      if (state.status === 'running' && state.current?.run === command.run) return accept<WorkloadEvent>();
      const wrong = wrongRun(state, command.run);
      if (wrong) return wrong;
      if (state.status !== 'allocated') return reject<WorkloadEvent>('invalid_state', `a ${state.status} workload cannot start`, 'workloadId');
      return accept<WorkloadEvent>({
        type: 'WorkloadStarted',
        data: { workloadId: state.workloadId, run: command.run, startedAt: iso(command.at), runEndsAt: iso(command.at + remainingSeconds(state) * 1000) },
      });
    }
    case 'CompleteRun': {
      const wrong = wrongRun(state, command.run);
      if (wrong) return state.status === 'completed' ? accept<WorkloadEvent>() : wrong;
      if (state.status !== 'running') return reject<WorkloadEvent>('invalid_state', `a ${state.status} workload cannot complete`, 'workloadId');
      const current = state.current!;
      const at = Math.max(command.at, current.runEndsAtMs!);
      const ran = ranSoFar(state, at);
      const inference = state.request.type !== 'model_training';
      const serving = inference ? servingMetrics({ gpuType: state.request.gpuType, model: state.request.model, gpuCount: state.request.gpuCount, seconds: ran, degraded: command.degraded, draws: command.draws }) : null;
      const lifetime = state.ranSeconds + ran + state.interruptedSeconds;
      const availability = lifetime > 0 ? (state.ranSeconds + ran) / lifetime : 1;
      const breaches =
        priority === 'P1' && serving
          ? [latencyBreach(command.run, serving.p99Ms, state.request.maxLatencyMs ?? Infinity), availabilityBreach(command.run, availability)].filter((b): b is SlaBreach => b !== undefined)
          : [];
      const usage = usageOf(state, at, 'completion', true, breaches);
      return accept<WorkloadEvent>(...breachEvents(state, at, breaches), {
        type: 'WorkloadCompleted',
        data: { workloadId: state.workloadId, run: command.run, at: iso(at), usage, metrics: serving ? { ...serving, availability } : null, ...(command.billed ? { billed: true as const } : {}) },
      });
    }
    case 'PreemptRun':
    case 'InterruptRun': {
      const wrong = wrongRun(state, command.run);
      if (wrong) return WAITING.has(state.status) || TERMINAL.has(state.status) ? accept<WorkloadEvent>() : wrong;
      if (!ON_GPUS.has(state.status)) return accept<WorkloadEvent>();
      // invariant 3: P1 is never preempted; only a fault moves it
      if (command.type === 'PreemptRun' && priority === 'P1') return reject<WorkloadEvent>('invalid_state', 'a P1 workload is never preempted', 'workloadId');
      const usage = usageOf(state, command.at, 'platform', false);
      const remaining = remainingSeconds(state) - (usage?.ranSeconds ?? 0);
      const base = { workloadId: state.workloadId, run: command.run, at: iso(command.at), usage, reason: command.reason, remainingSeconds: remaining };
      return accept<WorkloadEvent>(
        command.type === 'PreemptRun' ? { type: 'WorkloadPreempted', data: { ...base, cause: command.cause } } : { type: 'WorkloadInterrupted', data: { ...base, cause: command.cause } },
      );
    }
    case 'FailWorkload': {
      if (TERMINAL.has(state.status)) return accept<WorkloadEvent>();
      const usage = ON_GPUS.has(state.status) ? usageOf(state, command.at, 'platform', true) : null;
      return accept<WorkloadEvent>({
        type: 'WorkloadFailed',
        data: { workloadId: state.workloadId, customerId: state.customerId, run: state.current?.run ?? state.run, at: iso(command.at), usage, reason: command.reason, previousStatus: state.status },
      });
    }
  }
};

export const workloadDecider: Decider<WorkloadCommand, WorkloadEvent, WorkloadState> = {
  initialState: () => ({ status: 'none' }),
  evolve,
  decide,
};
