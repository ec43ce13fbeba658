/**
 * The customer account: registration, quota (GPU-seconds and budget), workload
 * reservations and API keys. It is the consistency boundary for quota: a workload
 * is admitted only by a QuotaReserved event here (invariant 1: reserved + consumed
 * ≤ granted, nothing negative). A workload's reservation turns into consumption run by
 * run, as each run is billed (never more than it holds), and what is left is released
 * when the workload ends; a run rated higher than its reservation first extends it.
 */
import { accept, reject, type Decider, type DomainEvent } from '../decider.ts';
import { evolveKeys, type ApiKeyEvent, type KeyRing } from '../access/keys.ts';
import { classify, type Classification } from '../workload/classify.ts';
import { gpuSecondsOf } from '../workload/pricing.ts';
import { priceOfGpuSeconds } from '../money.ts';
import type { Tier } from '../billing/price-list.ts';
import type { CustomerTier, WorkloadRequest } from '../workload/request.ts';
import { slaInfeasibility } from '../workload/sla.ts';
import { formatUsd } from '../money.ts';
import { emptyMap, getIn, removeFrom, setIn, type PersistentMap } from '../persistent-map.ts';

export const customerStream = (customerId: string) => `customer-${customerId}`;

export type Reservation = { gpuSeconds: number; budgetMicroUsd: number };

export type CustomerEvent =
  | DomainEvent<'CustomerRegistered', { customerId: string; name: string; tier: CustomerTier }>
  | DomainEvent<'QuotaGranted', { customerId: string; gpuSeconds: number; budgetMicroUsd: number }>
  | DomainEvent<
      'QuotaReserved',
      { customerId: string; workloadId: string; request: WorkloadRequest; classification: Classification; rateMicroUsdPerGpuHour?: number } & Reservation
    >
  | DomainEvent<'QuotaReleased', { customerId: string; workloadId: string; reason: string } & Reservation>
  /** A run's billed use, out of its workload's reservation. */
  | DomainEvent<'QuotaConsumed', { customerId: string; workloadId: string; run?: number } & Reservation>
  | DomainEvent<'QuotaReservationExtended', { customerId: string; workloadId: string; reason: string } & Reservation>
  | ApiKeyEvent;

export type CustomerCommand =
  | { type: 'RegisterCustomer'; customerId: string; name: string; tier: CustomerTier }
  | { type: 'GrantQuota'; gpuSeconds: number; budgetMicroUsd: number }
  /** `rates`: the price list's rate per GPU-hour for each tier of the request's GPU type, now. */
  | { type: 'ReserveQuota'; workloadId: string; request: WorkloadRequest; rates: Record<Tier, number> }
  | { type: 'ReleaseQuota'; workloadId: string; reason: string }
  | ({ type: 'ConsumeQuota'; workloadId: string; run: number } & Reservation)
  | ({ type: 'ExtendReservation'; workloadId: string; reason: string } & Reservation)
  | { type: 'IssueCustomerKey'; keyId: string; keyHash: string; label: string }
  | { type: 'RevokeCustomerKey'; keyId: string };

export type Balance = { granted: Reservation; reserved: Reservation; consumed: Reservation };

export type CustomerState =
  | { status: 'unregistered' }
  | {
      status: 'registered';
      customerId: string;
      tier: CustomerTier;
      balance: Balance;
      /** What each workload still holds (getIn, entriesOf). */
      reservations: PersistentMap<Reservation>;
      keys: KeyRing;
    };

/** An account's total grant stays below these (about 1.1 million GPU-years; $1 billion), far inside 2^53. */
export const MAX_GRANTED: Reservation = { gpuSeconds: 36_000_000_000_000, budgetMicroUsd: 1_000_000_000_000_000 };

const ZERO: Reservation = { gpuSeconds: 0, budgetMicroUsd: 0 };
const add = (a: Reservation, b: Reservation): Reservation => ({
  gpuSeconds: a.gpuSeconds + b.gpuSeconds,
  budgetMicroUsd: a.budgetMicroUsd + b.budgetMicroUsd,
});
const sub = (a: Reservation, b: Reservation): Reservation => ({
  gpuSeconds: a.gpuSeconds - b.gpuSeconds,
  budgetMicroUsd: a.budgetMicroUsd - b.budgetMicroUsd,
});

export const available = (b: Balance): Reservation => sub(b.granted, add(b.reserved, b.consumed));

