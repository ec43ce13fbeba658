/** A site: its power budget (shared by its ASIC and GPU fleets) and the market node that prices its electricity. */
import { accept, reject, type Decider, type DomainEvent } from '../decider.ts';
import type { MarketNode } from '../market/ticks.ts';

export const facilityStream = (facilityId: string) => `facility-${facilityId}`;

export type FacilityEvent =
  | DomainEvent<'FacilityRegistered', { facilityId: string; name: string; marketNode: MarketNode; powerBudgetKw: number }>
  | DomainEvent<'PowerBudgetSet', { facilityId: string; powerBudgetKw: number; reason: string }>;

export type FacilityCommand =
  | { type: 'RegisterFacility'; facilityId: string; name: string; marketNode: MarketNode; powerBudgetKw: number }
  | { type: 'SetPowerBudget'; powerBudgetKw: number; reason: string };

export type FacilityState = { status: 'unregistered' } | { status: 'registered'; facilityId: string; powerBudgetKw: number };

export const facilityDecider: Decider<FacilityCommand, FacilityEvent, FacilityState> = {
  initialState: () => ({ status: 'unregistered' }),
  evolve: (state, event) =>
    event.type === 'FacilityRegistered'
      ? { status: 'registered', facilityId: event.data.facilityId, powerBudgetKw: event.data.powerBudgetKw }
      : state.status === 'registered'
        ? { ...state, powerBudgetKw: event.data.powerBudgetKw }
        : state,
  decide: (command, state) => {
    if (command.type === 'RegisterFacility') {
      if (state.status === 'registered') return reject('already_exists', `facility ${command.facilityId} exists`, 'facilityId');
      if (!(Number.isSafeInteger(command.powerBudgetKw) && command.powerBudgetKw > 0))
        return reject('invalid_input', 'power budget is a positive whole number of kW', 'powerBudgetKw');
      const { facilityId, name, marketNode, powerBudgetKw } = command;
      return accept({ type: 'FacilityRegistered', data: { facilityId, name, marketNode, powerBudgetKw } });
    }
    if (state.status === 'unregistered') return reject('not_found', 'facility not found', 'facilityId');
    if (!(Number.isSafeInteger(command.powerBudgetKw) && command.powerBudgetKw >= 0))
      return reject('invalid_input', 'power budget is a non-negative whole number of kW', 'powerBudgetKw');
    return state.powerBudgetKw === command.powerBudgetKw
      ? accept()
      : accept({ type: 'PowerBudgetSet', data: { facilityId: state.facilityId, powerBudgetKw: command.powerBudgetKw, reason: command.reason } });
  },
};
