/** The price list: the first version at start, new versions by an admin, and the rate in force. */
import { INITIAL_RATES, PRICE_LIST_STREAM, priceListDecider, rateAt, type PriceListState, type Rates, type Tier } from '../domain/billing/price-list.ts';
import type { GpuType } from '../domain/workload/request.ts';
import { accepted, contextFor, type Caller, type CommandDeps } from './context.ts';
import { CommandRejectedError } from './errors.ts';
import { handleCommand, loadState } from './handle.ts';

/** The price list; `cached`: as this process knows it (a version another process set is seen at its next read). */
export const loadPriceList = (deps: CommandDeps, options: { cached?: boolean } = {}): Promise<PriceListState> => loadState(deps.store, priceListDecider, PRICE_LIST_STREAM, options);

/** The platform's first price list, in force from the beginning of time; a no-op once there is one. */
export const ensurePriceList = async (deps: CommandDeps) => {
  if ((await loadPriceList(deps)).versions.length > 0) return;
  await handleCommand(
    deps.store,
    priceListDecider,
    PRICE_LIST_STREAM,
    { type: 'SetPriceList', effectiveFromMs: 0, rates: INITIAL_RATES, reason: 'the platform list price', nowMs: deps.clock.now().getTime() },
    contextFor(deps, { commandId: 'price-list:initial', correlationId: 'start', actor: 'system:start' }),
  );
};

export const setPriceList = async (deps: CommandDeps, caller: Caller, input: { effectiveFromMs: number; rates: Rates; reason: string }) =>
  accepted(
    await handleCommand(deps.store, priceListDecider, PRICE_LIST_STREAM, { type: 'SetPriceList', ...input, nowMs: deps.clock.now().getTime() }, contextFor(deps, caller)),
  );

/** Every tier's rate for a GPU type in force at a moment; refused when no price list is in force. */
export const ratesAt = (state: PriceListState, gpuType: GpuType, atMs: number): Record<Tier, number> => {
  const rates = Object.fromEntries((['P1', 'P2', 'P3'] as const).map((t) => [t, rateAt(state, gpuType, t, atMs)?.rate])) as Record<Tier, number | undefined>;
  if (Object.values(rates).some((r) => r === undefined)) throw new CommandRejectedError({ code: 'invalid_state', message: 'no price list is in force', field: 'gpuType' });
  return rates as Record<Tier, number>;
};
