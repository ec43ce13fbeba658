/**
 * A resource: an ASIC group or a GPU pool at a facility. It holds its mode, what
 * it serves, and at most one switch in flight, whose phases must complete in
 * order (invariant 4). A GPU pool allocates its GPUs one by one (gpu-pool.ts); its mode
 * is its power envelope, and it never switches to one too small for the GPUs it has
 * powered, so a GPU serving a workload keeps its power until the workload releases it.
 */
import { accept, reject, type Decider, type DomainEvent } from '../decider.ts';
import type { AsicModel } from '../fleet/inventory.ts';
import type { GpuType } from '../workload/request.ts';
import { switchOverBudget } from './power.ts';
import { FACILITY_PHASES, modeFits, phasesFor, phaseTotals, type ResourceKind, type ResourceMode, type SwitchPhase } from './switching.ts';
import { decidePool, evolvePool, initialPoolGpus, isGpuPoolCommand, poweredCapacity, poweredCount, type GpuPoolCommand, type GpuPoolEvent, type GpuPoolState } from './gpu-pool.ts';
import { emptyMap, removeFrom, setIn, type PersistentMap } from '../persistent-map.ts';

export const resourceStream = (resourceId: string) => `resource-${resourceId}`;

export type ResourceSpec = {
  resourceId: string;
  facilityId: string;
  kind: ResourceKind;
  /** ASIC model or GPU type. */
  model: AsicModel | GpuType;
  units: number;
  powerWPerUnit: number;
  /** ASIC groups only. */
  hashrateThsPerUnit: number | null;
  /** GPU pools only: GPUs held warm for real-time inference (activation in milliseconds, not a cold load). */
  warmStandbyUnits?: number;
  mode: ResourceMode;
};

export type SwitchInFlight = {
  switchId: string;
  from: ResourceMode;
  to: ResourceMode;
  phases: SwitchPhase[];
  done: number;
  /** Set when this switch is a resource's part of a power handover (handover.ts), which drives it. */
  handoverId?: string;
};

export type ResourceEvent =
  | DomainEvent<'ResourceRegistered', ResourceSpec>
  /** The whole resource's health (a device that did not go back when rolled back); a GPU's is in GpuPoolEvent. */
  | DomainEvent<'ResourceHealthChanged', { resourceId: string; healthy: boolean; reason: string; gpuId?: undefined }>
  | GpuPoolEvent
  | DomainEvent<
      'ModeSwitchRequested',
      { resourceId: string; switchId: string; from: ResourceMode; to: ResourceMode; phases: SwitchPhase[]; reason: string; handoverId?: string }
    >
  | DomainEvent<'SwitchPhaseCompleted', { resourceId: string; switchId: string; phase: SwitchPhase; index: number; durationMs: number }>
  | DomainEvent<'ModeSwitched', { resourceId: string; switchId: string; from: ResourceMode; to: ResourceMode; controlPathMs: number; physicalMs: number }>
  | DomainEvent<'SwitchFailed', { resourceId: string; switchId: string; phase: SwitchPhase; reason: string; rolledBackTo: ResourceMode }>;

export type ResourceCommand =
  | { type: 'RegisterResource'; spec: ResourceSpec }
  | { type: 'SetHealth'; healthy: boolean; reason: string }
  | GpuPoolCommand
  | {
      type: 'RequestSwitch';
      switchId: string;
      to: ResourceMode;
      reason: string;
      handoverId?: string;
      /** Only from this mode (a handover checked it when it was requested). */
      expectedFrom?: ResourceMode;
      /** The facility's power ledger as the handler read it: a switch that draws more must fit the budget (handovers check their own). */
      power?: { committedDrawKw: number; powerBudgetKw: number };
    }
  | { type: 'CompletePhase'; switchId: string; phase: SwitchPhase; durationMs: number }
  | { type: 'FailSwitch'; switchId: string; phase: SwitchPhase; reason: string };

export type ResourceState =
  | { status: 'unregistered' }
  | {
      status: 'registered';
      spec: ResourceSpec;
      mode: ResourceMode;
      healthy: boolean;
      /** Workload → units allocated (persistent: see gpu-pool.ts's holders). */
      allocations: PersistentMap<number>;
      inFlight: SwitchInFlight | undefined;
      /** Durations of the completed phases of the switch in flight. */
      durations: Partial<Record<SwitchPhase, number>>;
      /** An ASIC block whose power a handover gave to GPUs: only a handover gives it back. */
      heldByHandover: string | undefined;
      /** How the last switch ended, with its phase durations (a resumed handover reads what its part did). */
      lastSwitch: LastSwitch | undefined;
      /** A GPU pool's GPUs one by one; undefined for an ASIC group. */
      pool: GpuPoolState | undefined;
    };

