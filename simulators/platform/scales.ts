/**
 * The two scales a simulated day runs at: the seed's (its sites and fleets as they are, 10,000
 * workloads a day) and the designed one (10,000 GPUs, 100,000 ASICs, 100,000 workloads a day:
 * the seed's sites with every fleet grown in proportion).
 */
import { budgetFor, SEED_SCENARIO, type FacilitySpec } from '../../domain/fleet/inventory.ts';
import { GPUS_PER_HOST } from '../../domain/fleet/gpus.ts';

export type Scale = { name: string; facilities: readonly FacilitySpec[]; workloadsPerDay: number };

const count = (facilities: readonly FacilitySpec[]) => ({
  gpus: facilities.reduce((n, f) => n + f.gpuPools.reduce((m, p) => m + p.count, 0), 0),
  asics: facilities.reduce((n, f) => n + f.asicGroups.reduce((m, a) => m + a.count, 0), 0),
});

/**
 * The facilities with their fleets grown to about `gpus` GPUs and `asics` ASICs, each pool to
 * whole hosts, warm standby in the same proportion, each site's power budget covering its fleet.
 */
export const scaleScenario = (facilities: readonly FacilitySpec[], target: { gpus: number; asics: number }): FacilitySpec[] => {
  const now = count(facilities);
  const [g, a] = [target.gpus / now.gpus, target.asics / now.asics];
  return facilities.map((f) => {
    const gpuPools = f.gpuPools.map((p) => {
      const host = GPUS_PER_HOST[p.gpuType];
      return { ...p, count: Math.round((p.count * g) / host) * host, warmStandby: Math.round(p.warmStandby * g) };
    });
    const asicGroups = f.asicGroups.map((x) => ({ ...x, count: Math.round(x.count * a) }));
    // the budget covers what it powers, as the seed's does
    return { ...f, gpuPools, asicGroups, powerBudgetKw: budgetFor(asicGroups, gpuPools) };
  });
};

export const SCALES = {
  seed: { name: 'seed', facilities: SEED_SCENARIO, workloadsPerDay: 10_000 },
  designed: { name: 'designed', facilities: scaleScenario(SEED_SCENARIO, { gpus: 10_000, asics: 100_000 }), workloadsPerDay: 100_000 },
} as const satisfies Record<string, Scale>;

export type ScaleName = keyof typeof SCALES;

export const fleetSize = count;
