/**
 * A GPU pool's GPUs, one by one (domain/fleet/gpus.ts): the part of the resource aggregate
 * (resource.ts) that allocates them. It is the consistency boundary of invariant 2: a GPU
 * serves at most one workload, a workload gets exactly the GPUs it was given, all of the
 * pool's type and healthy; and of the pool's power envelope: the pool's mode says how many
 * of its GPUs may draw power (all when serving or training, the warm standby reserve when in
 * warm standby, none when off), so more GPUs come up only after power was handed over from
 * mining (a handover to_ai switches the pool to serving).
 */
import { accept, reject, type Decision, type DomainEvent } from '../decider.ts';
import { countOverGpus, GPU_HEALTH, gpuIdOf, isFree, isPowered, newGpus, parseGpuId, replaceGpus, type GpuHealth, type GpuUnit } from '../fleet/gpus.ts';
import type { GpuType } from '../workload/request.ts';
import type { ResourceMode } from './switching.ts';
import { getIn, removeFrom, setIn, type PersistentMap } from '../persistent-map.ts';

export type GpuPoolEvent =
  | DomainEvent<'ResourceAllocated', { resourceId: string; workloadId: string; units: number; run?: number; gpuIds?: string[]; mode?: 'serving' | 'training'; model?: string | null }>
  | DomainEvent<'ResourceReleased', { resourceId: string; workloadId: string; units: number; run?: number; gpuIds?: string[]; keptModel?: string | null }>
  /** One GPU's health crossed a threshold (healthy → degraded → failed, and back after repair). */
  | DomainEvent<'ResourceHealthChanged', { resourceId: string; gpuId: string; health: GpuHealth; previous: GpuHealth; healthy: boolean; reason: string; workloadId: string | null }>
  | DomainEvent<'GpuServiceChanged', { resourceId: string; gpuId: string; inService: boolean; reason: string; workloadId: string | null }>
  | DomainEvent<'GpusWarming', { resourceId: string; gpuIds: string[]; model: string; readyAt: string }>
  | DomainEvent<'GpusWarmed', { resourceId: string; gpuIds: string[]; model: string }>
  | DomainEvent<'GpusCooled', { resourceId: string; gpuIds: string[] }>
  | DomainEvent<'WarmStandbySized', { resourceId: string; targets: Record<string, number>; reason: string; basis: Record<string, unknown> }>;

export type GpuPoolCommand =
  | { type: 'AllocateGpus'; workloadId: string; run: number; gpuIds: string[]; mode: 'serving' | 'training'; model: string }
  | { type: 'ReleaseGpus'; workloadId: string; run: number; keepModel: boolean }
  | { type: 'SetGpuHealth'; gpuId: string; health: GpuHealth; reason: string }
  | { type: 'SetGpuService'; gpuId: string; inService: boolean; reason: string }
  | { type: 'WarmGpus'; gpuIds: string[]; model: string; readyAt: string }
  | { type: 'FinishWarming'; gpuIds: string[]; model: string }
  | { type: 'CoolGpus'; gpuIds: string[] }
  | { type: 'SizeWarmStandby'; targets: Record<string, number>; reason: string; basis: Record<string, unknown> };

const GPU_POOL_COMMANDS: ReadonlySet<string> = new Set(['AllocateGpus', 'ReleaseGpus', 'SetGpuHealth', 'SetGpuService', 'WarmGpus', 'FinishWarming', 'CoolGpus', 'SizeWarmStandby']);
export const isGpuPoolCommand = (command: { type: string }): command is GpuPoolCommand => GPU_POOL_COMMANDS.has(command.type);

/** What a pool's GPUs hold, beside the resource's own state. */
export type GpuPoolState = {
  resourceId: string;
  gpuType: GpuType;
  units: number;
  warmStandbyUnits: number;
  mode: ResourceMode;
  /** The mode a switch in flight is taking it to. */
  switchingTo: ResourceMode | undefined;
  gpus: readonly GpuUnit[];
  /** Workload → its run and GPU indexes (persistent: a pool holds thousands, and each allocation and release makes a new state). */
  holders: PersistentMap<{ run: number; indexes: number[] }>;
  warmTargets: Readonly<Record<string, number>>;
};

export const initialPoolGpus = (units: number) => newGpus(units);

/** How many of a pool's GPUs may draw power in a mode. */
export const poweredCapacity = (pool: Pick<GpuPoolState, 'units' | 'warmStandbyUnits'>, mode: ResourceMode) =>
  mode === 'serving' || mode === 'training' ? pool.units : mode === 'warm_standby' ? pool.warmStandbyUnits : 0;

/** The envelope now: while a switch is in flight, the smaller of the two modes' (power comes up only once it is switched). */
export const envelopeOf = (pool: Pick<GpuPoolState, 'units' | 'warmStandbyUnits' | 'mode' | 'switchingTo'>) =>
  Math.min(poweredCapacity(pool, pool.mode), pool.switchingTo === undefined ? Infinity : poweredCapacity(pool, pool.switchingTo));

/** GPUs drawing power (kept per array: asked for every allocation and round). */
export const poweredCount: (gpus: readonly GpuUnit[]) => number = countOverGpus(isPowered);

