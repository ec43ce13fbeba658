/**
 * Drives power handovers (domain/resource/handover.ts) through their phases on the device
 * controllers. `capacity_checked` holds both resources by requesting their parts as
 * switches (a resource already switching, or serving, refuses, and the handover fails
 * there with nothing moved); each device phase is recorded on its resource and on the
 * handover; the facility's own phases run as control steps. When a phase fails, what was
 * under way is rolled back on the device and its switch recorded as failed, and a part
 * already completed is switched back by an ordinary switch, so the facility returns to
 * where it was (as a switch of the handover's own: an ASIC block whose power went to GPUs
 * takes no other switch until a handover gives it back). Step command ids derive from the handover and phase: resuming after a
 * restart repeats nothing.
 */
import type { Logger } from 'pino';
import { HANDOVER_TARGETS, handoverDecider, handoverStream, partOf, type HandoverPart, type HandoverState } from '../../domain/resource/handover.ts';
import { resourceDecider, resourceStream, type ResourceState } from '../../domain/resource/resource.ts';
import type { SwitchPhase } from '../../domain/resource/switching.ts';
import type { RecordedEvent } from '../../infra/event-store/types.ts';
import { contextFor, type CommandDeps } from '../context.ts';
import { CommandRejectedError } from '../errors.ts';
import { requestSwitch } from '../fleet.ts';
import { handleCommand, loadState } from '../handle.ts';
import type { ProcessManager } from '../process-managers/runner.ts';
import { PhaseFailedError, type DeviceController } from './device-controller.ts';
import { drivers } from './drivers.ts';

export type HandoverExecutor = ProcessManager & {
  resume(handoverId: string): void;
  idle(): Promise<void>;
  stop(): void;
};

type InFlight = Exclude<HandoverState, { status: 'none' }>;
type Registered = Extract<ResourceState, { status: 'registered' }>;

/** The switch id of a resource's part of a handover. */
export const partSwitchId = (handoverId: string, part: HandoverPart) => `${handoverId}-${part}`;

const resourceOf = (h: InFlight, part: HandoverPart) => (part === 'asic' ? h.request.asicResourceId : h.request.gpuResourceId);