const reservationOf = (d: Reservation): Reservation => ({ gpuSeconds: d.gpuSeconds, budgetMicroUsd: d.budgetMicroUsd });

const evolve = (state: CustomerState, event: CustomerEvent): CustomerState => {
  if (event.type === 'CustomerRegistered')
    return {
      status: 'registered',
      customerId: event.data.customerId,
      tier: event.data.tier,
      balance: { granted: ZERO, reserved: ZERO, consumed: ZERO },
      reservations: emptyMap(),
      keys: {},
    };
  if (state.status === 'unregistered') return state;
  const { balance, reservations } = state;
  switch (event.type) {
    case 'QuotaGranted':
      return { ...state, balance: { ...balance, granted: add(balance.granted, reservationOf(event.data)) } };
    case 'QuotaReserved':
      return {
        ...state,
        balance: { ...balance, reserved: add(balance.reserved, reservationOf(event.data)) },
        reservations: setIn(reservations, event.data.workloadId, reservationOf(event.data)),
      };
    case 'QuotaReservationExtended': {
      const amount = reservationOf(event.data);
      return {
        ...state,
        balance: { ...balance, reserved: add(balance.reserved, amount) },
        reservations: setIn(reservations, event.data.workloadId, add(getIn(reservations, event.data.workloadId) ?? ZERO, amount)),
      };
    }
    case 'QuotaReleased':
    case 'QuotaConsumed': {
      const { workloadId } = event.data;
      const held = getIn(reservations, workloadId);
      const amount = reservationOf(event.data);
      // a release takes what is left; a run's consumption takes its part and leaves the rest reserved
      const left = event.type === 'QuotaConsumed' && held ? sub(held, amount) : ZERO;
      return {
        ...state,
        reservations: left.gpuSeconds > 0 || left.budgetMicroUsd > 0 ? setIn(reservations, workloadId, left) : removeFrom(reservations, workloadId),
        balance: {
          ...balance,
          reserved: sub(balance.reserved, amount),
          consumed: event.type === 'QuotaConsumed' ? add(balance.consumed, amount) : balance.consumed,
        },
      };
    }
    case 'ApiKeyIssued':
    case 'ApiKeyRevoked':
      return { ...state, keys: evolveKeys(state.keys, event) };
  }
};

