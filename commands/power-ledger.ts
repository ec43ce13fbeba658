/**
 * A facility's power ledger as commands need it: its budget, and the draw every resource
 * has committed (its mode's, or the higher of two while it switches), each read from its
 * own stream. Which resources are at the facility comes from the fleet read model, plus any
 * the caller names (a resource registered a moment ago may not be listed yet).
 */
import { facilityDecider, facilityStream } from '../domain/facility/facility.ts';
import { committedDrawKw } from '../domain/resource/power.ts';
import { resourceDecider, resourceStream, type ResourceState } from '../domain/resource/resource.ts';
import type { CommandDeps } from './context.ts';
import { loadState } from './handle.ts';

export type Registered = Extract<ResourceState, { status: 'registered' }>;

export const loadResource = async (deps: CommandDeps, resourceId: string) => {
  const s = await loadState(deps.store, resourceDecider, resourceStream(resourceId));
  return s.status === 'registered' ? s : undefined;
};

export type PowerLedger = {
  facility: { facilityId: string; powerBudgetKw: number; committedDrawKw: number } | undefined;
  /** The resources read, by id (those of the facility, and those named). */
  resources: Map<string, Registered>;
};

export const powerLedger = async (deps: CommandDeps, facilityId: string, named: readonly string[] = []): Promise<PowerLedger> => {
  const facility = await loadState(deps.store, facilityDecider, facilityStream(facilityId));
  const listed = await deps.readModels.query<{ resource_id: string }>(`SELECT resource_id FROM rm_resources WHERE facility_id = $1`, [facilityId]);
  const resources = new Map<string, Registered>();
  for (const id of new Set([...listed.map((r) => r.resource_id), ...named])) {
    const s = await loadResource(deps, id);
    if (s) resources.set(id, s);
  }
  const draw = [...resources.values()].filter((s) => s.spec.facilityId === facilityId).reduce((kw, s) => kw + committedDrawKw(s.spec, s.mode, s.inFlight?.to), 0);
  return {
    facility: facility.status === 'registered' ? { facilityId: facility.facilityId, powerBudgetKw: facility.powerBudgetKw, committedDrawKw: draw } : undefined,
    resources,
  };
};