/** How many more of the pool's GPUs its envelope lets it power now. */
export const headroomOf = (pool: Parameters<typeof envelopeOf>[0] & { gpus: readonly GpuUnit[] }) => Math.max(0, envelopeOf(pool) - poweredCount(pool.gpus));

const indexesOf = (pool: GpuPoolState, gpuIds: readonly string[] = []) =>
  gpuIds.map((id) => parseGpuId(id, pool.gpuType)).flatMap((p) => (p && p.poolId === pool.resourceId && p.index < pool.units ? [p.index] : []));

export const evolvePool = (pool: GpuPoolState, event: GpuPoolEvent): GpuPoolState => {
  switch (event.type) {
    case 'ResourceAllocated': {
      const indexes = indexesOf(pool, event.data.gpuIds);
      const busy = { workloadId: event.data.workloadId, run: event.data.run ?? 0, mode: event.data.mode ?? 'serving' };
      return {
        ...pool,
        gpus: replaceGpus(pool.gpus, indexes, (g) => ({ ...g, busy, warming: false, warmReadyAt: null, model: event.data.model ?? g.model })),
        holders: setIn(pool.holders, event.data.workloadId, { run: busy.run, indexes }),
      };
    }
    case 'ResourceReleased': {
      const held = getIn(pool.holders, event.data.workloadId);
      if (!held) return pool;
      return { ...pool, gpus: replaceGpus(pool.gpus, held.indexes, (g) => ({ ...g, busy: null, model: event.data.keptModel ?? null })), holders: removeFrom(pool.holders, event.data.workloadId) };
    }
    case 'ResourceHealthChanged':
      return { ...pool, gpus: replaceGpus(pool.gpus, indexesOf(pool, [event.data.gpuId]), (g) => ({ ...g, health: event.data.health, ...(event.data.health === 'failed' ? { model: null, warming: false, warmReadyAt: null } : {}) })) };
    case 'GpuServiceChanged':
      return { ...pool, gpus: replaceGpus(pool.gpus, indexesOf(pool, [event.data.gpuId]), (g) => ({ ...g, inService: event.data.inService })) };
    case 'GpusWarming':
      return { ...pool, gpus: replaceGpus(pool.gpus, indexesOf(pool, event.data.gpuIds), (g) => ({ ...g, warming: true, warmReadyAt: event.data.readyAt, model: event.data.model })) };
    case 'GpusWarmed':
      return { ...pool, gpus: replaceGpus(pool.gpus, indexesOf(pool, event.data.gpuIds), (g) => ({ ...g, warming: false, warmReadyAt: null, model: event.data.model })) };
    case 'GpusCooled':
      return { ...pool, gpus: replaceGpus(pool.gpus, indexesOf(pool, event.data.gpuIds), (g) => ({ ...g, warming: false, warmReadyAt: null, model: null })) };
    case 'WarmStandbySized':
      return { ...pool, warmTargets: event.data.targets };
  }
};

/** Distinct, well-formed ids of this pool's GPUs, or the first bad one. */
const parseIds = (pool: GpuPoolState, gpuIds: readonly string[], field: string): { indexes: number[] } | { problem: Decision<GpuPoolEvent> } => {
  if (gpuIds.length === 0) return { problem: reject('invalid_input', 'no GPUs named', field) };
  const indexes: number[] = [];
  for (const id of gpuIds) {
    const p = parseGpuId(id, pool.gpuType);
    if (!p || p.poolId !== pool.resourceId || p.index >= pool.units) return { problem: reject('not_found', `no GPU ${id} in ${pool.resourceId}`, field) };
    if (indexes.includes(p.index)) return { problem: reject('invalid_input', `GPU ${id} named twice`, field) };
    indexes.push(p.index);
  }
  return { indexes };
};

const MAX_MODEL_NAME = 128;