const decide = (command: CustomerCommand, state: CustomerState) => {
  if (command.type === 'RegisterCustomer')
    return state.status === 'registered'
      ? reject<CustomerEvent>('already_exists', `customer ${command.customerId} is already registered`, 'customerId')
      : accept<CustomerEvent>({
          type: 'CustomerRegistered',
          data: { customerId: command.customerId, name: command.name, tier: command.tier },
        });
  if (state.status === 'unregistered') return reject<CustomerEvent>('not_found', 'customer not found', 'customerId');
  const { customerId } = state;
  switch (command.type) {
    case 'GrantQuota': {
      const after = add(state.balance.granted, command);
      for (const field of ['gpuSeconds', 'budgetMicroUsd'] as const) {
        if (!Number.isSafeInteger(command[field]) || command[field] < 0) return reject<CustomerEvent>('invalid_input', 'a grant is a non-negative integer amount', field);
        if (after[field] > MAX_GRANTED[field]) return reject<CustomerEvent>('invalid_input', 'total grant would exceed the account limit', field);
      }
      return accept<CustomerEvent>({
        type: 'QuotaGranted',
        data: { customerId, gpuSeconds: command.gpuSeconds, budgetMicroUsd: command.budgetMicroUsd },
      });
    }
    case 'ReserveQuota': {
      if (getIn(state.reservations, command.workloadId))
        return reject<CustomerEvent>('already_exists', `workload ${command.workloadId} already holds a reservation`);
      const classification = classify(command.request, state.tier);
      const infeasible = slaInfeasibility(command.request, classification);
      if (infeasible) return reject<CustomerEvent>('sla_infeasible', infeasible, 'maxLatencyMs');
      if (classification.priority === 'P4') return reject<CustomerEvent>('invalid_input', 'P4 is the platform\'s own mining', 'type');
      const rate = command.rates[classification.priority];
      if (!Number.isSafeInteger(rate) || rate <= 0) return reject<CustomerEvent>('invalid_state', `no price for ${command.request.gpuType} ${classification.priority}`, 'gpuType');
      const gpuSeconds = gpuSecondsOf(command.request.gpuCount, command.request.durationSeconds);
      const budgetMicroUsd = priceOfGpuSeconds(rate, gpuSeconds);
      const free = available(state.balance);
      if (gpuSeconds > free.gpuSeconds)
        return reject<CustomerEvent>(
          'quota_exceeded',
          `needs ${gpuSeconds / 3600} GPU-hours, ${free.gpuSeconds / 3600} remain`,
          'durationSeconds',
        );
      if (budgetMicroUsd > free.budgetMicroUsd)
        return reject<CustomerEvent>(
          'budget_exceeded',
          `costs $${formatUsd(budgetMicroUsd)}, $${formatUsd(free.budgetMicroUsd)} of budget remains`,
          'durationSeconds',
        );
      return accept<CustomerEvent>({
        type: 'QuotaReserved',
        data: { customerId, workloadId: command.workloadId, request: command.request, classification, rateMicroUsdPerGpuHour: rate, gpuSeconds, budgetMicroUsd },
      });
    }
    case 'ReleaseQuota': {
      const reservation = getIn(state.reservations, command.workloadId);
      // releasing twice, or a reservation that was consumed, is a no-op: process managers retry
      return reservation
        ? accept<CustomerEvent>({
            type: 'QuotaReleased',
            data: { customerId, workloadId: command.workloadId, reason: command.reason, ...reservation },
          })
        : accept<CustomerEvent>();
    }
    case 'ConsumeQuota': {
      const held = getIn(state.reservations, command.workloadId) ?? ZERO;
      for (const field of ['gpuSeconds', 'budgetMicroUsd'] as const) {
        if (!Number.isSafeInteger(command[field]) || command[field] < 0) return reject<CustomerEvent>('invalid_input', 'a use is a non-negative integer amount', field);
        // invariant 1: a run consumes out of its workload's reservation, never beyond it
        if (command[field] > held[field]) return reject<CustomerEvent>('quota_exceeded', `workload ${command.workloadId} holds ${held[field]} ${field}, not ${command[field]}`, field);
      }
      if (command.gpuSeconds === 0 && command.budgetMicroUsd === 0) return accept<CustomerEvent>();
      return accept<CustomerEvent>({
        type: 'QuotaConsumed',
        data: { customerId, workloadId: command.workloadId, run: command.run, gpuSeconds: command.gpuSeconds, budgetMicroUsd: command.budgetMicroUsd },
      });
    }
    case 'ExtendReservation': {
      const free = available(state.balance);
      for (const field of ['gpuSeconds', 'budgetMicroUsd'] as const) {
        if (!Number.isSafeInteger(command[field]) || command[field] < 0) return reject<CustomerEvent>('invalid_input', 'an extension is a non-negative integer amount', field);
        if (command[field] > free[field])
          return reject<CustomerEvent>(field === 'budgetMicroUsd' ? 'budget_exceeded' : 'quota_exceeded', `needs ${command[field]} more ${field}, ${free[field]} remain`, field);
      }
      if (command.gpuSeconds === 0 && command.budgetMicroUsd === 0) return accept<CustomerEvent>();
      return accept<CustomerEvent>({
        type: 'QuotaReservationExtended',
        data: { customerId, workloadId: command.workloadId, reason: command.reason, gpuSeconds: command.gpuSeconds, budgetMicroUsd: command.budgetMicroUsd },
      });
    }
    case 'IssueCustomerKey':
      if (state.keys[command.keyId]) return reject<CustomerEvent>('already_exists', `key ${command.keyId} exists`, 'keyId');
      return accept<CustomerEvent>({
        type: 'ApiKeyIssued',
        data: { keyId: command.keyId, role: 'customer', customerId, keyHash: command.keyHash, label: command.label },
      });
    case 'RevokeCustomerKey': {
      const key = state.keys[command.keyId];
      if (!key) return reject<CustomerEvent>('not_found', `key ${command.keyId} not found`, 'keyId');
      return key.revoked
        ? accept<CustomerEvent>()
        : accept<CustomerEvent>({ type: 'ApiKeyRevoked', data: { keyId: command.keyId, customerId } });
    }
  }
};

export const customerDecider: Decider<CustomerCommand, CustomerEvent, CustomerState> = {
  initialState: () => ({ status: 'unregistered' }),
  evolve,
  decide,
};
