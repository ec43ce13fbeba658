/**
 * Drives power handovers (domain/resource/handover.ts) through their phases on the device
 * controllers. `capacity_checked` holds both resources by requesting their parts as
 * switches (a resource already switching, or serving, refuses) and then checks the power
 * budget again with both held, so two handovers racing for the same headroom cannot both
 * pass. Each device phase is recorded on its resource and then on the handover; the
 * facility's own phases run as control steps.
 *
 * Restarts: step command ids derive from the handover and phase, and a phase its resource
 * already recorded (the process stopped between the two appends) is taken from the
 * resource, not run again. A failed phase is recorded (HandoverRollingBack) before anything
 * is undone, and the undoing is idempotent, so a restart in the middle of it goes on with
 * it. Undoing runs in the reverse of the forward order (to_ai: GPUs first, then ASICs): a
 * part under way is rolled back on its device, a completed part is switched back as a
 * switch of the handover's own (an ASIC block whose power went to GPUs takes no other).
 */
import type { Logger } from 'pino';
import { budgetAfter, HANDOVER_TARGETS, handoverDecider, handoverStream, partOf, type HandoverPart, type HandoverState } from '../../domain/resource/handover.ts';
import { committedDrawKw, drawKw } from '../../domain/resource/power.ts';
import { resourceDecider, resourceStream, type ResourceCommand } from '../../domain/resource/resource.ts';
import type { SwitchPhase } from '../../domain/resource/switching.ts';
import type { RecordedEvent } from '../../infra/event-store/types.ts';
import { contextFor, type CommandDeps } from '../context.ts';
import { CommandRejectedError } from '../errors.ts';
import { requestSwitch } from '../fleet.ts';
import { handleCommand, loadState } from '../handle.ts';
import { handoverFacts } from '../handover.ts';
import { loadResource as loadRegistered, type Registered } from '../power-ledger.ts';
import type { ProcessManager } from '../process-managers/runner.ts';
import { PhaseFailedError, type DeviceController } from './device-controller.ts';
import { drivers } from './drivers.ts';

export type HandoverExecutor = ProcessManager & {
  resume(handoverId: string): void;
  idle(): Promise<void>;
  stop(): void;
};

type Started = Exclude<HandoverState, { status: 'none' }>;

/** A device that did not go back when told to (not a database error, which is retried). */
class RollbackFailedError extends Error {
  readonly type = 'rollback_failed' as const;
}

/** The switch id of a resource's part of a handover, and of its way back after a failure. */
export const partSwitchId = (handoverId: string, part: HandoverPart) => `${handoverId}-${part}`;
export const backSwitchId = (handoverId: string, part: HandoverPart) => `${handoverId}-${part}-back`;

const resourceOf = (h: Started, part: HandoverPart) => (part === 'asic' ? h.request.asicResourceId : h.request.gpuResourceId);
const PARTS = ['asic', 'gpu'] as const;
/** Undo in the reverse of the forward order, so the facility never draws both at once. */
const undoOrder = (h: Started): readonly HandoverPart[] => (h.request.direction === 'to_ai' ? ['gpu', 'asic'] : ['asic', 'gpu']);