export const handoverExecutor = (deps: CommandDeps, devices: DeviceController, logger: Logger): HandoverExecutor => {
  const log = logger.child({ processManager: 'handover-executor' });
  const loadResource = async (resourceId: string) => {
    const s = await loadState(deps.store, resourceDecider, resourceStream(resourceId));
    if (s.status !== 'registered') throw new PhaseFailedError('capacity_checked', `resource ${resourceId} is not registered`);
    return s;
  };

  const drive = async (handoverId: string, correlationId: string) => {
    const caller = { commandId: '', correlationId, actor: 'process-manager:handover-executor' };
    const step = (suffix: string) => contextFor(deps, caller, `handover:${handoverId}:${suffix}`);

    /** Holds both resources: each takes its part as a switch of its own. */
    const reserve = async (h: InFlight) => {
      for (const part of ['asic', 'gpu'] as const) {
        const [from, to] = part === 'asic' ? [h.request.asicFrom, h.request.asicTo] : [h.request.gpuFrom, h.request.gpuTo];
        try {
          await requestSwitch(deps, { ...caller, commandId: `handover:${handoverId}:reserve-${part}` }, {
            resourceId: resourceOf(h, part),
            to,
            reason: `handover ${handoverId} (${h.request.direction}): ${h.request.reason}`.slice(0, 200),
            switchId: partSwitchId(handoverId, part),
            handoverId,
            expectedFrom: from,
          });
        } catch (error) {
          if (!(error instanceof CommandRejectedError)) throw error;
          throw new PhaseFailedError('capacity_checked', `${part} ${resourceOf(h, part)}: ${error.message}`);
        }
      }
    };

    /** One device phase of a resource's switch, recorded on the resource. */
    const runResourcePhase = async (resource: Registered, f: NonNullable<Registered['inFlight']>, phase: SwitchPhase, suffix: string) => {
      const { durationMs } = await devices.runPhase({ resource: resource.spec, phase, from: f.from, to: f.to });
      if (pool.stopped) return durationMs;
      await handleCommand(deps.store, resourceDecider, resourceStream(resource.spec.resourceId), { type: 'CompletePhase', switchId: f.switchId, phase, durationMs }, step(suffix));
      return durationMs;
    };

    const runStep = async (h: InFlight, phase: SwitchPhase): Promise<number> => {
      const part = partOf(phase);
      if (!part) {
        const asic = await loadResource(h.request.asicResourceId);
        const { durationMs } = await devices.runPhase({ resource: asic.spec, phase, from: h.request.asicFrom, to: h.request.asicTo });
        if (phase === 'capacity_checked') await reserve(h);
        return durationMs;
      }
      const resource = await loadResource(resourceOf(h, part));
      const f = resource.inFlight;
      if (f?.switchId !== partSwitchId(handoverId, part)) throw new PhaseFailedError(phase, `${resource.spec.resourceId} no longer carries this handover's switch`);
      return runResourcePhase(resource, f, phase, `${phase}:resource`);
    };

    /** Drives a switch back to the end here (it belongs to the handover, so no one else does); a device failure rolls it back. */
    const driveBack = async (resourceId: string, switchId: string) => {
      while (!pool.stopped) {
        const resource = await loadResource(resourceId);
        const f = resource.inFlight;
        if (f?.switchId !== switchId) return;
        const phase = f.phases[f.done]!;
        try {
          await runResourcePhase(resource, f, phase, `back:${resourceId}:${phase}`);
        } catch (error) {
          if (!(error instanceof PhaseFailedError)) throw error;
          await devices.rollback(resource.spec, f.from);
          await handleCommand(deps.store, resourceDecider, resourceStream(resourceId), { type: 'FailSwitch', switchId, phase, reason: error.message }, step(`back-failed:${resourceId}`));
          throw error;
        }
      }
    };

    /** Undo what the handover moved; returns what was done, for the record. */
    const rollBack = async (h: InFlight, failed: SwitchPhase, reason: string): Promise<string> => {
      const done = new Set(h.request.phases.slice(0, h.done));
      const notes: string[] = [];
      for (const part of ['asic', 'gpu'] as const) {
        const resourceId = resourceOf(h, part);
        const state = await loadState(deps.store, resourceDecider, resourceStream(resourceId));
        if (state.status !== 'registered') continue;
        const original = part === 'asic' ? h.request.asicFrom : h.request.gpuFrom;
        const f = state.inFlight;
        const back = `${partSwitchId(handoverId, part)}-back`;
        if (f?.switchId === partSwitchId(handoverId, part)) {
          // the part under way: undo it on the device
          if (f.done > 0 || partOf(failed) === part) await devices.rollback(state.spec, f.from);
          await handleCommand(deps.store, resourceDecider, resourceStream(resourceId), { type: 'FailSwitch', switchId: f.switchId, phase: failed, reason }, step(`failed:${part}`));
          notes.push(`${resourceId} back to ${f.from}`);
          continue;
        }
        const partDone = h.request.phases.filter((p) => partOf(p) === part).every((p) => done.has(p)) && state.mode === HANDOVER_TARGETS[h.request.direction][part].to;
        if (!partDone && f?.switchId !== back) continue;
        try {
          // a completed part goes back as part of this handover (an ASIC block it gave to GPUs takes only a handover's switch)
          if (f?.switchId !== back)
            await requestSwitch(deps, { ...caller, commandId: `handover:${handoverId}:back-${part}` }, {
              resourceId,
              to: original,
              reason: `handover ${handoverId} failed: switching back`,
              switchId: back,
              handoverId,
              expectedFrom: state.mode,
            });
          await driveBack(resourceId, back);
          notes.push(`${resourceId} switched back to ${original}`);
        } catch (error) {
          if (!(error instanceof CommandRejectedError || error instanceof PhaseFailedError)) throw error;
          notes.push(`${resourceId} could not switch back to ${original}: ${error.message}`);
        }
      }
      return notes.length ? notes.join('; ') : 'nothing had moved';
    };

    while (!pool.stopped) {
      const h = await loadState(deps.store, handoverDecider, handoverStream(handoverId));
      if (h.status !== 'in_flight') return;
      const phase = h.request.phases[h.done]!;
      try {
        const durationMs = await runStep(h, phase);
        if (pool.stopped) return;
        await handleCommand(deps.store, handoverDecider, handoverStream(handoverId), { type: 'CompleteHandoverPhase', phase, durationMs }, step(phase));
      } catch (error) {
        if (!(error instanceof PhaseFailedError)) throw error;
        log.warn({ handoverId, phase, reason: error.message }, 'handover phase failed; rolling back');
        const rollback = await rollBack(h, phase, error.message);
        await handleCommand(deps.store, handoverDecider, handoverStream(handoverId), { type: 'FailHandover', phase, reason: error.message, rollback }, step('failed'));
        return;
      }
    }
  };

  const pool = drivers(log, 'handoverId', drive);

  return {
    name: 'handover-executor',
    async react(event: RecordedEvent) {
      if (event.type === 'HandoverRequested') pool.start((event.data as { handoverId: string }).handoverId, event.metadata.correlationId);
    },
    resume: (handoverId) => pool.start(handoverId, `resume:${handoverId}`),
    idle: () => pool.idle(),
    stop: () => pool.stop(),
  };
};
