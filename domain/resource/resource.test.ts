/**
 * Invariant 4 (switching): phases occur in order, at most one switch is in flight
 * per resource, and a resource serving a workload does not switch away until released
 * (a GPU pool: never to a mode whose power envelope is smaller than its powered GPUs).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fold } from '../decider.ts';
import { resourceDecider, type ResourceCommand, type ResourceEvent, type ResourceSpec } from './resource.ts';
import { ASIC_MODES, GPU_MODES, SWITCH_PHASES, type ResourceMode } from './switching.ts';

const gpuPool: ResourceSpec = {
  resourceId: 'r1', facilityId: 'f', kind: 'gpu_pool', model: 'H100', units: 8, powerWPerUnit: 700, hashrateThsPerUnit: null, warmStandbyUnits: 3, mode: 'warm_standby',
};
const gpu = (i: number) => `r1-h001-g${i}`;
const asicGroup: ResourceSpec = {
  resourceId: 'r2', facilityId: 'f', kind: 'asic_group', model: 'S21', units: 1000, powerWPerUnit: 3500, hashrateThsPerUnit: 200, mode: 'mining',
};

const commandArb: fc.Arbitrary<ResourceCommand> = fc.oneof(
  fc.record({ type: fc.constant('RequestSwitch' as const), switchId: fc.constantFrom('s1', 's2', 's3'), to: fc.constantFrom<ResourceMode>(...ASIC_MODES, ...GPU_MODES), reason: fc.constant('t') }),
  fc.record({ type: fc.constant('CompletePhase' as const), switchId: fc.constantFrom('s1', 's2', 's3'), phase: fc.constantFrom(...SWITCH_PHASES), durationMs: fc.nat({ max: 5000 }) }),
  fc.record({ type: fc.constant('FailSwitch' as const), switchId: fc.constantFrom('s1', 's2', 's3'), phase: fc.constantFrom(...SWITCH_PHASES), reason: fc.constant('t') }),
  fc.record({
    type: fc.constant('AllocateGpus' as const),
    workloadId: fc.constantFrom('w1', 'w2'),
    run: fc.constant(1),
    gpuIds: fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 8 }).map((xs) => xs.map(gpu)),
    mode: fc.constant('serving' as const),
    model: fc.constant('m'),
  }),
  fc.record({ type: fc.constant('ReleaseGpus' as const), workloadId: fc.constantFrom('w1', 'w2'), run: fc.constant(1), keepModel: fc.boolean() }),
);

/** GPUs a pool may power in a mode (gpu-pool.ts poweredCapacity), for the reference. */
const envelope = (mode: ResourceMode) => (mode === 'serving' || mode === 'training' ? 8 : mode === 'warm_standby' ? 3 : 0);

/** Drives a command sequence, also completing phases in order half the time so switches finish. */
const run = (spec: ResourceSpec, commands: ResourceCommand[]) => {
  const events: ResourceEvent[] = [{ type: 'ResourceRegistered', data: spec }];
  for (const c of commands) {
    const state = fold(resourceDecider, events);
    const decision = resourceDecider.decide(c, state);
    if (decision.type === 'accepted') events.push(...decision.events);
    const after = fold(resourceDecider, events);
    if (after.status === 'registered' && after.inFlight && c.type === 'CompletePhase') {
      const next = resourceDecider.decide({ type: 'CompletePhase', switchId: after.inFlight.switchId, phase: after.inFlight.phases[after.inFlight.done]!, durationMs: 10 }, after);
      if (next.type === 'accepted') events.push(...next.events);
    }
  }
  return events;
};

const checkInvariant4 = (events: ResourceEvent[]) => {
  let inFlight: { switchId: string; phases: string[]; done: number; to: ResourceMode } | undefined;
  let mode: ResourceMode = (events[0] as Extract<ResourceEvent, { type: 'ResourceRegistered' }>).data.mode;
  const powered = new Map<string, number>(); // GPU → workload or model that keeps it powered
  for (const e of events.slice(1)) {
    switch (e.type) {
      case 'ModeSwitchRequested':
        expect(inFlight, 'a second switch started while one was in flight').toBeUndefined();
        expect(powered.size, `switch to ${e.data.to} with ${powered.size} GPUs powered`).toBeLessThanOrEqual(envelope(e.data.to));
        inFlight = { switchId: e.data.switchId, phases: e.data.phases, done: 0, to: e.data.to };
        break;
      case 'SwitchPhaseCompleted':
        expect(inFlight?.switchId).toBe(e.data.switchId);
        expect(e.data.phase).toBe(inFlight!.phases[inFlight!.done]);
        expect(e.data.index).toBe(inFlight!.done);
        inFlight!.done++;
        break;
      case 'ModeSwitched':
        expect(inFlight?.done).toBe(inFlight?.phases.length);
        mode = e.data.to;
        inFlight = undefined;
        break;
      case 'SwitchFailed':
        expect(inFlight?.switchId).toBe(e.data.switchId);
        mode = e.data.rolledBackTo;
        inFlight = undefined;
        break;
      case 'ResourceAllocated':
        for (const id of e.data.gpuIds ?? []) {
          expect(powered.has(id) && powered.get(id) !== 0, `GPU ${id} given to a second workload`).toBe(false);
          powered.set(id, 1);
        }
        expect(powered.size, 'more GPUs powered than the envelope holds').toBeLessThanOrEqual(Math.min(envelope(mode), inFlight ? envelope(inFlight.to) : 8));
        break;
      case 'ResourceReleased':
        // a kept model keeps the GPU powered (warm standby), idle
        for (const id of e.data.gpuIds ?? []) if (e.data.keptModel) powered.set(id, 0);
        else powered.delete(id);
        break;
    }
  }
};

