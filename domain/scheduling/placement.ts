/**
 * Where a workload goes: a gang of GPUs of its type, all in one pool (one facility), all or
 * nothing. Candidates are free GPUs (healthy, in service, idle, not loading) the pool's power
 * envelope allows; a P1 only GPUs already warm with its model (a cold load takes 34–84 s).
 *
 * Each candidate GPU scores by what the platform prefers: already warm with the model (no load),
 * cool (thermal headroom), cheap power at its facility (the efficient place to work); the gang
 * is packed onto the fewest, fullest hosts so that whole hosts stay free for big gangs (a gang of
 * a host or more takes whole hosts first). The score and the reason travel with the allocation.
 */
import { gpuIdOf, GPUS_PER_HOST, hostOf, isFree, isPowered, type GpuUnit } from '../fleet/gpus.ts';
import { modelSizeBillions } from '../workload/request.ts';
import { DEFAULT_MODEL_BILLIONS } from '../workload/sla.ts';
import { headroomOf } from '../resource/gpu-pool.ts';
import type { PoolView } from './types.ts';

/** A warm replica answers in milliseconds; routing to it is this. */
export const WARM_START_MS = 15;

/** A cold model load (ServerlessLLM, OSDI '24: 34 s for OPT-30B to 84 s for Llama-2-70B), by size, within 8–120 s. */
export const coldLoadMs = (model: string) => {
  const b = modelSizeBillions(model) ?? DEFAULT_MODEL_BILLIONS;
  return Math.round(Math.min(120_000, Math.max(8_000, 34_000 + (b - 30) * 1_250)));
};

export type GangRequest = {
  gpuCount: number;
  model: string;
  /** Only GPUs warm with the model (P1). */
  warmOnly: boolean;
  /** GPUs that must not be taken (the warm reserve kept for P1). */
  excluded?: ReadonlySet<number>;
};

export type GangChoice = { gpuIndexes: number[]; score: number; warm: boolean; reason: string };

/**
 * What a caller that keeps them already knows of a pool: GPUs among which all the request's
 * candidates are (in index order), and how many more GPUs the envelope lets it power.
 */
export type Known = { gpus?: readonly GpuUnit[]; headroom?: number };

/** Free GPUs the pool may use now for this request, and how many of them may be powered up. */
export const candidatesOf = (pool: PoolView, req: GangRequest, known: Known = {}) => {
  const free = (known.gpus ?? pool.gpus).filter((g) => isFree(g) && !req.excluded?.has(g.index) && (!req.warmOnly || g.model === req.model));
  const headroom = known.headroom ?? headroomOf(pool);
  return { free, headroom };
};

const TEMPERATURE_UNKNOWN_C = 45;

/** One GPU's score: warm with the model 100, warm with another 20 (a reload), off 0; minus 1 per °C above 40; minus 0.02 per USD/MWh of power. */
export const gpuScore = (pool: PoolView, g: GpuUnit, model: string) => {
  const warmth = g.model === model ? 100 : g.model ? 20 : 0;
  const temperature = pool.temperatureC[g.index] ?? TEMPERATURE_UNKNOWN_C;
  return warmth - Math.max(0, temperature - 40) - 0.02 * Math.max(0, pool.powerUsdPerMwh ?? 0);
};

/**
 * The best gang in one pool, or undefined when it cannot hold one now. Hosts are filled
 * best-fit: a gang smaller than a host goes to the host with the fewest candidates that still
 * hold it (ties: the best scores); a bigger one takes whole free hosts first, then the rest.
 */
export const placeGang = (pool: PoolView, req: GangRequest, known?: Known): GangChoice | undefined => {
  const { free, headroom } = candidatesOf(pool, req, known);
  const off = free.filter((g) => !isPowered(g));
  if (off.length <= headroom) return packGang(pool, req, free, headroom);
  // the envelope cannot power every free GPU: powered ones, and the best of the rest it can
  const score = (g: GpuUnit) => gpuScore(pool, g, req.model);
  const allowed = [...free.filter(isPowered), ...firstInOrder(off, (a, b) => score(b) - score(a) || a.index - b.index, headroom)];
  return packGang(pool, req, allowed, headroom);
};

/**
 * The first `limit` items in `order` (all of them, sorted, without a limit): a partial sort, since
 * a round often wants a few GPUs of a pool's thousands. `items` may be sorted in place.
 */
export const firstInOrder = <T>(items: T[], order: (a: T, b: T) => number, limit = Infinity): T[] => {
  if (limit <= 0) return [];
  if (limit >= items.length / 8) return items.sort(order).slice(0, limit);
  const best: T[] = [];
  for (const x of items) {
    if (best.length === limit && order(x, best[limit - 1]!) >= 0) continue;
    let i = best.length === limit ? limit - 1 : best.length;
    while (i > 0 && order(x, best[i - 1]!) < 0) i--;
    best.splice(i, 0, x);
    if (best.length > limit) best.pop();
  }
  return best;
};

