/** What a resource draws in each mode, kW: the facility's power ledger. */
import { ASIC_SLEEP_W, GPU_IDLE_FRACTION_OF_TDP } from '../economics/profitability.ts';
import type { ResourceSpec } from './resource.ts';
import type { ResourceMode } from './switching.ts';

/** Underclocked ASICs: a typical eco profile of LuxOS/Braiins (about 70 % of stock power). */
export const ASIC_UNDERCLOCK_FRACTION = 0.7;

const WATTS_PER_UNIT: Record<ResourceMode, (spec: Pick<ResourceSpec, 'powerWPerUnit'>) => number> = {
  mining: (s) => s.powerWPerUnit,
  underclocked: (s) => s.powerWPerUnit * ASIC_UNDERCLOCK_FRACTION,
  sleeping: () => ASIC_SLEEP_W,
  serving: (s) => s.powerWPerUnit,
  training: (s) => s.powerWPerUnit,
  warm_standby: (s) => s.powerWPerUnit * GPU_IDLE_FRACTION_OF_TDP,
  off: () => 0,
};

export const drawKw = (spec: Pick<ResourceSpec, 'powerWPerUnit' | 'units'>, mode: ResourceMode) => (spec.units * WATTS_PER_UNIT[mode](spec)) / 1000;

/** Why a change that takes the facility from `beforeKw` to `afterKw` breaks its budget, if it does (a change that lowers the draw always fits). */
export const overBudget = (beforeKw: number, afterKw: number, budgetKw: number): string | undefined =>
  afterKw > beforeKw && afterKw > budgetKw ? `the facility would draw ${Math.round(afterKw)} kW, above its ${budgetKw} kW budget` : undefined;

/** Why switching one resource `from` → `to` breaks the budget, when the facility draws `baseKw` with the resource at `from`. */
export const switchOverBudget = (spec: Pick<ResourceSpec, 'powerWPerUnit' | 'units'>, from: ResourceMode, to: ResourceMode, baseKw: number, budgetKw: number) =>
  overBudget(baseKw, baseKw - drawKw(spec, from) + drawKw(spec, to), budgetKw);

/** While a switch is in flight the resource may draw either mode's power: the ledger counts the higher. */
export const committedDrawKw = (spec: Pick<ResourceSpec, 'powerWPerUnit' | 'units'>, mode: ResourceMode, switchingTo?: ResourceMode) =>
  Math.max(drawKw(spec, mode), switchingTo === undefined ? 0 : drawKw(spec, switchingTo));
