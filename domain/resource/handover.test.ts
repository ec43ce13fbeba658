/**
 * Power handovers (docs/design.md §3 "Switching", invariant 4 at facility level): the request
 * checks SLA, capacity and power and names the field at fault; phases complete only in
 * their order; a handover ends once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fold } from '../decider.ts';
import { HANDOVER_PHASES, handoverDecider, type HandoverCommand, type HandoverEvent, type HandoverFacts, type ResourceFacts } from './handover.ts';
import { SWITCH_PHASES } from './switching.ts';

const asic: ResourceFacts = {
  resourceId: 'tx-s21-01',
  facilityId: 'tx',
  kind: 'asic_group',
  mode: 'mining',
  healthy: true,
  switchInFlight: undefined,
  allocatedUnits: 0,
  poweredUnits: 0,
  warmStandbyUnits: 0,
  units: 1000,
  powerWPerUnit: 3500,
};
const gpu: ResourceFacts = { ...asic, resourceId: 'tx-h100', kind: 'gpu_pool', mode: 'warm_standby', units: 1000, powerWPerUnit: 700 };
const facts = (over: Partial<HandoverFacts> = {}): HandoverFacts => ({ asic, gpu, facility: { facilityId: 'tx', powerBudgetKw: 5_000, committedDrawKw: 3_570 }, ...over });
const request = (f: HandoverFacts, direction: 'to_ai' | 'to_mining' = 'to_ai'): HandoverCommand => ({
  type: 'RequestHandover',
  handoverId: 'ho-1',
  facilityId: 'tx',
  direction,
  asicResourceId: asic.resourceId,
  gpuResourceId: gpu.resourceId,
  reason: 'AI pays more',
  facts: f,
});
const decideOn = (events: HandoverEvent[], command: HandoverCommand) => handoverDecider.decide(command, fold(handoverDecider, events));

describe('power handover', () => {
  it('mining → AI: ASICs ramp down before power moves and GPUs come up; the draw is recorded against the budget', () => {
    const d = decideOn([], request(facts()));
    expect(d.type).toBe('accepted');
    const requested = d.type === 'accepted' ? d.events[0]! : undefined;
    expect(requested?.type === 'HandoverRequested' && requested.data).toMatchObject({
      phases: ['signal_validated', 'capacity_checked', 'asic_ramped_down', 'power_reassigned', 'gpu_activated', 'endpoint_ready'],
      asicFrom: 'mining',
      asicTo: 'sleeping',
      gpuFrom: 'warm_standby',
      gpuTo: 'serving',
      drawBeforeKw: 3570,
      // − 3,500 + 25 (ASICs asleep) − 70 + 700 (GPUs from warm standby to full power)
      drawAfterKw: 725,
    });
  });

  it('refuses, naming the field, what it cannot do', () => {
    const cases: Array<[HandoverFacts, 'to_ai' | 'to_mining', string, RegExp]> = [
      [facts({ asic: undefined }), 'to_ai', 'asicResourceId', /no resource/],
      [facts({ gpu: { ...gpu, switchInFlight: 'sw-9' } }), 'to_ai', 'gpuResourceId', /switch sw-9 in flight/],
      [facts({ asic: { ...asic, facilityId: 'nd' } }), 'to_ai', 'asicResourceId', /at nd, not tx/],
      [facts({ gpu: { ...asic, resourceId: 'tx-h100' } }), 'to_ai', 'gpuResourceId', /not a GPU pool/],
      [facts({ asic: { ...asic, mode: 'sleeping' } }), 'to_ai', 'asicResourceId', /is sleeping/],
      [facts({ gpu: { ...gpu, healthy: false } }), 'to_ai', 'gpuResourceId', /unhealthy/],
      // SLA: a pool serving workloads is not taken away from them
      [facts({ asic: { ...asic, mode: 'sleeping' }, gpu: { ...gpu, mode: 'serving', allocatedUnits: 8, poweredUnits: 10, warmStandbyUnits: 4 } }), 'to_mining', 'gpuResourceId', /release or cool them first/],
      // the ASICs' return must fit the budget
      [facts({ asic: { ...asic, mode: 'sleeping' }, gpu: { ...gpu, mode: 'serving' }, facility: { facilityId: 'tx', powerBudgetKw: 3_000, committedDrawKw: 725 } }), 'to_mining', 'gpuResourceId', /above its 3000 kW budget/],
      [facts({ facility: undefined }), 'to_ai', 'facilityId', /no facility/],
    ];
    for (const [f, direction, field, message] of cases) {
      const d = decideOn([], request(f, direction));
      expect(d.type, `${field} ${message}`).toBe('rejected');
      if (d.type === 'rejected') {
        expect(d.rejection.field).toBe(field);
        expect(d.rejection.message).toMatch(message);
      }
    }
  });

  it('AI → mining within the budget takes the reverse order', () => {
    const d = decideOn([], request(facts({ asic: { ...asic, mode: 'sleeping' }, gpu: { ...gpu, mode: 'serving' }, facility: { facilityId: 'tx', powerBudgetKw: 5_000, committedDrawKw: 725 } }), 'to_mining'));
    expect(d.type === 'accepted' && d.events[0]!.type === 'HandoverRequested' && d.events[0]!.data.phases).toEqual(HANDOVER_PHASES.to_mining);
  });

  it('any sequence of steps records phases only in order, and ends at most once (invariant 4)', () => {
    const step = fc.oneof(
      fc.constantFrom(...SWITCH_PHASES).map((phase): HandoverCommand => ({ type: 'CompleteHandoverPhase', phase, durationMs: 5 })),
      fc.constantFrom(...SWITCH_PHASES).map((phase): HandoverCommand => ({ type: 'StartRollback', phase, reason: 'drill' })),
      fc.constant<HandoverCommand>({ type: 'FailHandover', rollback: 'nothing had moved' }),
    );
    fc.assert(
      fc.property(fc.constantFrom('to_ai' as const, 'to_mining' as const), fc.array(step, { maxLength: 30 }), (direction, steps) => {
        const f =
          direction === 'to_ai' ? facts() : facts({ asic: { ...asic, mode: 'sleeping' }, gpu: { ...gpu, mode: 'serving' }, facility: { facilityId: 'tx', powerBudgetKw: 5_000, committedDrawKw: 725 } });
        const events: HandoverEvent[] = [];
        for (const command of [request(f, direction), ...steps]) {
          const d = decideOn(events, command);
          if (d.type === 'accepted') events.push(...d.events);
        }
        const phases = events.flatMap((e) => (e.type === 'HandoverPhaseCompleted' ? [e.data.phase] : []));
        expect(phases).toEqual(HANDOVER_PHASES[direction].slice(0, phases.length));
        const ends = events.filter((e) => e.type === 'HandoverCompleted' || e.type === 'HandoverFailed');
        expect(ends.length).toBeLessThanOrEqual(1);
        if (ends[0]?.type === 'HandoverCompleted') expect(phases).toEqual(HANDOVER_PHASES[direction]);
        // nothing after the end; no phase after a rollback began; a failure only after a rollback
        if (ends.length) expect(events.at(-1)).toBe(ends[0]);
        const rollback = events.findIndex((e) => e.type === 'HandoverRollingBack');
        if (rollback >= 0) expect(events.slice(rollback).some((e) => e.type === 'HandoverPhaseCompleted')).toBe(false);
        if (ends[0]?.type === 'HandoverFailed') expect(rollback).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});
