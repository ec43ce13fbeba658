/**
 * Hardware specs (docs/design.md §7, public spec sheets) and the seed scenario's sites
 * and inventory (docs/design.md §7, "The seed scenario").
 */
import type { MarketNode } from '../market/ticks.ts';
import type { GpuType } from '../workload/request.ts';

export const ASIC_MODELS = {
  /** Bitmain spec: 200 TH/s at ~3,500 W (17.5 J/TH). */
  S21: { hashrateThs: 200, powerW: 3500 },
  /** Retailer spec sheets: 140 TH/s at ~3,010 W (21.5 J/TH). */
  S19XP: { hashrateThs: 140, powerW: 3010 },
  /** Third-party calculators: ~186 TH/s at ~3,420 W (18.4 J/TH). */
  M60S: { hashrateThs: 186, powerW: 3420 },
} as const;
export type AsicModel = keyof typeof ASIC_MODELS;

export const GPU_MODELS: Record<GpuType, { powerW: number; memoryGb: number }> = {
  /** NVIDIA H100 SXM product brief. */
  H100: { powerW: 700, memoryGb: 80 },
  /** NVIDIA A100 SXM datasheet (the seed lists the 40 GB part). */
  A100: { powerW: 400, memoryGb: 40 },
  /** NVIDIA L40S. */
  L40S: { powerW: 350, memoryGb: 48 },
};

export type AsicGroupSpec = { model: AsicModel; count: number };
export type GpuPoolSpec = { gpuType: GpuType; count: number; warmStandby: number };

export type FacilitySpec = {
  facilityId: string;
  name: string;
  /**
   * The electricity price node. The market data (simulators/market/data) has ERCOT hubs only: Texas sites use
   * their hub; North Dakota (outside ERCOT) has no public series here, so it is
   * priced at HB_WEST as a stated stand-in, not as a claim about its market.
   */
  marketNode: MarketNode;
  powerBudgetKw: number;
  asicGroups: AsicGroupSpec[];
  gpuPools: GpuPoolSpec[];
};

/** Whole-site power: the budget covers the seed's full inventory at nameplate plus 10 % headroom. */
export const budgetFor = (asics: AsicGroupSpec[], gpus: GpuPoolSpec[]) =>
  Math.ceil(
    (1.1 *
      (asics.reduce((kw, a) => kw + (a.count * ASIC_MODELS[a.model].powerW) / 1000, 0) +
        gpus.reduce((kw, g) => kw + (g.count * GPU_MODELS[g.gpuType].powerW) / 1000, 0))) /
      100,
  ) * 100;

const site = (f: Omit<FacilitySpec, 'powerBudgetKw'>): FacilitySpec => ({ ...f, powerBudgetKw: budgetFor(f.asicGroups, f.gpuPools) });

export const SEED_SCENARIO: readonly FacilitySpec[] = [
  site({
    facilityId: 'texas-north',
    name: 'Texas North',
    marketNode: 'HB_NORTH',
    asicGroups: [
      { model: 'S21', count: 10_000 },
      { model: 'S19XP', count: 5_000 },
    ],
    gpuPools: [
      { gpuType: 'H100', count: 512, warmStandby: 64 },
      { gpuType: 'A100', count: 256, warmStandby: 32 },
      { gpuType: 'L40S', count: 128, warmStandby: 16 },
    ],
  }),
  site({
    facilityId: 'texas-south',
    name: 'Texas South',
    marketNode: 'HB_SOUTH',
    asicGroups: [{ model: 'M60S', count: 8_000 }],
    gpuPools: [{ gpuType: 'H100', count: 256, warmStandby: 32 }],
  }),
  site({
    facilityId: 'north-dakota',
    name: 'North Dakota',
    marketNode: 'HB_WEST',
    asicGroups: [{ model: 'S21', count: 15_000 }],
    gpuPools: [],
  }),
];
