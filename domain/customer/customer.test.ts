/**
 * Invariant 1 (quota): for every customer at every point, reserved + consumed ≤ granted, nothing
 * negative — with reservations consumed run by run, extended, and released. The property is also
 * run against the decider with a bug planted, and must catch it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fold, type Decider } from '../decider.ts';
import { GPU_TYPES, WORKLOAD_TYPES, type WorkloadRequest } from '../workload/request.ts';
import { INITIAL_RATES } from '../billing/price-list.ts';
import { customerDecider, MAX_GRANTED, type CustomerCommand, type CustomerEvent, type CustomerState } from './customer.ts';
import { entriesOf, getIn } from '../persistent-map.ts';

type CustomerDecider = Decider<CustomerCommand, CustomerEvent, CustomerState>;

const rates = INITIAL_RATES.H100;
const workloadIds = ['w1', 'w2', 'w3', 'w4', 'w5'] as const;

const request: fc.Arbitrary<WorkloadRequest> = fc.record({
  type: fc.constantFrom(...WORKLOAD_TYPES),
  model: fc.constantFrom('llama-3-8b', 'llama-3-70b', 'mistral-7b', 'custom-model'),
  gpuType: fc.constantFrom(...GPU_TYPES),
  gpuCount: fc.integer({ min: 1, max: 64 }),
  maxLatencyMs: fc.integer({ min: 20, max: 5000 }),
  durationSeconds: fc.integer({ min: 60, max: 72 * 3600 }),
});

const command: fc.Arbitrary<CustomerCommand> = fc.oneof(
  fc.record({
    type: fc.constant('GrantQuota' as const),
    gpuSeconds: fc.integer({ min: 0, max: 500 * 3600 }),
    budgetMicroUsd: fc.integer({ min: 0, max: 5_000_000_000 }),
  }),
  fc.record({ type: fc.constant('ReserveQuota' as const), workloadId: fc.constantFrom(...workloadIds), request, rates: fc.constant(rates) }),
  fc.record({ type: fc.constant('ReleaseQuota' as const), workloadId: fc.constantFrom(...workloadIds), reason: fc.constant('test') }),
  fc.record({
    type: fc.constant('ConsumeQuota' as const),
    workloadId: fc.constantFrom(...workloadIds),
    run: fc.integer({ min: 1, max: 3 }),
    gpuSeconds: fc.integer({ min: 0, max: 100 * 3600 }),
    budgetMicroUsd: fc.integer({ min: 0, max: 500_000_000 }),
  }),
  fc.record({
    type: fc.constant('ExtendReservation' as const),
    workloadId: fc.constantFrom(...workloadIds),
    reason: fc.constant('rate rose'),
    gpuSeconds: fc.constant(0),
    budgetMicroUsd: fc.integer({ min: 0, max: 500_000_000 }),
  }),
);

const holds = (state: CustomerState) => {
  if (state.status !== 'registered') return;
  const { granted, reserved, consumed } = state.balance;
  for (const k of ['gpuSeconds', 'budgetMicroUsd'] as const) {
    expect(reserved[k] + consumed[k]).toBeLessThanOrEqual(granted[k]);
    expect(reserved[k]).toBeGreaterThanOrEqual(0);
    expect(consumed[k]).toBeGreaterThanOrEqual(0);
    expect(Number.isSafeInteger(reserved[k])).toBe(true);
    expect(reserved[k]).toBe(entriesOf(state.reservations).reduce((sum, [, r]) => sum + r[k], 0));
  }
};

const quotaProperty = (decider: CustomerDecider) =>
  fc.property(fc.array(command, { maxLength: 60, size: 'max' }), (commands) => {
    const events: CustomerEvent[] = [{ type: 'CustomerRegistered', data: { customerId: 'c', name: 'C', tier: 'standard' } }];
    for (const c of commands) {
      const decision = decider.decide(c, fold(decider, events));
      if (decision.type === 'accepted') events.push(...decision.events);
      holds(fold(decider, events));
    }
  });

/** Planted bugs: wrappers around the real decider, each of which the property must catch. */
const PLANTED: Record<string, CustomerDecider> = {
  // a run's use is counted as consumed but stays reserved too
  'consumes without reducing the reservation': {
    ...customerDecider,
    evolve: (state, event) => {
      const next = customerDecider.evolve(state, event);
      if (event.type !== 'QuotaConsumed' || state.status !== 'registered' || next.status !== 'registered') return next;
      return { ...next, balance: { ...next.balance, reserved: state.balance.reserved }, reservations: state.reservations };
    },
  },
  // a reservation decided as if the whole account limit were granted: no remaining-quota check
  'reserves without checking the remaining quota': {
    ...customerDecider,
    decide: (command, state) =>
      command.type === 'ReserveQuota' && state.status === 'registered'
        ? customerDecider.decide(command, { ...state, balance: { ...state.balance, granted: MAX_GRANTED } })
        : customerDecider.decide(command, state),
  },
};

