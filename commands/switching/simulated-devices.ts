/**
 * Simulated device controllers with realistic timings (docs/design.md §7): ASIC
 * curtailment to ~25 W in under 5 s and back to full power in under 10 s
 * (LuxOS, Braiins OS+ docs); a warm GPU replica serves in milliseconds, a cold
 * model load takes 34–84 s (ServerlessLLM, OSDI '24). Control steps take a few
 * milliseconds. Durations are drawn from a seeded random source and the wait is
 * scaled by `speed` (3600 = an hour a second), so runs are deterministic.
 */
import type { SwitchPhase } from '../../domain/resource/switching.ts';
import { PhaseFailedError, type DeviceController, type PhaseRequest } from './device-controller.ts';

type Range = readonly [minMs: number, maxMs: number];

export const PHASE_TIMINGS: Record<SwitchPhase, Range> = {
  signal_validated: [1, 4],
  capacity_checked: [2, 8],
  power_reassigned: [5, 20],
  asic_ramped_down: [2_000, 5_000],
  asic_ramped_up: [6_000, 10_000],
  gpu_activated: [20, 120],
  gpu_deactivated: [10, 40],
  endpoint_ready: [10, 60],
  endpoint_drained: [50, 250],
};

/** A GPU activated from off loads its model cold. */
export const COLD_LOAD: Range = [34_000, 84_000];

export type SimulatedDevicesOptions = {
  /** Uniform [0, 1), seeded. */
  random: () => number;
  /** Simulated milliseconds per real millisecond; waits are durationMs / speed. */
  speed?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Phases that fail (for tests and drills), with how many times. */
  failures?: Partial<Record<SwitchPhase, number>>;
  /** A phase longer than this fails as a time-out. */
  timeoutMs?: number;
};

export const createSimulatedDevices = ({
  random,
  speed = 1,
  sleep = (ms) => new Promise((r) => setTimeout(r, ms)),
  failures = {},
  timeoutMs = 120_000,
}: SimulatedDevicesOptions): DeviceController & { failNext(phase: SwitchPhase, times?: number): void } => {
  const left: Partial<Record<SwitchPhase, number>> = { ...failures };
  const draw = ([min, max]: Range) => Math.round(min + random() * (max - min));
  return {
    failNext(phase, times = 1) {
      left[phase] = (left[phase] ?? 0) + times;
    },
    async runPhase({ phase, from }: PhaseRequest) {
      const durationMs = phase === 'gpu_activated' && from === 'off' ? draw(COLD_LOAD) : draw(PHASE_TIMINGS[phase]);
      if ((left[phase] ?? 0) > 0) {
        left[phase]!--;
        await sleep(durationMs / speed);
        throw new PhaseFailedError(phase, `simulated failure in ${phase}`);
      }
      if (durationMs > timeoutMs) throw new PhaseFailedError(phase, `${phase} timed out after ${timeoutMs} ms`);
      await sleep(durationMs / speed);
      return { durationMs };
    },
    async rollback() {},
  };
};
