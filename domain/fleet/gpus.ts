/**
 * The GPU fleet unit by unit: a pool (one GPU type at one facility, `resource-<pool>`) holds
 * GPUs on hosts of GPUS_PER_HOST; each GPU has an id that says where it is,
 * `<pool>-h<host>-g<slot>` (e.g. texas-north-h100-h007-g3), a health, whether it is in
 * service, a model loaded (warm standby) or not, and at most one workload.
 */
import type { GpuType } from '../workload/request.ts';

/** H100 and A100 SXM come eight to an HGX board; L40S (PCIe) four to a server. */
export const GPUS_PER_HOST: Record<GpuType, number> = { H100: 8, A100: 8, L40S: 4 };

export const gpuIdOf = (poolId: string, gpuType: GpuType, index: number) => {
  const perHost = GPUS_PER_HOST[gpuType];
  return `${poolId}-h${String(Math.floor(index / perHost) + 1).padStart(3, '0')}-g${index % perHost}`;
};

/** The pool and index of a GPU id, or undefined when it is not one. */
export const parseGpuId = (gpuId: string, gpuType: GpuType): { poolId: string; index: number } | undefined => {
  const m = /^(.+)-h(\d{3,})-g(\d+)$/.exec(gpuId);
  if (!m) return undefined;
  const [host, slot] = [Number(m[2]), Number(m[3])];
  if (host < 1 || slot >= GPUS_PER_HOST[gpuType]) return undefined;
  return { poolId: m[1]!, index: (host - 1) * GPUS_PER_HOST[gpuType] + slot };
};

export const hostOf = (index: number, gpuType: GpuType) => Math.floor(index / GPUS_PER_HOST[gpuType]);

export const GPU_HEALTH = ['healthy', 'degraded', 'failed'] as const;
export type GpuHealth = (typeof GPU_HEALTH)[number];

/** What a GPU is doing, as the modes name it (a GPU loading a model is warming). */
export type GpuMode = 'off' | 'warming' | 'warm_standby' | 'serving' | 'training';

export type GpuUnit = {
  index: number;
  health: GpuHealth;
  /** Taken out of service by an operator: no new work, whatever its health. */
  inService: boolean;
  /** The model in memory (warm standby when idle), or the one being loaded. */
  model: string | null;
  /** A model load under way (set until it is warm), and when it will be. */
  warming: boolean;
  warmReadyAt: string | null;
  /** The workload (and its run) on it. */
  busy: { workloadId: string; run: number; mode: 'serving' | 'training' } | null;
};

export const gpuMode = (g: GpuUnit): GpuMode => (g.busy ? g.busy.mode : g.warming ? 'warming' : g.model ? 'warm_standby' : 'off');

/** A GPU draws power unless it is off: the count the pool's power envelope bounds. */
export const isPowered = (g: GpuUnit) => g.busy !== null || g.warming || g.model !== null;

/** Free for new work: healthy, in service, idle, not loading. */
export const isFree = (g: GpuUnit) => g.health === 'healthy' && g.inService && g.busy === null && !g.warming;

export const newGpus = (count: number): GpuUnit[] =>
  Array.from({ length: count }, (_, index) => ({ index, health: 'healthy', inService: true, model: null, warming: false, warmReadyAt: null, busy: null }));