const packGang = (pool: PoolView, req: GangRequest, free: GpuUnit[], headroom: number): GangChoice | undefined => {
  if (free.length < req.gpuCount) return undefined;
  const perHost = GPUS_PER_HOST[pool.gpuType];
  const byHost = new Map<number, GpuUnit[]>();
  for (const g of free) {
    const h = hostOf(g.index, pool.gpuType);
    const gpus = byHost.get(h);
    if (gpus) gpus.push(g);
    else byHost.set(h, [g]);
  }
  const score = (g: GpuUnit) => gpuScore(pool, g, req.model);
  // a host's GPUs in score order, sorted only when a choice gets down to its scores: most choices
  // are settled by how many candidates a host has, and a round asks this of thousands of GPUs
  // for every waiting gang
  type Host = { host: number; gpus: GpuUnit[]; sorted: boolean };
  const best = (h: Host) => {
    if (!h.sorted) {
      h.gpus.sort((a, b) => score(b) - score(a) || a.index - b.index);
      h.sorted = true;
    }
    return h.gpus;
  };
  const hostScore = (h: Host, n: number) => best(h).slice(0, n).reduce((s, g) => s + score(g), 0) / n;
  /** The first host in a total order: what sorting by it and taking the first gives. */
  const firstOf = (hosts: readonly Host[], order: (a: Host, b: Host) => number) => hosts.reduce<Host | undefined>((first, h) => (first === undefined || order(h, first) < 0 ? h : first), undefined);
  // best fit first: fewest candidates that hold the need, then the better scores, then the lower host
  const hosts: Host[] = [...byHost.entries()].map(([host, gpus]) => ({ host, gpus, sorted: false }));
  const chosen: GpuUnit[] = [];
  let need = req.gpuCount;
  const taken = new Set<Host>();
  if (need >= perHost) {
    const whole = hosts.filter((h) => h.gpus.length === perHost).sort((a, b) => hostScore(b, perHost) - hostScore(a, perHost) || a.host - b.host);
    while (need >= perHost && whole.length > 0) {
      const h = whole.shift()!;
      taken.add(h);
      chosen.push(...best(h));
      need -= perHost;
    }
  }
  const left = hosts.filter((h) => !taken.has(h));
  while (need > 0) {
    const fits = firstOf(
      left.filter((h) => h.gpus.length >= need),
      (a, b) => a.gpus.length - b.gpus.length || hostScore(b, need) - hostScore(a, need) || a.host - b.host,
    );
    // none holds the rest alone: the fullest-scoring partial host first
    const pick = fits ?? firstOf(left, (a, b) => b.gpus.length - a.gpus.length || hostScore(b, b.gpus.length) - hostScore(a, a.gpus.length) || a.host - b.host);
    if (!pick) return undefined;
    const take = best(pick).slice(0, need);
    chosen.push(...take);
    need -= take.length;
    left.splice(left.indexOf(pick), 1);
  }
  return choiceOf(pool, req, chosen, headroom);
};

/** A gang chosen: refused when it would power up more GPUs than the envelope allows; its score and reason. */
export const choiceOf = (pool: PoolView, req: GangRequest, chosen: readonly GpuUnit[], headroom: number): GangChoice | undefined => {
  const score = (g: GpuUnit) => gpuScore(pool, g, req.model);
  const poweringUp = chosen.filter((g) => !isPowered(g)).length;
  if (poweringUp > headroom) return undefined;
  const warm = chosen.every((g) => g.model === req.model);
  const hostsUsed = new Set(chosen.map((g) => hostOf(g.index, pool.gpuType)));
  const total = chosen.reduce((s, g) => s + score(g), 0);
  const meanTemperature = chosen.reduce((s, g) => s + (pool.temperatureC[g.index] ?? TEMPERATURE_UNKNOWN_C), 0) / chosen.length;
  const reason =
    `${chosen.length} ${warm ? `warm (${req.model} loaded)` : poweringUp > 0 ? 'cold (powered up, model to load)' : 'cold (model to load)'} ${pool.gpuType} ` +
    `on ${hostsUsed.size} host${hostsUsed.size > 1 ? 's' : ''} of ${pool.resourceId}, ${meanTemperature.toFixed(0)} °C on average` +
    (pool.powerUsdPerMwh !== undefined ? `, power at $${pool.powerUsdPerMwh.toFixed(0)}/MWh` : '') +
    `; packed best-fit to keep whole hosts free`;
  return { gpuIndexes: chosen.map((g) => g.index).sort((a, b) => a - b), score: Math.round(total * 100) / 100, warm, reason };
};

export const gpuIdsOf = (pool: PoolView, indexes: readonly number[]) => indexes.map((i) => gpuIdOf(pool.resourceId, pool.gpuType, i));
