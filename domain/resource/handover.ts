/**
 * A power handover: one switch of a facility's power between an ASIC block and a GPU pool
 * (docs/design.md §3 "Switching"), mining → AI as signal validated, SLA and capacity checked,
 * ASIC block ramped down, power reassigned, GPUs activated from warm standby, endpoint
 * ready — and the reverse. Each phase is an event with its duration; a failed phase is
 * recorded (HandoverRollingBack) before anything is undone, so a restart goes on undoing,
 * and the handover ends with HandoverFailed and what was rolled back.
 *
 * The handover has its own stream; the two resources keep their own invariants (one switch
 * in flight, no switch away from serving) by carrying their device phases as their own
 * switches, marked with the handover's id, requested together at `capacity_checked` so both
 * are held for the whole handover. The facility-level phases (validation, capacity, power)
 * are the handover's alone.
 *
 * The decider is pure: the handler reads the two resources and the facility's power ledger
 * and passes them in as facts, which the request checks and records.
 */
import { accept, reject, type Decider, type DomainEvent } from '../decider.ts';
import { drawKw, overBudget } from './power.ts';
import { FACILITY_PHASES, phaseTotals, type ResourceKind, type ResourceMode, type SwitchPhase } from './switching.ts';

export const handoverStream = (handoverId: string) => `handover-${handoverId}`;

export const HANDOVER_DIRECTIONS = ['to_ai', 'to_mining'] as const;
export type HandoverDirection = (typeof HANDOVER_DIRECTIONS)[number];

export const HANDOVER_PHASES: Record<HandoverDirection, readonly SwitchPhase[]> = {
  to_ai: ['signal_validated', 'capacity_checked', 'asic_ramped_down', 'power_reassigned', 'gpu_activated', 'endpoint_ready'],
  to_mining: ['signal_validated', 'capacity_checked', 'endpoint_drained', 'gpu_deactivated', 'power_reassigned', 'asic_ramped_up'],
};

export type HandoverPart = 'asic' | 'gpu';
/** Where each resource goes, and from which modes it may start. */
export const HANDOVER_TARGETS: Record<HandoverDirection, Record<HandoverPart, { from: readonly ResourceMode[]; to: ResourceMode }>> = {
  to_ai: { asic: { from: ['mining', 'underclocked'], to: 'sleeping' }, gpu: { from: ['warm_standby', 'off'], to: 'serving' } },
  to_mining: { asic: { from: ['sleeping', 'underclocked'], to: 'mining' }, gpu: { from: ['serving', 'training'], to: 'warm_standby' } },
};

/** The resource that carries a device phase. */
export const partOf = (phase: SwitchPhase): HandoverPart | undefined =>
  FACILITY_PHASES.has(phase) ? undefined : phase.startsWith('asic_') ? 'asic' : 'gpu';

/** A resource as the handler read it. */
export type ResourceFacts = {
  resourceId: string;
  facilityId: string;
  kind: ResourceKind;
  mode: ResourceMode;
  healthy: boolean;
  switchInFlight: string | undefined;
  allocatedUnits: number;
  /** GPU pools: GPUs drawing power (serving, loading or warm), and how many warm standby powers. */
  poweredUnits: number;
  warmStandbyUnits: number;
  units: number;
  powerWPerUnit: number;
};

export type HandoverFacts = {
  asic: ResourceFacts | undefined;
  gpu: ResourceFacts | undefined;
  facility: { facilityId: string; powerBudgetKw: number; committedDrawKw: number } | undefined;
};

export type HandoverRequest = {
  handoverId: string;
  facilityId: string;
  direction: HandoverDirection;
  asicResourceId: string;
  gpuResourceId: string;
  reason: string;
};

export type HandoverEvent =
  | DomainEvent<
      'HandoverRequested',
      HandoverRequest & {
        phases: SwitchPhase[];
        asicFrom: ResourceMode;
        asicTo: ResourceMode;
        gpuFrom: ResourceMode;
        gpuTo: ResourceMode;
        drawBeforeKw: number; drawAfterKw: number; powerBudgetKw: number }
    >
  | DomainEvent<'HandoverPhaseCompleted', { handoverId: string; phase: SwitchPhase; index: number; durationMs: number }>
  | DomainEvent<'HandoverRollingBack', { handoverId: string; facilityId: string; phase: SwitchPhase; reason: string }>
  | DomainEvent<'HandoverCompleted', { handoverId: string; facilityId: string; direction: HandoverDirection; controlPathMs: number; physicalMs: number }>
  | DomainEvent<'HandoverFailed', { handoverId: string; facilityId: string; phase: SwitchPhase; reason: string; rollback: string }>;