export type LastSwitch = {
  switchId: string;
  outcome: 'switched' | 'failed';
  durations: Partial<Record<SwitchPhase, number>>;
  /** Why it failed. */
  reason?: string;
};

const SERVING_MODES: ReadonlySet<ResourceMode> = new Set(['serving', 'training']);

const poolOf = (spec: ResourceSpec): GpuPoolState | undefined =>
  spec.kind === 'gpu_pool'
    ? {
        resourceId: spec.resourceId,
        gpuType: spec.model as GpuType,
        units: spec.units,
        warmStandbyUnits: spec.warmStandbyUnits ?? 0,
        mode: spec.mode,
        switchingTo: undefined,
        gpus: initialPoolGpus(spec.units),
        holders: emptyMap(),
        warmTargets: {},
      }
    : undefined;

/** The pool with a change of mode or switch in flight (its envelope follows). */
const withPoolMode = (state: Extract<ResourceState, { status: 'registered' }>, mode: ResourceMode, switchingTo: ResourceMode | undefined) =>
  state.pool ? { ...state.pool, mode, switchingTo } : undefined;

const evolve = (state: ResourceState, event: ResourceEvent): ResourceState => {
  if (event.type === 'ResourceRegistered')
    return {
      status: 'registered',
      spec: event.data,
      mode: event.data.mode,
      healthy: true,
      allocations: emptyMap(),
      inFlight: undefined,
      durations: {},
      heldByHandover: undefined,
      lastSwitch: undefined,
      pool: poolOf(event.data),
    };
  if (state.status === 'unregistered') return state;
  switch (event.type) {
    case 'ResourceHealthChanged':
      if (event.data.gpuId === undefined) return { ...state, healthy: event.data.healthy };
      return state.pool ? { ...state, pool: evolvePool(state.pool, event as Extract<GpuPoolEvent, { type: 'ResourceHealthChanged' }>) } : state;
    case 'ResourceAllocated':
      return {
        ...state,
        allocations: setIn(state.allocations, event.data.workloadId, event.data.units),
        ...(state.pool ? { pool: evolvePool(state.pool, event) } : {}),
      };
    case 'ResourceReleased': {
      return { ...state, allocations: removeFrom(state.allocations, event.data.workloadId), ...(state.pool ? { pool: evolvePool(state.pool, event) } : {}) };
    }
    case 'GpuServiceChanged':
    case 'GpusWarming':
    case 'GpusWarmed':
    case 'GpusCooled':
    case 'WarmStandbySized':
      return state.pool ? { ...state, pool: evolvePool(state.pool, event) } : state;
    case 'ModeSwitchRequested':
      return {
        ...state,
        pool: withPoolMode(state, state.mode, event.data.to),
        inFlight: {
          switchId: event.data.switchId,
          from: event.data.from,
          to: event.data.to,
          phases: event.data.phases,
          done: 0,
          ...(event.data.handoverId ? { handoverId: event.data.handoverId } : {}),
        },
        durations: {},
      };
    case 'SwitchPhaseCompleted':
      return state.inFlight
        ? { ...state, inFlight: { ...state.inFlight, done: state.inFlight.done + 1 }, durations: { ...state.durations, [event.data.phase]: event.data.durationMs } }
        : state;
    case 'ModeSwitched': {
      const handoverId = state.inFlight?.handoverId;
      const held = handoverId && state.spec.kind === 'asic_group' ? (event.data.to === 'sleeping' ? handoverId : undefined) : state.heldByHandover;
      const lastSwitch: LastSwitch = { switchId: event.data.switchId, outcome: 'switched', durations: state.durations };
      return { ...state, mode: event.data.to, inFlight: undefined, durations: {}, heldByHandover: held, lastSwitch, pool: withPoolMode(state, event.data.to, undefined) };
    }
    case 'SwitchFailed':
      return {
        ...state,
        pool: withPoolMode(state, event.data.rolledBackTo, undefined),
        mode: event.data.rolledBackTo,
        inFlight: undefined,
        durations: {},
        lastSwitch: { switchId: event.data.switchId, outcome: 'failed', durations: state.durations, reason: event.data.reason },
      };
  }
};

