/**
 * Switch protocols: the ordered phases of moving a resource between modes
 * (docs/design.md §3 "Switching"). Mining → AI releases ASIC power first, then brings
 * GPUs up from warm standby; the reverse takes GPUs down first. The control path
 * (signal to endpoint ready) is reported apart from the physical ASIC ramp.
 */
export const ASIC_MODES = ['mining', 'underclocked', 'sleeping'] as const;
export const GPU_MODES = ['off', 'warm_standby', 'serving', 'training'] as const;
export type AsicMode = (typeof ASIC_MODES)[number];
export type GpuMode = (typeof GPU_MODES)[number];
export type ResourceMode = AsicMode | GpuMode;

export const SWITCH_PHASES = [
  'signal_validated',
  'capacity_checked',
  'asic_ramped_down',
  'asic_ramped_up',
  'power_reassigned',
  'gpu_activated',
  'gpu_deactivated',
  'endpoint_ready',
  'endpoint_drained',
] as const;
export type SwitchPhase = (typeof SWITCH_PHASES)[number];

/** Phases that move hardware (seconds) rather than control state (milliseconds). */
export const PHYSICAL_PHASES: ReadonlySet<SwitchPhase> = new Set(['asic_ramped_down', 'asic_ramped_up']);

export type ResourceKind = 'asic_group' | 'gpu_pool';

const isAsicMode = (m: ResourceMode): m is AsicMode => (ASIC_MODES as readonly string[]).includes(m);
const isGpuMode = (m: ResourceMode): m is GpuMode => (GPU_MODES as readonly string[]).includes(m);

export const modeFits = (kind: ResourceKind, mode: ResourceMode) => (kind === 'asic_group' ? isAsicMode(mode) : isGpuMode(mode));

/** The ordered phases of a switch of one resource from one mode to another. */
export const phasesFor = (kind: ResourceKind, from: ResourceMode, to: ResourceMode): SwitchPhase[] => {
  if (kind === 'asic_group') {
    // less hashing frees power; more hashing needs it first
    const down = to === 'sleeping' || (to === 'underclocked' && from === 'mining');
    return down
      ? ['signal_validated', 'capacity_checked', 'asic_ramped_down', 'power_reassigned']
      : ['signal_validated', 'capacity_checked', 'power_reassigned', 'asic_ramped_up'];
  }
  const up = to === 'serving' || to === 'training' || (to === 'warm_standby' && from === 'off');
  return up
    ? ['signal_validated', 'capacity_checked', 'power_reassigned', 'gpu_activated', 'endpoint_ready']
    : ['signal_validated', 'capacity_checked', 'endpoint_drained', 'gpu_deactivated', 'power_reassigned'];
};

/** Control path and physical ramp of a switch's completed phases, ms (reported apart). */
export const phaseTotals = (durations: Partial<Record<SwitchPhase, number>>) => {
  let controlPathMs = 0;
  let physicalMs = 0;
  for (const [phase, ms] of Object.entries(durations) as [SwitchPhase, number][])
    if (PHYSICAL_PHASES.has(phase)) physicalMs += ms;
    else controlPathMs += ms;
  return { controlPathMs, physicalMs };
};

/** Phases of a handover the facility carries out; a resource's part of a handover has only its device phases. */
export const FACILITY_PHASES: ReadonlySet<SwitchPhase> = new Set(['signal_validated', 'capacity_checked', 'power_reassigned']);
