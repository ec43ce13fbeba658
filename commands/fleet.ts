/**
 * Facilities and their fleets: registering a scenario, and requesting switches.
 * ASIC groups are registered in blocks of units, so that under a price spike the
 * least efficient blocks can shed first and the most efficient return first.
 */
import { facilityDecider, facilityStream } from '../domain/facility/facility.ts';
import { ASIC_MODELS, GPU_MODELS, type FacilitySpec } from '../domain/fleet/inventory.ts';
import { resourceDecider, resourceStream, type ResourceSpec } from '../domain/resource/resource.ts';
import { drawKw } from '../domain/resource/power.ts';
import { modeFits, type ResourceMode } from '../domain/resource/switching.ts';
import { accepted, contextFor, type Caller, type CommandDeps } from './context.ts';
import { handleCommand } from './handle.ts';
import { loadResource, powerLedger } from './power-ledger.ts';

export const ASIC_BLOCK_UNITS = 1000;

/**
 * GPUs in the largest registered pool of each type (none before a fleet is registered), from the
 * read model; kept for a few seconds per database, since a fleet changes seldom and submissions
 * ask often.
 */
const largestPoolsKept = new WeakMap<object, { untilMs: number; pools: Promise<ReadonlyMap<string, number>> }>();
export const largestGpuPools = (deps: Pick<CommandDeps, 'readModels'>, keepMs = 5000): Promise<ReadonlyMap<string, number>> => {
  const kept = largestPoolsKept.get(deps.readModels);
  if (kept && kept.untilMs > Date.now()) return kept.pools;
  const pools = deps.readModels
    .query<{ model: string; units: number }>(`SELECT model, max(units)::int AS units FROM rm_resources WHERE kind = 'gpu_pool' GROUP BY model`)
    .then((rows) => new Map(rows.map((r) => [r.model, r.units])));
  largestPoolsKept.set(deps.readModels, { untilMs: Date.now() + keepMs, pools });
  pools.catch(() => largestPoolsKept.delete(deps.readModels));
  return pools;
};

/** The resources of a facility: ASIC blocks (mining) and one pool per GPU type (warm standby). */
export const resourcesOf = (facility: FacilitySpec): ResourceSpec[] => [
  ...facility.asicGroups.flatMap((group) => {
    const blocks = Math.ceil(group.count / ASIC_BLOCK_UNITS);
    return Array.from({ length: blocks }, (_, i) => ({
      resourceId: `${facility.facilityId}-${group.model.toLowerCase()}-${String(i + 1).padStart(2, '0')}`,
      facilityId: facility.facilityId,
      kind: 'asic_group' as const,
      model: group.model,
      units: Math.min(ASIC_BLOCK_UNITS, group.count - i * ASIC_BLOCK_UNITS),
      powerWPerUnit: ASIC_MODELS[group.model].powerW,
      hashrateThsPerUnit: ASIC_MODELS[group.model].hashrateThs,
      mode: 'mining' as const,
    }));
  }),
  ...facility.gpuPools.map((pool) => ({
    resourceId: `${facility.facilityId}-${pool.gpuType.toLowerCase()}`,
    facilityId: facility.facilityId,
    kind: 'gpu_pool' as const,
    model: pool.gpuType,
    units: pool.count,
    powerWPerUnit: GPU_MODELS[pool.gpuType].powerW,
    hashrateThsPerUnit: null,
    warmStandbyUnits: pool.warmStandby,
    mode: 'warm_standby' as const,
  })),
];

/** Registers facilities and their resources; what exists already is left as it is. */
export const registerScenario = async (deps: CommandDeps, caller: Caller, facilities: readonly FacilitySpec[]) => {
  let position;
  for (const f of facilities) {
    const handled = await handleCommand(
      deps.store,
      facilityDecider,
      facilityStream(f.facilityId),
      { type: 'RegisterFacility', facilityId: f.facilityId, name: f.name, marketNode: f.marketNode, powerBudgetKw: f.powerBudgetKw },
      contextFor(deps, caller, `${caller.commandId}:facility:${f.facilityId}`),
    );
    if (handled.type === 'accepted') position = handled.position ?? position;
    for (const spec of resourcesOf(f)) {
      const r = await handleCommand(
        deps.store,
        resourceDecider,
        resourceStream(spec.resourceId),
        { type: 'RegisterResource', spec },
        contextFor(deps, caller, `${caller.commandId}:resource:${spec.resourceId}`),
      );
      if (r.type === 'accepted') position = r.position ?? position;
    }
  }
  return { position };
};

export const requestSwitch = async (
  deps: CommandDeps,
  caller: Caller,
  input: { resourceId: string; to: ResourceMode; reason: string; switchId?: string; handoverId?: string; expectedFrom?: ResourceMode },
) => {
  const switchId = input.switchId ?? deps.ids.id('sw');
  // a switch that draws more must fit the facility's budget (a handover checks its own parts)
  const resource = input.handoverId ? undefined : await loadResource(deps, input.resourceId);
  const raises = resource !== undefined && modeFits(resource.spec.kind, input.to) && drawKw(resource.spec, input.to) > drawKw(resource.spec, resource.mode);
  const ledger = raises ? (await powerLedger(deps, resource.spec.facilityId, [input.resourceId])).facility : undefined;
  const handled = accepted(
    await handleCommand(
      deps.store,
      resourceDecider,
      resourceStream(input.resourceId),
      {
        type: 'RequestSwitch',
        switchId,
        to: input.to,
        reason: input.reason,
        ...(input.handoverId ? { handoverId: input.handoverId } : {}),
        ...(input.expectedFrom ? { expectedFrom: input.expectedFrom } : {}),
        ...(ledger ? { power: { committedDrawKw: ledger.committedDrawKw, powerBudgetKw: ledger.powerBudgetKw } } : {}),
      },
      contextFor(deps, caller),
    ),
  );
  const requested = handled.events.find((e) => e.type === 'ModeSwitchRequested');
  return { switchId: requested?.type === 'ModeSwitchRequested' ? requested.data.switchId : switchId, position: handled.position };
};
