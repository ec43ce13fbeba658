/**
 * A facility cut into blocks of power, the units the economic controller decides (controller.ts):
 * ASIC blocks of one model, mining or sleeping; GPU tiers per pool (P1 never yields power, P2 and
 * P3 pause), with each pool's warm standby as a reserve. Each block's power, revenue, profit and
 * cost of a change of mode.
 */
import type { AsicModel, FacilitySpec } from '../fleet/inventory.ts';
import { ASIC_MODELS } from '../fleet/inventory.ts';
import type { GpuType } from '../workload/request.ts';
import { asicKw, asicSleepKw, gpuIdleKw, gpuKw, miningRevenueUsdPerHour, type NetworkFacts } from './profitability.ts';

export type GpuTier = 'P1' | 'P2' | 'P3';
export const GPU_TIERS: readonly GpuTier[] = ['P1', 'P2', 'P3'];
export type DemandShares = Record<GpuTier, number>;

export type AsicBlock = { id: string; kind: 'asic'; model: AsicModel; units: number; interruptible: true };
export type GpuBlock = { id: string; kind: 'gpu'; gpuType: GpuType; tier: GpuTier; units: number; interruptible: boolean };
export type Block = AsicBlock | GpuBlock;
export type WarmReserve = { gpuType: GpuType; units: number };

/** ASIC groups in blocks of `asicBlockUnits` (the last block of a group takes the remainder); GPU pools in tiers. */
export const expandFacility = (
  facility: FacilitySpec,
  asicBlockUnits: number,
  shares: DemandShares,
): { blocks: Block[]; reserve: WarmReserve[] } => {
  if (!Number.isInteger(asicBlockUnits) || asicBlockUnits < 1) throw new RangeError('asicBlockUnits must be a positive integer');
  checkShares(shares);
  const blocks: Block[] = [];
  for (const g of facility.asicGroups) {
    for (let b = 0, left = g.count; left > 0; b++, left -= asicBlockUnits)
      blocks.push({ id: `asic:${g.model}:${b}`, kind: 'asic', model: g.model, units: Math.min(asicBlockUnits, left), interruptible: true });
  }
  const reserve: WarmReserve[] = [];
  for (const p of facility.gpuPools) {
    const serving = p.count - p.warmStandby;
    const p1 = Math.round(serving * shares.P1);
    const p2 = Math.min(serving - p1, Math.round(serving * shares.P2));
    const units: Record<GpuTier, number> = { P1: p1, P2: p2, P3: serving - p1 - p2 };
    for (const tier of GPU_TIERS)
      if (units[tier] > 0) blocks.push({ id: `gpu:${p.gpuType}:${tier}`, kind: 'gpu', gpuType: p.gpuType, tier, units: units[tier], interruptible: tier !== 'P1' });
    if (p.warmStandby > 0) reserve.push({ gpuType: p.gpuType, units: p.warmStandby });
  }
  return { blocks, reserve };
};

const checkShares = (s: DemandShares) => {
  const sum = s.P1 + s.P2 + s.P3;
  if ([s.P1, s.P2, s.P3].some((x) => !(x >= 0)) || Math.abs(sum - 1) > 1e-9) throw new RangeError(`GPU demand shares must be ≥ 0 and sum to 1, got ${JSON.stringify(s)}`);
};

/** Power of a block in each mode, kW. */
export const blockKw = (b: Block): { active: number; idle: number } =>
  b.kind === 'asic'
    ? { active: b.units * asicKw(b.model), idle: b.units * asicSleepKw(b.model) }
    : { active: b.units * gpuKw(b.gpuType), idle: b.units * gpuIdleKw(b.gpuType) };

export const reserveKw = (r: readonly WarmReserve[]) => r.reduce((kw, x) => kw + x.units * gpuIdleKw(x.gpuType), 0);

/** Revenue per hour of a block when active, USD (independent of the electricity price). */
export const blockRevenueUsdPerHour = (b: Block, o: { btcUsd: number; network: NetworkFacts; gpuUsdPerHour: Partial<Record<GpuType, number>>; gpuUtilization: number }, poolFee: number) =>
  b.kind === 'asic'
    ? b.units * miningRevenueUsdPerHour(ASIC_MODELS[b.model].hashrateThs, o.network, o.btcUsd, poolFee)
    : b.units * (o.gpuUsdPerHour[b.gpuType] ?? 0) * o.gpuUtilization;

/** Profit per hour of a block in each mode at an electricity price, USD. */
export const blockProfitUsdPerHour = (b: Block, revenueUsdPerHour: number, usdPerMwh: number) => {
  const kw = blockKw(b);
  return { active: revenueUsdPerHour - (kw.active / 1000) * usdPerMwh, idle: -(kw.idle / 1000) * usdPerMwh };
};

/** Cost of one change of mode of a block, USD. */
export const blockSwitchCostUsd = (b: Block, revenueUsdPerHour: number, c: { asicSwitchCostUsdPerMw: number; gpuSwitchSeconds: number }) =>
  b.kind === 'asic' ? (blockKw(b).active / 1000) * c.asicSwitchCostUsdPerMw : (revenueUsdPerHour * c.gpuSwitchSeconds) / 3600;
