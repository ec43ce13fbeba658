/**
 * A pool's candidate GPUs grouped by host and hosts by how many candidates they have, kept
 * through a round's placements, so that packing a gang (placement.ts) looks at the few hosts
 * that could take it instead of regrouping the pool's thousands of free GPUs for every gang.
 *
 * `packIndexed` chooses exactly what `placeGang` chooses over the same candidates (a property
 * test holds them together): best fit by candidate count, then the best mean score of the GPUs
 * taken, then the lowest host; a gang of a host or more takes the best whole hosts first. Each
 * host's GPUs in score order, and their running sums, are kept per model until the host changes.
 *
 * Local to one round and changed in place (`takeFromIndex`): the round that built it owns it.
 */
import { GPUS_PER_HOST, hostOf, isPowered, type GpuUnit } from '../fleet/gpus.ts';
import { choiceOf, gpuScore, type GangChoice, type GangRequest } from './placement.ts';
import type { PoolView } from './types.ts';

type Ranked = { gpus: GpuUnit[]; sums: number[] };

export type HostIndex = {
  gpuType: PoolView['gpuType'];
  /** Candidate GPUs of each host that has any, in index order. */
  hosts: Map<number, GpuUnit[]>;
  /** `byCount[c]`: the hosts with exactly c candidates. */
  byCount: Array<Set<number>>;
  /** Candidates that are not powered (a gang may power up only as many as the envelope allows). */
  off: number;
  /** Per model, per host: its candidates best first, and the sums of the first n scores. */
  ranked: Map<string, Map<number, Ranked>>;
};

export const indexHosts = (pool: PoolView, candidates: readonly GpuUnit[]): HostIndex => {
  const hosts = new Map<number, GpuUnit[]>();
  let off = 0;
  for (const g of candidates) {
    const h = hostOf(g.index, pool.gpuType);
    const gpus = hosts.get(h);
    if (gpus) gpus.push(g);
    else hosts.set(h, [g]);
    if (!isPowered(g)) off++;
  }
  const byCount = Array.from({ length: GPUS_PER_HOST[pool.gpuType] + 1 }, () => new Set<number>());
  for (const [h, gpus] of hosts) byCount[gpus.length]!.add(h);
  return { gpuType: pool.gpuType, hosts, byCount, off, ranked: new Map() };
};

/** The GPUs at `indexes` are taken: they leave their hosts. */
export const takeFromIndex = (index: HostIndex, indexes: Iterable<number>) => {
  for (const i of indexes) {
    const h = hostOf(i, index.gpuType);
    const gpus = index.hosts.get(h);
    const at = gpus?.findIndex((g) => g.index === i) ?? -1;
    if (!gpus || at < 0) continue;
    if (!isPowered(gpus[at]!)) index.off--;
    index.byCount[gpus.length]!.delete(h);
    gpus.splice(at, 1);
    if (gpus.length > 0) index.byCount[gpus.length]!.add(h);
    else index.hosts.delete(h);
    for (const perHost of index.ranked.values()) perHost.delete(h);
  }
};

/**
 * The best gang on the indexed candidates, when the envelope could power every one of them
 * (`index.off <= headroom`); otherwise `placeGang` chooses which off GPUs may be used at all.
 */
export const packIndexed = (pool: PoolView, req: GangRequest, index: HostIndex, headroom: number): GangChoice | undefined => {
  const perHost = GPUS_PER_HOST[pool.gpuType];
  const candidates = index.byCount.reduce((n, hosts, count) => n + count * hosts.size, 0);
  if (candidates < req.gpuCount) return undefined;
  let ranked = index.ranked.get(req.model);
  if (!ranked) index.ranked.set(req.model, (ranked = new Map()));
  const rankedOf = (h: number): Ranked => {
    let r = ranked!.get(h);
    if (!r) {
      const score = (g: GpuUnit) => gpuScore(pool, g, req.model);
      const gpus = index.hosts.get(h)!.slice().sort((a, b) => score(b) - score(a) || a.index - b.index);
      const sums = [0];
      for (const g of gpus) sums.push(sums.at(-1)! + score(g));
      ranked!.set(h, (r = { gpus, sums }));
    }
    return r;
  };
  const hostScore = (h: number, n: number) => rankedOf(h).sums[n]! / n;
  const taken = new Set<number>();
  /** Of the untaken hosts with `count` candidates, the best for `n` GPUs: higher mean score, then lower host. */
  const bestWith = (count: number, n: number) => {
    let best: number | undefined;
    let bestScore = -Infinity;
    for (const h of index.byCount[count]!) {
      if (taken.has(h)) continue;
      const s = hostScore(h, n);
      if (best === undefined || s > bestScore || (s === bestScore && h < best)) [best, bestScore] = [h, s];
    }
    return best;
  };
  const chosen: GpuUnit[] = [];
  let need = req.gpuCount;
  while (need >= perHost) {
    const h = bestWith(perHost, perHost);
    if (h === undefined) break;
    taken.add(h);
    chosen.push(...rankedOf(h).gpus);
    need -= perHost;
  }
  while (need > 0) {
    // best fit: the fewest candidates that hold the rest; none: the fullest host, all of it
    let pick: number | undefined;
    for (let c = need; c <= perHost && pick === undefined; c++) pick = bestWith(c, need);
    for (let c = Math.min(need - 1, perHost); c >= 1 && pick === undefined; c--) pick = bestWith(c, c);
    if (pick === undefined) return undefined;
    taken.add(pick);
    const take = rankedOf(pick).gpus.slice(0, need);
    chosen.push(...take);
    need -= take.length;
  }
  return choiceOf(pool, req, chosen, headroom);
};
