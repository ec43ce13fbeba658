/**
 * Requesting a power handover: reads the two resources and the facility's power ledger
 * (power-ledger.ts) and hands them to the pure decider.
 */
import { handoverDecider, handoverStream, type HandoverDirection, type HandoverFacts, type ResourceFacts } from '../domain/resource/handover.ts';
import { uuidFromName } from '../infra/ids.ts';
import { CommandRejectedError } from './errors.ts';
import { accepted, contextFor, type Caller, type CommandDeps } from './context.ts';
import { handleCommand } from './handle.ts';
import { powerLedger, type Registered } from './power-ledger.ts';
import { poweredCount } from '../domain/resource/gpu-pool.ts';
import { entriesOf } from '../domain/persistent-map.ts';

export type HandoverInput = {
  facilityId: string;
  direction: HandoverDirection;
  asicResourceId: string;
  gpuResourceId: string;
  reason: string;
  handoverId?: string;
};

const factsOf = (s: Registered): ResourceFacts => ({
  resourceId: s.spec.resourceId,
  facilityId: s.spec.facilityId,
  kind: s.spec.kind,
  mode: s.mode,
  healthy: s.healthy,
  switchInFlight: s.inFlight?.switchId,
  allocatedUnits: entriesOf(s.allocations).reduce((a, [, units]) => a + units, 0),
  poweredUnits: s.pool ? poweredCount(s.pool.gpus) : 0,
  warmStandbyUnits: s.spec.warmStandbyUnits ?? 0,
  units: s.spec.units,
  powerWPerUnit: s.spec.powerWPerUnit,
});

export const handoverFacts = async (deps: CommandDeps, input: Pick<HandoverInput, 'facilityId' | 'asicResourceId' | 'gpuResourceId'>): Promise<HandoverFacts> => {
  const { facility, resources } = await powerLedger(deps, input.facilityId, [input.asicResourceId, input.gpuResourceId]);
  const asic = resources.get(input.asicResourceId);
  const gpu = resources.get(input.gpuResourceId);
  return { asic: asic && factsOf(asic), gpu: gpu && factsOf(gpu), facility };
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
    if (!same) throw new CommandRejectedError({ code: 'already_exists', message: 'this command id was already used for another handover request', field: 'commandId' });
  }
  return { handoverId, position: handled.position };
};
