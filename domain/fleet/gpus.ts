/**
 * The GPU fleet unit by unit: a pool (one GPU type at one facility, `resource-<pool>`) holds
 * GPUs on hosts of GPUS_PER_HOST; each GPU has an id that says where it is,
 * `<pool>-h<host>-g<slot>` (e.g. texas-north-h100-h007-g3), a health, whether it is in
 * service, a model loaded (warm standby) or not, and at most one workload.
 */
import type { GpuType } from '../workload/request.ts';
import { partitionPoint } from '../sorted.ts';

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

/**
 * Arrays of GPUs are never changed, only replaced (`replaceGpus`), which notes what the new array
 * was made from and which GPUs differ. What is derived over a pool's GPUs (`overGpus`) is then
 * brought up to date from those few instead of counted afresh over thousands: a designed-scale
 * scheduler asked the same of each changed pool in every round, and counting was a fifth of its
 * time. The note holds the old array weakly: a long history is never kept alive by it.
 */
const madeFrom = new WeakMap<readonly GpuUnit[], { from: WeakRef<readonly GpuUnit[]>; changed: readonly number[] }>();

/** `gpus` with the GPUs at `indexes` changed. */
export const replaceGpus = (gpus: readonly GpuUnit[], indexes: readonly number[], change: (g: GpuUnit) => GpuUnit): GpuUnit[] => {
  const next = gpus.slice();
  for (const i of indexes) next[i] = change(next[i]!);
  madeFrom.set(next, { from: new WeakRef(gpus), changed: indexes });
  return next;
};

/** How far back a value is looked for before it is counted afresh (a pool changes a few times between a scheduler's rounds). */
const MAX_STEPS_BACK = 32;

/**
 * A value derived over GPU arrays, kept per array: `count` derives it from scratch; `carry` brings
 * the value of an array up to date for one made from it (`changed`: the indexes that may differ,
 * perhaps more than once). Both must agree (scheduling/gpu-counts.test.ts checks those of the
 * scheduler); `afresh` is `count`.
 */
export const overGpus = <T>(count: (gpus: readonly GpuUnit[]) => T, carry: (value: T, from: readonly GpuUnit[], to: readonly GpuUnit[], changed: readonly number[]) => T) => {
  const kept = new WeakMap<readonly GpuUnit[], T>();
  const derived = (gpus: readonly GpuUnit[]): T => {
    const hit = kept.get(gpus);
    if (hit !== undefined) return hit;
    // back through what each array was made from, to one whose value is kept
    const steps: Array<{ to: readonly GpuUnit[]; from: readonly GpuUnit[]; changed: readonly number[] }> = [];
    let value: T | undefined;
    for (let at = gpus; steps.length < MAX_STEPS_BACK; ) {
      const made = madeFrom.get(at);
      const from = made?.from.deref();
      if (!made || !from) break;
      steps.push({ to: at, from, changed: made.changed });
      value = kept.get(from);
      if (value !== undefined) break;
      at = from;
    }
    if (value === undefined) value = count(gpus);
    else for (let k = steps.length - 1; k >= 0; k--) value = carry(value, steps[k]!.from, steps[k]!.to, steps[k]!.changed);
    kept.set(gpus, value);
    return value;
  };
  return Object.assign(derived, { afresh: count });
};

/** Each index once, in the order first given. */
export const eachOnce = (indexes: readonly number[]): readonly number[] => (indexes.length < 2 ? indexes : [...new Set(indexes)]);

/** A count of the GPUs that meet `test`, kept per array. */
export const countOverGpus = (test: (g: GpuUnit) => boolean) =>
  overGpus(
    (gpus) => gpus.reduce((n, g) => n + (test(g) ? 1 : 0), 0),
    (n, from, to, changed) => eachOnce(changed).reduce((m, i) => m + (test(to[i]!) ? 1 : 0) - (test(from[i]!) ? 1 : 0), n),
  );

/** `list` (in index order) with the GPU at `index` as `to` has it: in if it meets `test`, out if not. */
export const refiled = (list: GpuUnit[], to: readonly GpuUnit[], index: number, test: (g: GpuUnit) => boolean) => {
  const at = partitionPoint(list, (g) => g.index < index);
  const there = at < list.length && list[at]!.index === index;
  const g = to[index]!;
  if (test(g)) {
    if (there) list[at] = g;
    else list.splice(at, 0, g);
  } else if (there) list.splice(at, 1);
};

/** The GPUs that meet `test`, in index order, kept per array. */
export const listOverGpus = (test: (g: GpuUnit) => boolean) =>
  overGpus(
    (gpus): readonly GpuUnit[] => gpus.filter(test),
    (list, _from, to, changed) => {
      const next = list.slice();
      for (const i of eachOnce(changed)) refiled(next, to, i, test);
      return next;
    },
  );
