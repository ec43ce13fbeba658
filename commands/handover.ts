/**
 * Requesting a power handover: reads the two resources and the facility's power ledger
 * (the committed draw of every resource the fleet read model lists at the facility, each
 * read from its own stream, plus the two named ones) and hands them to the pure decider.
 */
import { facilityDecider, facilityStream } from '../domain/facility/facility.ts';
import { handoverDecider, handoverStream, type HandoverDirection, type HandoverFacts, type ResourceFacts } from '../domain/resource/handover.ts';
import { committedDrawKw } from '../domain/resource/power.ts';
import { resourceDecider, resourceStream, type ResourceState } from '../domain/resource/resource.ts';
import { uuidFromName } from '../infra/ids.ts';
import { CommandRejectedError } from './errors.ts';
import { accepted, contextFor, type Caller, type CommandDeps } from './context.ts';
import { handleCommand, loadState } from './handle.ts';

export type HandoverInput = {
  facilityId: string;
  direction: HandoverDirection;
  asicResourceId: string;
  gpuResourceId: string;
  reason: string;
  handoverId?: string;
};

type Registered = Extract<ResourceState, { status: 'registered' }>;

const factsOf = (s: Registered): ResourceFacts => ({
  resourceId: s.spec.resourceId,
  facilityId: s.spec.facilityId,
  kind: s.spec.kind,
  mode: s.mode,
  healthy: s.healthy,
  switchInFlight: s.inFlight?.switchId,
  allocatedUnits: Object.values(s.allocations).reduce((a, b) => a + b, 0),
  units: s.spec.units,
  powerWPerUnit: s.spec.powerWPerUnit,
});

const loadResource = async (deps: CommandDeps, resourceId: string) => {
  const s = await loadState(deps.store, resourceDecider, resourceStream(resourceId));
  return s.status === 'registered' ? s : undefined;
};

export const handoverFacts = async (deps: CommandDeps, input: Pick<HandoverInput, 'facilityId' | 'asicResourceId' | 'gpuResourceId'>): Promise<HandoverFacts> => {
  const facility = await loadState(deps.store, facilityDecider, facilityStream(input.facilityId));
  const listed = await deps.readModels.query<{ resource_id: string }>(`SELECT resource_id FROM rm_resources WHERE facility_id = $1`, [input.facilityId]);
  const ids = new Set([...listed.map((r) => r.resource_id), input.asicResourceId, input.gpuResourceId]);
  const states = new Map<string, Registered>();
  for (const id of ids) {
    const s = await loadResource(deps, id);
    if (s) states.set(id, s);
  }
  const draw = [...states.values()].filter((s) => s.spec.facilityId === input.facilityId).reduce((kw, s) => kw + committedDrawKw(s.spec, s.mode, s.inFlight?.to), 0);
  const asic = states.get(input.asicResourceId);
  const gpu = states.get(input.gpuResourceId);
  return {
    asic: asic && factsOf(asic),
    gpu: gpu && factsOf(gpu),
    facility: facility.status === 'registered' ? { facilityId: facility.facilityId, powerBudgetKw: facility.powerBudgetKw, committedDrawKw: draw } : undefined,
  };
};

export const requestHandover = async (deps: CommandDeps, caller: Caller, input: HandoverInput) => {
  // from the command id: a retried request finds the same handover stream
  const handoverId = input.handoverId ?? `ho-${uuidFromName(`handover:${caller.commandId}`)}`;
  const facts = await handoverFacts(deps, input);
  const handled = accepted(
    await handleCommand(
      deps.store,
      handoverDecider,
      handoverStream(handoverId),
      {
        type: 'RequestHandover',
        handoverId,
        facilityId: input.facilityId,
        direction: input.direction,
        asicResourceId: input.asicResourceId,
        gpuResourceId: input.gpuResourceId,
        reason: input.reason,
        facts,
      },
      contextFor(deps, caller),
    ),
  );
  if (handled.duplicate) {
    // the same command id again: the same request, or a mistake worth saying
    const earlier = handled.events.find((e) => e.type === 'HandoverRequested');
    const same = earlier?.type === 'HandoverRequested' && (['facilityId', 'direction', 'asicResourceId', 'gpuResourceId'] as const).every((k) => earlier.data[k] === input[k]);
    if (!same) throw new CommandRejectedError({ code: 'already_exists', message: `command id ${caller.commandId} was already used for another handover request`, field: 'commandId' });
  }
  return { handoverId, position: handled.position };
};
