/**
 * The port to hardware: ASIC firmware power targets, GPU activation, endpoint
 * routing. Each phase reports its measured duration. Simulated devices now; real
 * firmware and driver APIs later.
 */
import type { ResourceSpec } from '../../domain/resource/resource.ts';
import type { ResourceMode, SwitchPhase } from '../../domain/resource/switching.ts';

export class PhaseFailedError extends Error {
  readonly type = 'phase_failed' as const;
  constructor(
    readonly phase: SwitchPhase,
    reason: string,
  ) {
    super(reason);
    this.name = 'PhaseFailedError';
  }
}

export type PhaseRequest = { resource: ResourceSpec; phase: SwitchPhase; from: ResourceMode; to: ResourceMode };

export type DeviceController = {
  /** Carries out one phase; resolves with its measured duration, or throws PhaseFailedError. */
  runPhase(request: PhaseRequest): Promise<{ durationMs: number }>;
  /** Puts the resource back in `mode` after a failed switch. */
  rollback(resource: ResourceSpec, mode: ResourceMode): Promise<void>;
};
