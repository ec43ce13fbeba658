/**
 * Drives requested switches through their phases on the device controllers:
 * each completed phase is recorded with its measured duration; `capacity_checked`
 * checks the facility's power budget again with the switch in flight; a failed phase
 * rolls the device back and records SwitchFailed. Switches run concurrently (an
 * ASIC ramp takes seconds); each step's command id derives from the switch and
 * phase, so resuming a switch after a restart repeats nothing.
 */
import type { Logger } from 'pino';
import { resourceDecider, resourceStream } from '../../domain/resource/resource.ts';
import type { RecordedEvent } from '../../infra/event-store/types.ts';
import { committedDrawKw, drawKw, switchOverBudget } from '../../domain/resource/power.ts';
import type { ResourceMode } from '../../domain/resource/switching.ts';
import { contextFor, type CommandDeps } from '../context.ts';
import { powerLedger, type Registered } from '../power-ledger.ts';
import { handleCommand, loadState } from '../handle.ts';
import type { ProcessManager } from '../process-managers/runner.ts';
import { PhaseFailedError, type DeviceController } from './device-controller.ts';
import { drivers } from './drivers.ts';

export type SwitchExecutor = ProcessManager & {
  /** Continues a switch found in flight (after a restart). */
  resume(resourceId: string): void;
  /** Resolves when no switch is being driven. */
  idle(): Promise<void>;
  /** Stops after the phases under way; what is left resumes on the next start. */
  stop(): void;
};

export const switchExecutor = (deps: CommandDeps, devices: DeviceController, logger: Logger): SwitchExecutor => {
  const log = logger.child({ processManager: 'switch-executor' });

  const load = (resourceId: string) => loadState(deps.store, resourceDecider, resourceStream(resourceId));

  /**
   * The budget was checked when the switch was requested, but two switches requested at once
   * each saw the ledger without the other. Checked again now that this switch is recorded in
   * flight (the ledger counts every switch in flight at the higher of its two draws), a later
   * checker always sees an earlier one: of two racing switches at most one goes on (both stop
   * if they check at the same moment), never both.
   */
  const recheckBudget = async (state: Registered, { from, to }: { from: ResourceMode; to: ResourceMode }) => {
    if (drawKw(state.spec, to) <= drawKw(state.spec, from)) return; // a switch that lowers the draw always fits
    const { facility } = await powerLedger(deps, state.spec.facilityId, [state.spec.resourceId]);
    if (!facility) return;
    // the ledger counts this switch at its higher draw: the base is the facility with it still `from`
    const base = facility.committedDrawKw - committedDrawKw(state.spec, from, to) + drawKw(state.spec, from);
    const problem = switchOverBudget(state.spec, from, to, base, facility.powerBudgetKw);
    if (problem) throw new PhaseFailedError('capacity_checked', problem);
  };

  const drive = async (resourceId: string, correlationId: string) => {
    const caller = { commandId: '', correlationId, actor: 'process-manager:switch-executor' };
    while (!pool.stopped) {
      const state = await load(resourceId);
      // a resource's part of a power handover is driven by the handover executor
      if (state.status !== 'registered' || !state.inFlight || state.inFlight.handoverId) return;
      const { switchId, from, to, phases, done } = state.inFlight;
      const phase = phases[done]!;
      const step = (suffix: string) => contextFor(deps, caller, `switch:${switchId}:${suffix}`);
      try {
        if (phase === 'capacity_checked') await recheckBudget(state, { from, to });
        const { durationMs } = await devices.runPhase({ resource: state.spec, phase, from, to });
        if (pool.stopped) return;
        await handleCommand(deps.store, resourceDecider, resourceStream(resourceId), { type: 'CompletePhase', switchId, phase, durationMs }, step(phase));
      } catch (error) {
        if (!(error instanceof PhaseFailedError)) throw error;
        log.warn({ resourceId, switchId, phase, reason: error.message }, 'switch phase failed; rolling back');
        await devices.rollback(state.spec, from);
        await handleCommand(
          deps.store,
          resourceDecider,
          resourceStream(resourceId),
          { type: 'FailSwitch', switchId, phase, reason: error.message },
          step('failed'),
        );
        return;
      }
    }
  };

  const pool = drivers(log, 'resourceId', drive);

  return {
    name: 'switch-executor',
    async react(event: RecordedEvent) {
      const requested = event.data as { resourceId: string; handoverId?: string };
      if (event.type === 'ModeSwitchRequested' && !requested.handoverId) pool.start(requested.resourceId, event.metadata.correlationId);
    },
    resume: (resourceId) => pool.start(resourceId, `resume:${resourceId}`),
    idle: () => pool.idle(),
    stop: () => pool.stop(),
  };
};