export type HandoverCommand =
  | ({ type: 'RequestHandover'; facts: HandoverFacts } & HandoverRequest)
  | { type: 'CompleteHandoverPhase'; phase: SwitchPhase; durationMs: number }
  | { type: 'StartRollback'; phase: SwitchPhase; reason: string }
  | { type: 'FailHandover'; rollback: string };

export type HandoverState =
  | { status: 'none' }
  | {
      status: 'in_flight' | 'rolling_back' | 'completed' | 'failed';
      request: Extract<HandoverEvent, { type: 'HandoverRequested' }>['data'];
      done: number;
      durations: Partial<Record<SwitchPhase, number>>;
      /** Set once a phase has failed. */
      failure?: { phase: SwitchPhase; reason: string };
    };

const evolve = (state: HandoverState, event: HandoverEvent): HandoverState => {
  if (event.type === 'HandoverRequested') return { status: 'in_flight', request: event.data, done: 0, durations: {} };
  if (state.status === 'none') return state;
  switch (event.type) {
    case 'HandoverPhaseCompleted':
      return { ...state, done: state.done + 1, durations: { ...state.durations, [event.data.phase]: event.data.durationMs } };
    case 'HandoverRollingBack':
      return { ...state, status: 'rolling_back', failure: { phase: event.data.phase, reason: event.data.reason } };
    case 'HandoverCompleted':
      return { ...state, status: 'completed' };
    case 'HandoverFailed':
      return { ...state, status: 'failed' };
  }
};

const checkResource = (r: ResourceFacts | undefined, part: HandoverPart, req: HandoverRequest): string | undefined => {
  const field = part === 'asic' ? 'asicResourceId' : 'gpuResourceId';
  const id = req[field];
  const target = HANDOVER_TARGETS[req.direction][part];
  if (!r) return `${field}: no resource ${id}`;
  if (r.kind !== (part === 'asic' ? 'asic_group' : 'gpu_pool')) return `${field}: ${id} is a ${r.kind}, not ${part === 'asic' ? 'an ASIC group' : 'a GPU pool'}`;
  if (r.facilityId !== req.facilityId) return `${field}: ${id} is at ${r.facilityId}, not ${req.facilityId}`;
  if (!r.healthy) return `${field}: ${id} is unhealthy`;
  if (r.switchInFlight) return `${field}: ${id} has switch ${r.switchInFlight} in flight`;
  if (!target.from.includes(r.mode)) return `${field}: ${id} is ${r.mode}; a handover ${req.direction} needs it ${target.from.join(' or ')}`;
  // SLA: a pool's GPUs that serve workloads keep their power until released (P1 is never preempted);
  // back in warm standby, the pool powers its warm reserve only
  if (part === 'gpu' && req.direction === 'to_mining' && r.poweredUnits > r.warmStandbyUnits)
    return `${field}: ${id} has ${r.poweredUnits} GPUs powered (workloads on ${r.allocatedUnits}); warm standby powers ${r.warmStandbyUnits}: release or cool them first`;
  return undefined;
};

const fieldOf = (message: string) => message.slice(0, message.indexOf(':'));

type Sized = Pick<ResourceFacts, 'units' | 'powerWPerUnit'>;

/**
 * The facility's draw once the handover is done — the ledger without what the two resources
 * hold now, plus their targets — and why that breaks the budget, if it does (a handover that
 * lowers the draw always fits).
 */
export const budgetAfter = (args: {
  direction: HandoverDirection;
  ledgerKw: number;
  budgetKw: number;
  asic: Sized;
  gpu: Sized;
  /** What the ledger counts for each now (its mode's draw, or the higher of two while switching). */
  asicHeldKw: number;
  gpuHeldKw: number;
  asicFromKw: number;
  gpuFromKw: number;
}): { drawAfterKw: number; problem: string | undefined } => {
  const targets = HANDOVER_TARGETS[args.direction];
  const asicTo = drawKw(args.asic, targets.asic.to);
  const gpuTo = drawKw(args.gpu, targets.gpu.to);
  const drawAfterKw = args.ledgerKw - args.asicHeldKw - args.gpuHeldKw + asicTo + gpuTo;
  const drawFromKw = args.ledgerKw - args.asicHeldKw - args.gpuHeldKw + args.asicFromKw + args.gpuFromKw;
  return { drawAfterKw, problem: overBudget(drawFromKw, drawAfterKw, args.budgetKw) };
};