export const decidePool = (command: GpuPoolCommand, pool: GpuPoolState): Decision<GpuPoolEvent> => {
  const resourceId = pool.resourceId;
  switch (command.type) {
    case 'AllocateGpus': {
      const held = getIn(pool.holders, command.workloadId);
      if (held) return held.run === command.run ? accept() : reject('invalid_state', `workload ${command.workloadId} holds GPUs for run ${held.run}`, 'workloadId');
      const parsed = parseIds(pool, command.gpuIds, 'gpuIds');
      if ('problem' in parsed) return parsed.problem;
      for (const i of parsed.indexes) {
        const g = pool.gpus[i]!;
        const id = gpuIdOf(resourceId, pool.gpuType, i);
        if (g.busy) return reject('invalid_state', `GPU ${id} serves workload ${g.busy.workloadId}`, 'gpuIds');
        if (g.health !== 'healthy') return reject('invalid_state', `GPU ${id} is ${g.health}`, 'gpuIds');
        if (!g.inService) return reject('invalid_state', `GPU ${id} is out of service`, 'gpuIds');
        if (g.warming) return reject('invalid_state', `GPU ${id} is loading ${g.model}`, 'gpuIds');
      }
      const poweringUp = parsed.indexes.filter((i) => !isPowered(pool.gpus[i]!)).length;
      const envelope = envelopeOf(pool);
      if (poweredCount(pool.gpus) + poweringUp > envelope)
        return reject('invalid_state', `${pool.resourceId} may power ${envelope} GPUs in ${pool.mode}; ${poweredCount(pool.gpus)} are powered`, 'gpuIds');
      return accept({
        type: 'ResourceAllocated',
        data: { resourceId, workloadId: command.workloadId, units: parsed.indexes.length, run: command.run, gpuIds: command.gpuIds, mode: command.mode, model: command.mode === 'serving' ? command.model : null },
      });
    }
    case 'ReleaseGpus': {
      const held = getIn(pool.holders, command.workloadId);
      if (!held || held.run !== command.run) return accept(); // released already, or another run's: process managers retry
      const gpus = held.indexes.map((i) => pool.gpus[i]!);
      // a model stays warm only on a GPU that is still healthy and serving inference
      const keptModel = command.keepModel && gpus.every((g) => g.health === 'healthy' && g.busy?.mode === 'serving') ? gpus[0]!.model : null;
      return accept({
        type: 'ResourceReleased',
        data: { resourceId, workloadId: command.workloadId, units: held.indexes.length, run: held.run, gpuIds: held.indexes.map((i) => gpuIdOf(resourceId, pool.gpuType, i)), keptModel },
      });
    }
    case 'SetGpuHealth': {
      if (!(GPU_HEALTH as readonly string[]).includes(command.health)) return reject('invalid_input', `health is one of ${GPU_HEALTH.join(', ')}`, 'health');
      const parsed = parseIds(pool, [command.gpuId], 'gpuId');
      if ('problem' in parsed) return parsed.problem;
      const g = pool.gpus[parsed.indexes[0]!]!;
      if (g.health === command.health) return accept();
      return accept({
        type: 'ResourceHealthChanged',
        data: { resourceId, gpuId: command.gpuId, health: command.health, previous: g.health, healthy: command.health === 'healthy', reason: command.reason, workloadId: g.busy?.workloadId ?? null },
      });
    }
    case 'SetGpuService': {
      const parsed = parseIds(pool, [command.gpuId], 'gpuId');
      if ('problem' in parsed) return parsed.problem;
      const g = pool.gpus[parsed.indexes[0]!]!;
      if (g.inService === command.inService) return accept();
      return accept({ type: 'GpuServiceChanged', data: { resourceId, gpuId: command.gpuId, inService: command.inService, reason: command.reason, workloadId: g.busy?.workloadId ?? null } });
    }
    case 'WarmGpus': {
      if (!command.model || command.model.length > MAX_MODEL_NAME) return reject('invalid_input', 'a model name is needed', 'model');
      const parsed = parseIds(pool, command.gpuIds, 'gpuIds');
      if ('problem' in parsed) return parsed.problem;
      for (const i of parsed.indexes) if (!isFree(pool.gpus[i]!)) return reject('invalid_state', `GPU ${gpuIdOf(resourceId, pool.gpuType, i)} is not free`, 'gpuIds');
      const poweringUp = parsed.indexes.filter((i) => !isPowered(pool.gpus[i]!)).length;
      if (poweredCount(pool.gpus) + poweringUp > envelopeOf(pool)) return reject('invalid_state', `${pool.resourceId} may power ${envelopeOf(pool)} GPUs in ${pool.mode}`, 'gpuIds');
      return accept({ type: 'GpusWarming', data: { resourceId, gpuIds: command.gpuIds, model: command.model, readyAt: command.readyAt } });
    }
    case 'FinishWarming': {
      const parsed = parseIds(pool, command.gpuIds, 'gpuIds');
      if ('problem' in parsed) return parsed.problem;
      // only those still loading this model (one may have failed, or been cooled, meanwhile)
      const ready = parsed.indexes.filter((i) => pool.gpus[i]!.warming && pool.gpus[i]!.model === command.model);
      return ready.length === 0 ? accept() : accept({ type: 'GpusWarmed', data: { resourceId, gpuIds: ready.map((i) => gpuIdOf(resourceId, pool.gpuType, i)), model: command.model } });
    }
    case 'CoolGpus': {
      const parsed = parseIds(pool, command.gpuIds, 'gpuIds');
      if ('problem' in parsed) return parsed.problem;
      const idle = parsed.indexes.filter((i) => !pool.gpus[i]!.busy && pool.gpus[i]!.model !== null);
      return idle.length === 0 ? accept() : accept({ type: 'GpusCooled', data: { resourceId, gpuIds: idle.map((i) => gpuIdOf(resourceId, pool.gpuType, i)) } });
    }
    case 'SizeWarmStandby': {
      for (const [model, n] of Object.entries(command.targets))
        if (!model || model.length > MAX_MODEL_NAME || !Number.isSafeInteger(n) || n < 0 || n > pool.units) return reject('invalid_input', `target for ${model} must be 0..${pool.units}`, 'targets');
      return accept({ type: 'WarmStandbySized', data: { resourceId, targets: command.targets, reason: command.reason, basis: command.basis } });
    }
  }
};