describe('resource switching (invariant 4)', () => {
  for (const spec of [gpuPool, asicGroup])
    it(`keeps phase order, one switch in flight, and no switch away from serving (${spec.kind})`, () => {
      fc.assert(fc.property(fc.array(commandArb, { minLength: 10, maxLength: 80, size: 'max' }), (commands) => checkInvariant4(run(spec, commands))));
    });

  it('reports control path and physical ramp separately', () => {
    const events = run(asicGroup, []);
    const steps: ResourceCommand[] = [
      { type: 'RequestSwitch', switchId: 's', to: 'sleeping', reason: 'price spike' },
      { type: 'CompletePhase', switchId: 's', phase: 'signal_validated', durationMs: 3 },
      { type: 'CompletePhase', switchId: 's', phase: 'capacity_checked', durationMs: 4 },
      { type: 'CompletePhase', switchId: 's', phase: 'asic_ramped_down', durationMs: 4200 },
      { type: 'CompletePhase', switchId: 's', phase: 'power_reassigned', durationMs: 5 },
    ];
    for (const c of steps) {
      const d = resourceDecider.decide(c, fold(resourceDecider, events));
      expect(d.type).toBe('accepted');
      if (d.type === 'accepted') events.push(...d.events);
    }
    expect(events.at(-1)).toEqual({
      type: 'ModeSwitched',
      data: { resourceId: 'r2', switchId: 's', from: 'mining', to: 'sleeping', controlPathMs: 12, physicalMs: 4200 },
    });
  });

  it('refuses to switch a serving pool away while it serves', () => {
    const events = run({ ...gpuPool, mode: 'serving' }, [{ type: 'AllocateGpus', workloadId: 'w1', run: 1, gpuIds: [gpu(0), gpu(1), gpu(2), gpu(3)], mode: 'serving', model: 'm' }]);
    expect(events.at(-1)?.type).toBe('ResourceAllocated');
    // four GPUs powered: warm standby powers three
    for (const to of ['off', 'warm_standby'] as const) {
      const d = resourceDecider.decide({ type: 'RequestSwitch', switchId: 's', to, reason: 'x' }, fold(resourceDecider, events));
      expect(d).toMatchObject({ type: 'rejected', rejection: { code: 'invalid_state', field: 'resourceId' } });
    }
  });
});

describe('power budget on a switch', () => {
  const registered: ResourceEvent[] = [{ type: 'ResourceRegistered', data: { ...asicGroup, mode: 'sleeping' } }];
  const wake = (committedDrawKw: number, powerBudgetKw: number): ResourceCommand => ({
    type: 'RequestSwitch',
    switchId: 's1',
    to: 'mining',
    reason: 'price fell',
    power: { committedDrawKw, powerBudgetKw },
  });

  it('refuses, naming the field, a switch that would take the facility over its budget', () => {
    // asleep it draws 25 kW; mining 3,500 kW: 1,000 + 3,475 > 4,000
    const d = resourceDecider.decide(wake(1_000, 4_000), fold(resourceDecider, registered));
    expect(d).toEqual({ type: 'rejected', rejection: { code: 'invalid_state', message: 'the facility would draw 4475 kW, above its 4000 kW budget', field: 'to' } });
    expect(resourceDecider.decide(wake(500, 4_000), fold(resourceDecider, registered)).type).toBe('accepted');
  });

  it('never refuses a switch that draws less, whatever the ledger says', () => {
    const mining: ResourceEvent[] = [{ type: 'ResourceRegistered', data: asicGroup }];
    const sleep: ResourceCommand = { type: 'RequestSwitch', switchId: 's1', to: 'sleeping', reason: 'spike', power: { committedDrawKw: 99_999, powerBudgetKw: 1 } };
    expect(resourceDecider.decide(sleep, fold(resourceDecider, mining)).type).toBe('accepted');
  });
});
