/**
 * The price list: what a GPU-hour costs a customer, by GPU type and tier (P1–P3), in integer
 * micro-USD. Event-sourced and versioned on one stream (`price-list`): an admin sets a new
 * version effective from a moment not in the past; a run is rated by the version in force when
 * it is placed (its GPUs allocated: the latest effective at or before then).
 *
 * The first version is the platform's list (within the 2024 market: H100 $2.93–4.84 per hour,
 * A100 $1.70–2.35, L40S $0.90–2.30): real-time inference (P1) at the list price, batch (P2)
 * 15 % below, training (P3) 30 % below, as interruptible capacity is sold cheaper.
 */
import { accept, reject, type Decider, type DomainEvent } from '../decider.ts';
import { GPU_TYPES, type GpuType, type Priority } from '../workload/request.ts';
import { iso } from '../time.ts';

export const PRICE_LIST_STREAM = 'price-list';

export type Tier = Exclude<Priority, 'P4'>;
export const TIERS: readonly Tier[] = ['P1', 'P2', 'P3'];
/** A customer workload's tier (P4, mining, is never one). */
export const tierOf = (p: Priority | string): Tier => (p === 'P1' || p === 'P2' ? p : 'P3');
export type Rates = Record<GpuType, Record<Tier, number>>;

/** The bounds of a sane rate: a cent to a thousand dollars per GPU-hour. */
export const MIN_RATE_MICRO_USD = 10_000;
export const MAX_RATE_MICRO_USD = 1_000_000_000;

const tiered = (p1: number): Record<Tier, number> => ({ P1: p1, P2: Math.round(p1 * 0.85), P3: Math.round(p1 * 0.7) });
export const INITIAL_RATES: Rates = { H100: tiered(3_500_000), A100: tiered(1_900_000), L40S: tiered(1_200_000) };

export type PriceVersion = { version: number; effectiveFromMs: number; rates: Rates; reason: string };

export type PriceListEvent = DomainEvent<'PriceListSet', { version: number; effectiveFrom: string; rates: Rates; reason: string }>;
export type PriceListCommand = { type: 'SetPriceList'; effectiveFromMs: number; rates: Rates; reason: string; nowMs: number };
export type PriceListState = { versions: readonly PriceVersion[] };

/** The rate in force for a GPU type and tier at a moment, with its version; undefined before any. */
export const rateAt = (state: PriceListState, gpuType: GpuType, tier: Tier, atMs: number): { rate: number; version: number } | undefined => {
  let found: PriceVersion | undefined;
  for (const v of state.versions) if (v.effectiveFromMs <= atMs && (!found || v.effectiveFromMs >= found.effectiveFromMs)) found = v;
  return found ? { rate: found.rates[gpuType][tier], version: found.version } : undefined;
};

/** Why a set of rates is refused (the first problem, with its field), or undefined. */
export const ratesProblem = (rates: unknown): { field: string; message: string } | undefined => {
  for (const gpuType of GPU_TYPES)
    for (const tier of TIERS) {
      const v = (rates as Record<string, Record<string, unknown> | undefined> | undefined)?.[gpuType]?.[tier];
      const field = `rates.${gpuType}.${tier}`;
      if (v === undefined) return { field, message: 'every GPU type and tier needs a rate' };
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) return { field, message: 'a whole number of micro-USD per GPU-hour' };
      if (v < MIN_RATE_MICRO_USD || v > MAX_RATE_MICRO_USD) return { field, message: `must be between $${MIN_RATE_MICRO_USD / 1e6} and $${MAX_RATE_MICRO_USD / 1e6} per GPU-hour` };
    }
  return undefined;
};

export const priceListDecider: Decider<PriceListCommand, PriceListEvent, PriceListState> = {
  initialState: () => ({ versions: [] }),
  evolve: (state, event) => ({
    versions: [...state.versions, { version: event.data.version, effectiveFromMs: Date.parse(event.data.effectiveFrom), rates: event.data.rates, reason: event.data.reason }],
  }),
  decide: (command, state) => {
    const problem = ratesProblem(command.rates);
    if (problem) return reject('invalid_input', problem.message, problem.field);
    if (!Number.isFinite(command.effectiveFromMs)) return reject('invalid_input', 'an ISO time', 'effectiveFrom');
    // the past is billed already: a version takes effect now or later, and after every earlier one
    if (state.versions.length > 0 && command.effectiveFromMs < command.nowMs) return reject('invalid_input', 'a new price takes effect now or later, not in the past', 'effectiveFrom');
    const latest = Math.max(-Infinity, ...state.versions.map((v) => v.effectiveFromMs));
    if (command.effectiveFromMs < latest) return reject('invalid_input', `must not be before the latest version's (${iso(latest)})`, 'effectiveFrom');
    const rates = Object.fromEntries(GPU_TYPES.map((g) => [g, Object.fromEntries(TIERS.map((t) => [t, command.rates[g][t]]))])) as Rates;
    return accept({ type: 'PriceListSet', data: { version: state.versions.length + 1, effectiveFrom: iso(command.effectiveFromMs), rates, reason: command.reason } });
  },
};