const decide = (command: HandoverCommand, state: HandoverState) => {
  if (command.type === 'RequestHandover') {
    const { type: _t, facts, ...req } = command;
    if (state.status !== 'none')
      return state.request.facilityId === req.facilityId && state.request.direction === req.direction
        ? accept<HandoverEvent>() // the same request again
        : reject<HandoverEvent>('already_exists', `handover ${req.handoverId} exists`, 'handoverId');
    if (!HANDOVER_DIRECTIONS.includes(req.direction)) return reject<HandoverEvent>('invalid_input', `direction must be one of ${HANDOVER_DIRECTIONS.join(', ')}`, 'direction');
    if (!facts.facility) return reject<HandoverEvent>('not_found', `no facility ${req.facilityId}`, 'facilityId');
    for (const part of ['asic', 'gpu'] as const) {
      const problem = checkResource(facts[part], part, req);
      if (problem) return reject<HandoverEvent>(problem.includes('no resource') ? 'not_found' : 'invalid_state', problem, fieldOf(problem));
    }
    const asic = facts.asic!;
    const gpu = facts.gpu!;
    const targets = HANDOVER_TARGETS[req.direction];
    const [asicNow, gpuNow] = [drawKw(asic, asic.mode), drawKw(gpu, gpu.mode)];
    const { drawAfterKw, problem } = budgetAfter({
      direction: req.direction,
      ledgerKw: facts.facility.committedDrawKw,
      budgetKw: facts.facility.powerBudgetKw,
      asic,
      gpu,
      asicHeldKw: asicNow,
      gpuHeldKw: gpuNow,
      asicFromKw: asicNow,
      gpuFromKw: gpuNow,
    });
    if (problem) return reject<HandoverEvent>('invalid_state', problem, 'gpuResourceId');
    return accept<HandoverEvent>({
      type: 'HandoverRequested',
      data: {
        ...req,
        phases: [...HANDOVER_PHASES[req.direction]],
        asicFrom: asic.mode,
        asicTo: targets.asic.to,
        gpuFrom: gpu.mode,
        gpuTo: targets.gpu.to,
        drawBeforeKw: Math.round(facts.facility.committedDrawKw),
        drawAfterKw: Math.round(drawAfterKw),
        powerBudgetKw: facts.facility.powerBudgetKw,
      },
    });
  }
  if (state.status === 'none') return reject<HandoverEvent>('not_found', 'handover not found', 'handoverId');
  if (state.status === 'completed' || state.status === 'failed') return accept<HandoverEvent>(); // ended: a late or repeated step changes nothing
  const { handoverId, facilityId, direction, phases } = state.request;
  if (command.type === 'StartRollback')
    return state.status === 'rolling_back'
      ? accept<HandoverEvent>()
      : accept<HandoverEvent>({ type: 'HandoverRollingBack', data: { handoverId, facilityId, phase: command.phase, reason: command.reason } });
  if (command.type === 'FailHandover') {
    if (!state.failure) return reject<HandoverEvent>('invalid_state', 'a handover fails only after a phase has failed and its rollback has run', 'phase');
    return accept<HandoverEvent>({ type: 'HandoverFailed', data: { handoverId, facilityId, ...state.failure, rollback: command.rollback } });
  }
  if (state.status === 'rolling_back') return reject<HandoverEvent>('invalid_state', `rolling back after ${state.failure!.phase} failed`, 'phase');
  const expected = phases[state.done];
  if (command.phase !== expected) return reject<HandoverEvent>('invalid_state', `phase ${command.phase} out of order: next is ${expected}`, 'phase');
  const completed: HandoverEvent = { type: 'HandoverPhaseCompleted', data: { handoverId, phase: command.phase, index: state.done, durationMs: command.durationMs } };
  if (state.done + 1 < phases.length) return accept<HandoverEvent>(completed);
  const durations = { ...state.durations, [command.phase]: command.durationMs };
  return accept<HandoverEvent>(completed, {
    type: 'HandoverCompleted',
    data: { handoverId, facilityId, direction, ...phaseTotals(durations) },
  });
};

export const handoverDecider: Decider<HandoverCommand, HandoverEvent, HandoverState> = {
  initialState: () => ({ status: 'none' }),
  evolve,
  decide,
};