export const handoverExecutor = (deps: CommandDeps, devices: DeviceController, logger: Logger): HandoverExecutor => {
  const log = logger.child({ processManager: 'handover-executor' });
  const loadResource = async (resourceId: string, phase: SwitchPhase) => {
    const s = await loadRegistered(deps, resourceId);
    if (!s) throw new PhaseFailedError(phase, `resource ${resourceId} is not registered`);
    return s;
  };

  const rollbackDevice = async (resource: Registered['spec'], mode: Parameters<DeviceController['rollback']>[1]) => {
    try {
      await devices.rollback(resource, mode);
    } catch (error) {
      throw new RollbackFailedError(error instanceof Error ? error.message : String(error));
    }
  };

  const drive = async (handoverId: string, correlationId: string) => {
    const caller = { commandId: '', correlationId, actor: 'process-manager:handover-executor' };
    const step = (suffix: string) => contextFor(deps, caller, `handover:${handoverId}:${suffix}`);
    const onResource = async (resourceId: string, command: ResourceCommand, suffix: string) => {
      const handled = await handleCommand(deps.store, resourceDecider, resourceStream(resourceId), command, step(suffix));
      if (handled.type === 'rejected') throw new PhaseFailedError('phase' in command ? command.phase : 'capacity_checked', `${resourceId} refused: ${handled.rejection.message}`);
    };

    /** Holds both resources (each takes its part as a switch of its own), then checks the budget with both held. */
    const reserve = async (h: Started) => {
      for (const part of PARTS) {
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
      const facts = await handoverFacts(deps, h.request);
      if (!facts.asic || !facts.gpu || !facts.facility) throw new PhaseFailedError('capacity_checked', 'the facility or a resource is gone');
      const [asicFromKw, gpuFromKw] = [drawKw(facts.asic, h.request.asicFrom), drawKw(facts.gpu, h.request.gpuFrom)];
      const { problem } = budgetAfter({
        direction: h.request.direction,
        ledgerKw: facts.facility.committedDrawKw,
        budgetKw: facts.facility.powerBudgetKw,
        asic: facts.asic,
        gpu: facts.gpu,
        asicHeldKw: committedDrawKw(facts.asic, h.request.asicFrom, h.request.asicTo),
        gpuHeldKw: committedDrawKw(facts.gpu, h.request.gpuFrom, h.request.gpuTo),
        asicFromKw,
        gpuFromKw,
      });
      if (problem) throw new PhaseFailedError('capacity_checked', problem);
    };

    /** One device phase of a resource's switch, recorded on the resource. */
    const runResourcePhase = async (resource: Registered, f: NonNullable<Registered['inFlight']>, phase: SwitchPhase, suffix: string) => {
      const { durationMs } = await devices.runPhase({ resource: resource.spec, phase, from: f.from, to: f.to });
      // recorded even when stopping: a ramp that happened is not run again on resume
      await onResource(resource.spec.resourceId, { type: 'CompletePhase', switchId: f.switchId, phase, durationMs }, suffix);
      return durationMs;
    };

    /** Runs a phase, or, when its resource already recorded it (a stop between the two appends), takes its duration from there. */
    const runStep = async (h: Started, phase: SwitchPhase): Promise<number> => {
      const part = partOf(phase);
      if (!part) {
        const asic = await loadResource(h.request.asicResourceId, phase);
        const { durationMs } = await devices.runPhase({ resource: asic.spec, phase, from: h.request.asicFrom, to: h.request.asicTo });
        if (phase === 'capacity_checked') await reserve(h);
        return durationMs;
      }
      const resource = await loadResource(resourceOf(h, part), phase);
      const id = partSwitchId(handoverId, part);
      const f = resource.inFlight;
      if (f?.switchId === id) return resource.durations[phase] ?? (await runResourcePhase(resource, f, phase, `${phase}:resource`));
      if (resource.lastSwitch?.switchId === id && resource.lastSwitch.outcome === 'switched') return resource.lastSwitch.durations[phase] ?? 0;
      throw new PhaseFailedError(phase, `${resource.spec.resourceId} no longer carries this handover's switch`);
    };

    /** Drives a way-back switch to its end (it belongs to the handover: no one else drives it); false when stopped first. */
    const driveBack = async (resourceId: string, switchId: string): Promise<boolean> => {
      for (;;) {
        if (pool.stopped) return false;
        const resource = await loadResource(resourceId, 'signal_validated');
        const f = resource.inFlight;
        if (f?.switchId !== switchId) return true;
        const phase = f.phases[f.done]!;
        try {
          await runResourcePhase(resource, f, phase, `back:${resourceId}:${phase}`);
        } catch (error) {
          if (!(error instanceof PhaseFailedError)) throw error;
          await rollbackDevice(resource.spec, f.from);
          await onResource(resourceId, { type: 'FailSwitch', switchId, phase, reason: error.message }, `back-failed:${resourceId}`);
          return true;
        }
      }
    };

    /** Undoes one part, idempotently: what is already undone is left alone. False when stopped first. */
    const undo = async (h: Started, part: HandoverPart, failed: SwitchPhase, reason: string): Promise<boolean> => {
      const resourceId = resourceOf(h, part);
      const state = await loadResource(resourceId, failed);
      const f = state.inFlight;
      const [partId, back] = [partSwitchId(handoverId, part), backSwitchId(handoverId, part)];
      if (f?.switchId === partId) {
        if (f.done > 0 || partOf(failed) === part) await rollbackDevice(state.spec, f.from);
        await onResource(resourceId, { type: 'FailSwitch', switchId: partId, phase: failed, reason }, `failed:${part}`);
        return true;
      }
      if (f?.switchId === back) return driveBack(resourceId, back);
      const original = part === 'asic' ? h.request.asicFrom : h.request.gpuFrom;
      if (state.lastSwitch?.switchId !== partId || state.lastSwitch.outcome !== 'switched' || state.mode !== HANDOVER_TARGETS[h.request.direction][part].to) return true;
      try {
        await requestSwitch(deps, { ...caller, commandId: `handover:${handoverId}:back-${part}` }, {
          resourceId,
          to: original,
          reason: `handover ${handoverId} failed: switching back`,
          switchId: back,
          handoverId,
          expectedFrom: state.mode,
        });
      } catch (error) {
        if (!(error instanceof CommandRejectedError)) throw error;
        refusedBack.set(part, error.message); // reported with the outcome
        return true;
      }
      return driveBack(resourceId, back);
    };

    /** A part whose undoing failed: its switch ends as failed, and the resource is marked unhealthy for an operator. */
    const abandon = async (h: Started, part: HandoverPart, reason: string) => {
      const resourceId = resourceOf(h, part);
      const state = await loadRegistered(deps, resourceId);
      if (!state) return;
      const f = state.inFlight;
      if (f?.handoverId === handoverId) await onResource(resourceId, { type: 'FailSwitch', switchId: f.switchId, phase: h.failure!.phase, reason }, `abandon:${part}`);
      await onResource(resourceId, { type: 'SetHealth', healthy: false, reason: reason.slice(0, 200) }, `unhealthy:${part}`);
    };

    const refusedBack = new Map<HandoverPart, string>();

    /** What the undoing left, read from the resources. */
    const outcome = async (h: Started) => {
      const notes: string[] = [];
      for (const part of undoOrder(h)) {
        const resourceId = resourceOf(h, part);
        const s = await loadResource(resourceId, 'signal_validated');
        const last = s.lastSwitch;
        if (last?.switchId === backSwitchId(handoverId, part))
          notes.push(last.outcome === 'switched' ? `${resourceId} switched back to ${s.mode}` : `${resourceId} could not switch back (${last.reason}); it is ${s.mode}`);
        else if (last?.switchId === partSwitchId(handoverId, part))
          notes.push(
            last.outcome === 'switched'
              ? `${resourceId} could not switch back${refusedBack.has(part) ? ` (${refusedBack.get(part)})` : ''}; it is ${s.mode}`
              : Object.keys(last.durations).length || partOf(h.failure?.phase ?? 'signal_validated') === part
                ? `${resourceId} back to ${s.mode}`
                : `${resourceId} released, still ${s.mode}`,
          );
      }
      return notes.length ? notes.join('; ') : 'nothing had moved';
    };

    while (!pool.stopped) {
      const h = await loadState(deps.store, handoverDecider, handoverStream(handoverId));
      if (h.status === 'rolling_back') {
        let incomplete: string | undefined;
        for (const part of undoOrder(h)) {
          try {
            if (!(await undo(h, part, h.failure!.phase, h.failure!.reason))) return; // stopped: goes on at the next start
          } catch (error) {
            if (!(error instanceof RollbackFailedError)) throw error;
            // a device that cannot be rolled back: recorded, taken out of service, and nothing after it is
            // undone (the parts are undone in the order that keeps the facility within its power)
            incomplete = `rollback incomplete: ${resourceOf(h, part)} ${error.message}`;
            await abandon(h, part, incomplete);
            break;
          }
        }
        const rollback = [incomplete, await outcome(h)].filter(Boolean).join('; ');
        await handleCommand(deps.store, handoverDecider, handoverStream(handoverId), { type: 'FailHandover', rollback }, step('failed'));
        return;
      }
      if (h.status !== 'in_flight') return;
      const phase = h.request.phases[h.done]!;
      try {
        const durationMs = await runStep(h, phase);
        await handleCommand(deps.store, handoverDecider, handoverStream(handoverId), { type: 'CompleteHandoverPhase', phase, durationMs }, step(phase));
      } catch (error) {
        if (!(error instanceof PhaseFailedError)) throw error;
        log.warn({ handoverId, phase, reason: error.message }, 'handover phase failed; rolling back');
        await handleCommand(deps.store, handoverDecider, handoverStream(handoverId), { type: 'StartRollback', phase, reason: error.message }, step('rollback'));
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