const decide = (command: ResourceCommand, state: ResourceState) => {
  if (command.type === 'RegisterResource') {
    if (state.status === 'registered') return reject<ResourceEvent>('already_exists', `resource ${command.spec.resourceId} exists`);
    if (!modeFits(command.spec.kind, command.spec.mode))
      return reject<ResourceEvent>('invalid_input', `mode ${command.spec.mode} does not fit a ${command.spec.kind}`, 'mode');
    return accept<ResourceEvent>({ type: 'ResourceRegistered', data: command.spec });
  }
  if (state.status === 'unregistered') return reject<ResourceEvent>('not_found', 'resource not found', 'resourceId');
  const resourceId = state.spec.resourceId;
  if (isGpuPoolCommand(command)) {
    if (!state.pool) return reject<ResourceEvent>('invalid_state', `${resourceId} is an ASIC group: workloads run on GPU pools only`, 'resourceId');
    if (!state.healthy && (command.type === 'AllocateGpus' || command.type === 'WarmGpus')) return reject<ResourceEvent>('invalid_state', `${resourceId} is unhealthy`, 'resourceId');
    return decidePool(command, state.pool);
  }
  switch (command.type) {
    case 'SetHealth':
      return state.healthy === command.healthy
        ? accept<ResourceEvent>()
        : accept<ResourceEvent>({ type: 'ResourceHealthChanged', data: { resourceId, healthy: command.healthy, reason: command.reason } });
    case 'RequestSwitch': {
      if (state.inFlight?.switchId === command.switchId) return accept<ResourceEvent>();
      if (state.inFlight) return reject<ResourceEvent>('invalid_state', `switch ${state.inFlight.switchId} is in flight`, 'resourceId');
      if (!modeFits(state.spec.kind, command.to)) return reject<ResourceEvent>('invalid_input', `mode ${command.to} does not fit a ${state.spec.kind}`, 'to');
      if (state.mode === command.to) return reject<ResourceEvent>('invalid_state', `already ${command.to}`, 'to');
      if (command.power && !command.handoverId) {
        const problem = switchOverBudget(state.spec, state.mode, command.to, command.power.committedDrawKw, command.power.powerBudgetKw);
        if (problem) return reject<ResourceEvent>('invalid_state', problem, 'to');
      }
      if (state.heldByHandover && !command.handoverId)
        return reject<ResourceEvent>('invalid_state', `its power went to GPUs in handover ${state.heldByHandover}: hand it back with a to_mining handover`, 'resourceId');
      if (command.expectedFrom && state.mode !== command.expectedFrom)
        return reject<ResourceEvent>('invalid_state', `is ${state.mode}, no longer ${command.expectedFrom}`, 'resourceId');
      // a pool's GPUs that draw power (serving, loading or warm) keep it: the new envelope must hold them
      if (state.pool) {
        const powered = poweredCount(state.pool.gpus);
        if (powered > poweredCapacity(state.pool, command.to))
          return reject<ResourceEvent>(
            'invalid_state',
            `${powered} of its GPUs are powered (${state.pool.holders.size} workload(s) on them); ${command.to} powers ${poweredCapacity(state.pool, command.to)}: release or cool them first`,
            'resourceId',
          );
      }
      const phases = phasesFor(state.spec.kind, state.mode, command.to);
      return accept<ResourceEvent>({
        type: 'ModeSwitchRequested',
        data: {
          resourceId,
          switchId: command.switchId,
          from: state.mode,
          to: command.to,
          // a handover carries out the facility's phases itself; the resource keeps its device phases
          phases: command.handoverId ? phases.filter((p) => !FACILITY_PHASES.has(p)) : phases,
          reason: command.reason,
          ...(command.handoverId ? { handoverId: command.handoverId } : {}),
        },
      });
    }
    case 'CompletePhase': {
      const f = state.inFlight;
      if (!f || f.switchId !== command.switchId) return reject<ResourceEvent>('invalid_state', `switch ${command.switchId} is not in flight`);
      const expected = f.phases[f.done];
      if (command.phase !== expected) return reject<ResourceEvent>('invalid_state', `phase ${command.phase} out of order: next is ${expected}`, 'phase');
      const completed: ResourceEvent = {
        type: 'SwitchPhaseCompleted',
        data: { resourceId, switchId: f.switchId, phase: command.phase, index: f.done, durationMs: command.durationMs },
      };
      if (f.done + 1 < f.phases.length) return accept<ResourceEvent>(completed);
      const durations = { ...state.durations, [command.phase]: command.durationMs };
      return accept<ResourceEvent>(completed, {
        type: 'ModeSwitched',
        data: { resourceId, switchId: f.switchId, from: f.from, to: f.to, ...phaseTotals(durations) },
      });
    }
    case 'FailSwitch': {
      const f = state.inFlight;
      if (!f || f.switchId !== command.switchId) return accept<ResourceEvent>();
      return accept<ResourceEvent>({
        type: 'SwitchFailed',
        data: { resourceId, switchId: f.switchId, phase: command.phase, reason: command.reason, rolledBackTo: f.from },
      });
    }
  }
};

export const resourceDecider: Decider<ResourceCommand, ResourceEvent, ResourceState> = {
  initialState: () => ({ status: 'unregistered' }),
  evolve,
  decide,
};
