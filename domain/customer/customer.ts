/**
 * The customer account: registration, quota (GPU-seconds and budget), workload
 * reservations and API keys. It is the consistency boundary for quota: a workload
 * is admitted only by a QuotaReserved event here (invariant 1: reserved + consumed
 * ≤ granted, nothing negative).
 */
import { accept, reject, type Decider, type DomainEvent } from '../decider.ts';
import { evolveKeys, type ApiKeyEvent, type KeyRing } from '../access/keys.ts';
import { classify, type Classification } from '../workload/classify.ts';
import { gpuSecondsOf, listPriceOf } from '../workload/pricing.ts';
import type { CustomerTier, WorkloadRequest } from '../workload/request.ts';
import { slaInfeasibility } from '../workload/sla.ts';
import { formatUsd } from '../money.ts';

export const customerStream = (customerId: string) => `customer-${customerId}`;

export type Reservation = { gpuSeconds: number; budgetMicroUsd: number };

export type CustomerEvent =
  | DomainEvent<'CustomerRegistered', { customerId: string; name: string; tier: CustomerTier }>
  | DomainEvent<'QuotaGranted', { customerId: string; gpuSeconds: number; budgetMicroUsd: number }>
  | DomainEvent<
      'QuotaReserved',
      { customerId: string; workloadId: string; request: WorkloadRequest; classification: Classification } & Reservation
    >
  | DomainEvent<'QuotaReleased', { customerId: string; workloadId: string; reason: string } & Reservation>
  | DomainEvent<'QuotaConsumed', { customerId: string; workloadId: string } & Reservation>
  | ApiKeyEvent;

export type CustomerCommand =
  | { type: 'RegisterCustomer'; customerId: string; name: string; tier: CustomerTier }
  | { type: 'GrantQuota'; gpuSeconds: number; budgetMicroUsd: number }
  | { type: 'ReserveQuota'; workloadId: string; request: WorkloadRequest }
  | { type: 'ReleaseQuota'; workloadId: string; reason: string }
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
      reservations: Readonly<Record<string, Reservation>>;
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
      reservations: {},
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
        reservations: { ...reservations, [event.data.workloadId]: reservationOf(event.data) },
      };
    case 'QuotaReleased':
    case 'QuotaConsumed': {
      const { [event.data.workloadId]: _released, ...rest } = reservations;
      const amount = reservationOf(event.data);
      return {
        ...state,
        reservations: rest,
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
      if (state.reservations[command.workloadId])
        return reject<CustomerEvent>('already_exists', `workload ${command.workloadId} already holds a reservation`);
      const classification = classify(command.request, state.tier);
      const infeasible = slaInfeasibility(command.request, classification);
      if (infeasible) return reject<CustomerEvent>('sla_infeasible', infeasible, 'maxLatencyMs');
      const gpuSeconds = gpuSecondsOf(command.request.gpuCount, command.request.durationSeconds);
      const budgetMicroUsd = listPriceOf(command.request.gpuType, gpuSeconds);
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
        data: { customerId, workloadId: command.workloadId, request: command.request, classification, gpuSeconds, budgetMicroUsd },
      });
    }
    case 'ReleaseQuota': {
      const reservation = state.reservations[command.workloadId];
      // releasing twice, or a reservation that was consumed, is a no-op: process managers retry
      return reservation
        ? accept<CustomerEvent>({
            type: 'QuotaReleased',
            data: { customerId, workloadId: command.workloadId, reason: command.reason, ...reservation },
          })
        : accept<CustomerEvent>();
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
