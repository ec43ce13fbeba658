/**
 * What a round asks of each pool's GPUs, kept per array of GPUs (fleet/gpus.ts, overGpus): a
 * pool's array is replaced whenever one of its GPUs changes, and each value is carried to the
 * new array from the few GPUs that changed instead of counted again over thousands.
 * gpu-counts.test.ts checks each against counting afresh.
 */
import { countOverGpus, eachOnce, isFree, listOverGpus, overGpus, refiled, type GpuUnit } from '../fleet/gpus.ts';

/** GPUs warming with each model. */
export const warmingCountsOf = overGpus(
  (gpus) => {
    const warming = new Map<string, number>();
    for (const g of gpus) if (g.warming && g.model) warming.set(g.model, (warming.get(g.model) ?? 0) + 1);
    return warming as ReadonlyMap<string, number>;
  },
  (counts, from, to, changed) => {
    const next = new Map(counts);
    const add = (g: GpuUnit, by: 1 | -1) => {
      if (!g.warming || !g.model) return;
      const n = (next.get(g.model) ?? 0) + by;
      if (n > 0) next.set(g.model, n);
      else next.delete(g.model);
    };
    for (const i of eachOnce(changed)) {
      add(from[i]!, -1);
      add(to[i]!, 1);
    }
    return next;
  },
);
/** Free GPUs, in index order: a busy fleet has few, and what looks for GPUs to take looks at these alone. */
export const freeGpus = listOverGpus(isFree);
/** Idle GPUs warm with each model, in index order. */
const isIdleWarm = (g: GpuUnit) => g.model !== null && isFree(g);
export const idleWarmGpusOf = overGpus(
  (gpus) => {
    const byModel = new Map<string, GpuUnit[]>();
    for (const g of gpus)
      if (isIdleWarm(g)) {
        const same = byModel.get(g.model!);
        if (same) same.push(g);
        else byModel.set(g.model!, [g]);
      }
    return byModel as ReadonlyMap<string, readonly GpuUnit[]>;
  },
  (byModel, from, to, changed) => {
    const next = new Map(byModel);
    const copied = new Set<string>();
    const listOf = (model: string) => {
      if (!copied.has(model)) {
        copied.add(model);
        next.set(model, [...(next.get(model) ?? [])]);
      }
      return next.get(model) as GpuUnit[];
    };
    for (const i of eachOnce(changed)) {
      const [was, is] = [from[i]!, to[i]!];
      if (isIdleWarm(was)) refiled(listOf(was.model!), to, i, (g) => isIdleWarm(g) && g.model === was.model);
      if (isIdleWarm(is) && is.model !== (isIdleWarm(was) ? was.model : undefined)) refiled(listOf(is.model!), to, i, isIdleWarm);
    }
    for (const model of copied) if (next.get(model)!.length === 0) next.delete(model);
    return next as ReadonlyMap<string, readonly GpuUnit[]>;
  },
);
/** GPUs of a pool that can take work, now or once they are free (of the view's arrays, which the round never changes). */
export const inServiceUnits = countOverGpus((g) => g.health !== 'failed' && g.inService);