describe('customer quota (invariant 1)', () => {
  it('reserved + consumed never exceeds granted, and nothing goes negative, for any command sequence', () => {
    fc.assert(quotaProperty(customerDecider));
  });

  it.each(Object.keys(PLANTED))('catches a decider that %s', (bug) => {
    expect(fc.check(quotaProperty(PLANTED[bug]!), { numRuns: 500 }).failed).toBe(true);
  });

  it('a reservation beyond the remaining quota or budget is rejected with the field at fault', () => {
    const registered: CustomerEvent[] = [
      { type: 'CustomerRegistered', data: { customerId: 'c', name: 'C', tier: 'standard' } },
      { type: 'QuotaGranted', data: { customerId: 'c', gpuSeconds: 3600, budgetMicroUsd: 10_000_000 } },
    ];
    const state = fold(customerDecider, registered);
    const base: WorkloadRequest = { type: 'ai_inference_batch', model: 'llama-3-8b', gpuType: 'H100', gpuCount: 2, durationSeconds: 3600 };
    const tooLong = customerDecider.decide({ type: 'ReserveQuota', workloadId: 'w', request: base, rates }, state);
    expect(tooLong).toMatchObject({ type: 'rejected', rejection: { code: 'quota_exceeded', field: 'durationSeconds' } });
    const poor = fold(customerDecider, [
      ...registered,
      { type: 'QuotaGranted', data: { customerId: 'c', gpuSeconds: 36_000, budgetMicroUsd: 0 } } satisfies CustomerEvent,
    ]);
    const tooDear = customerDecider.decide({ type: 'ReserveQuota', workloadId: 'w', request: { ...base, gpuCount: 10 }, rates }, poor);
    expect(tooDear).toMatchObject({ type: 'rejected', rejection: { code: 'budget_exceeded' } });
    const fits = customerDecider.decide({ type: 'ReserveQuota', workloadId: 'w', request: { ...base, gpuCount: 1 }, rates }, state);
    // 1 H100-hour of batch inference (P2) at the price list's $2.975
    expect(fits).toMatchObject({ type: 'accepted', events: [{ type: 'QuotaReserved', data: { gpuSeconds: 3600, budgetMicroUsd: 2_975_000 } }] });
  });

  it('a run consumes out of its reservation, never more than it holds; the rest stays reserved until released', () => {
    const events: CustomerEvent[] = [
      { type: 'CustomerRegistered', data: { customerId: 'c', name: 'C', tier: 'standard' } },
      { type: 'QuotaGranted', data: { customerId: 'c', gpuSeconds: 10 * 3600, budgetMicroUsd: 100_000_000 } },
    ];
    const step = (c: CustomerCommand) => {
      const d = customerDecider.decide(c, fold(customerDecider, events));
      if (d.type === 'accepted') events.push(...d.events);
      return d;
    };
    const request: WorkloadRequest = { type: 'ai_inference_batch', model: 'llama-3-8b', gpuType: 'H100', gpuCount: 1, durationSeconds: 3600 };
    expect(step({ type: 'ReserveQuota', workloadId: 'w', request, rates }).type).toBe('accepted');
    expect(step({ type: 'ConsumeQuota', workloadId: 'w', run: 1, gpuSeconds: 1200, budgetMicroUsd: 991_667 }).type).toBe('accepted');
    expect(step({ type: 'ConsumeQuota', workloadId: 'w', run: 2, gpuSeconds: 2401, budgetMicroUsd: 0 })).toMatchObject({ type: 'rejected', rejection: { code: 'quota_exceeded', field: 'gpuSeconds' } });
    const state = fold(customerDecider, events);
    if (state.status !== 'registered') throw new Error('not registered');
    expect(getIn(state.reservations, 'w')).toEqual({ gpuSeconds: 2400, budgetMicroUsd: 2_975_000 - 991_667 });
    expect(state.balance.consumed).toEqual({ gpuSeconds: 1200, budgetMicroUsd: 991_667 });
    expect(step({ type: 'ReleaseQuota', workloadId: 'w', reason: 'completed' })).toMatchObject({ events: [{ type: 'QuotaReleased', data: { gpuSeconds: 2400 } }] });
    expect(fold(customerDecider, events)).toMatchObject({ balance: { reserved: { gpuSeconds: 0, budgetMicroUsd: 0 } }, reservations: { size: 0 } });
  });

  it('releasing is idempotent and an unregistered customer is not found', () => {
    const state = fold(customerDecider, [{ type: 'CustomerRegistered', data: { customerId: 'c', name: 'C', tier: 'standard' } }]);
    expect(customerDecider.decide({ type: 'ReleaseQuota', workloadId: 'nope', reason: 'x' }, state)).toEqual({ type: 'accepted', events: [] });
    expect(customerDecider.decide({ type: 'GrantQuota', gpuSeconds: 1, budgetMicroUsd: 1 }, customerDecider.initialState())).toMatchObject({
      type: 'rejected',
      rejection: { code: 'not_found' },
    });
  });
});
