/** The switch executor drives phases in order on simulated devices, records durations, and rolls back failures. */
import { describe, expect, it } from 'vitest';
import type { FacilitySpec } from '../../domain/fleet/inventory.ts';
import { systemClock } from '../../infra/clock.ts';
import { createMemoryEventStore } from '../../infra/event-store/memory.ts';
import { sequentialIds } from '../../infra/ids.ts';
import { createLogger } from '../../infra/logger.ts';
import { catchUp, migrateProjections } from '../../projections/runner.ts';
import { fleetProjection } from '../../projections/fleet.ts';
import { pgliteDatabase } from '../../tests/support/databases.ts';
import type { CommandDeps } from '../context.ts';
import { registerScenario, requestSwitch, resourcesOf } from '../fleet.ts';
import { createSimulatedDevices } from './simulated-devices.ts';
import { createRng } from '../../simulators/random.ts';
import { switchExecutor } from './switch-executor.ts';
import { handleCommand } from '../handle.ts';
import { contextFor } from '../context.ts';
import { loadResource, powerLedger } from '../power-ledger.ts';
import { resourceDecider, resourceStream } from '../../domain/resource/resource.ts';

const SITE: FacilitySpec = {
  facilityId: 'lab',
  name: 'Lab',
  marketNode: 'HB_WEST',
  powerBudgetKw: 10_000,
  asicGroups: [{ model: 'S19XP', count: 1500 }],
  gpuPools: [{ gpuType: 'H100', count: 16, warmStandby: 4 }],
};


const setup = async (failures = {}, site = SITE) => {
  const store = createMemoryEventStore();
  // the fleet read model, as far as the power ledger asks it: the facility's resources
  const listed = resourcesOf(site).map((r) => ({ resource_id: r.resourceId }));
  const deps: CommandDeps = { store, readModels: { query: async () => listed as never[] }, clock: systemClock, ids: sequentialIds('sw') };
  const devices = createSimulatedDevices({ random: createRng(7).next, speed: 1e6, failures });
  const executor = switchExecutor(deps, devices, createLogger('silent'));
  await registerScenario(deps, { commandId: 'scenario', correlationId: 'test', actor: 'test' }, [site]);
  const caller = { commandId: 'req-1', correlationId: 'test', actor: 'test' };
  return { store, deps, executor, caller };
};

const run = async (s: Awaited<ReturnType<typeof setup>>) => {
  for (const e of await s.store.readAll()) await s.executor.react(e);
  await s.executor.idle();
  const db = await pgliteDatabase();
  await migrateProjections(db, [fleetProjection]);
  await catchUp(db, s.store, fleetProjection);
  return db;
};

describe('switch executor', () => {
  it('registers ASIC blocks of 1000 units and GPU pools', () => {
    expect(resourcesOf(SITE).map((r) => [r.resourceId, r.units, r.mode])).toEqual([
      ['lab-s19xp-01', 1000, 'mining'],
      ['lab-s19xp-02', 500, 'mining'],
      ['lab-h100', 16, 'warm_standby'],
    ]);
  });

  it('drives both directions through their phases, control path apart from the physical ramp', async () => {
    const s = await setup();
    await requestSwitch(s.deps, s.caller, { resourceId: 'lab-s19xp-01', to: 'sleeping', reason: 'price spike' });
    await requestSwitch(s.deps, { ...s.caller, commandId: 'req-2' }, { resourceId: 'lab-h100', to: 'serving', reason: 'demand' });
    const db = await run(s);
    try {
      const switches = await db.query<{ resource_id: string; status: string; control_path_ms: number; physical_ms: number }>(
        `SELECT resource_id, status, control_path_ms, physical_ms FROM rm_switches ORDER BY resource_id`,
      );
      expect(switches.map((x) => [x.resource_id, x.status])).toEqual([
        ['lab-h100', 'completed'],
        ['lab-s19xp-01', 'completed'],
      ]);
      const [gpu, asic] = switches;
      expect(gpu!.physical_ms).toBe(0);
      expect(gpu!.control_path_ms).toBeLessThan(500); // the seed's goal, from warm standby
      expect(asic!.physical_ms).toBeGreaterThanOrEqual(2000);
      const phases = await db.query<{ phase: string }>(`SELECT phase FROM rm_switch_phases WHERE switch_id = (SELECT switch_id FROM rm_switches WHERE resource_id = 'lab-s19xp-01') ORDER BY idx`);
      expect(phases.map((p) => p.phase)).toEqual(['signal_validated', 'capacity_checked', 'asic_ramped_down', 'power_reassigned']);
      const modes = await db.query<{ resource_id: string; mode: string; switch_in_flight: string | null }>(`SELECT resource_id, mode, switch_in_flight FROM rm_resources ORDER BY resource_id`);
      expect(modes).toEqual([
        { resource_id: 'lab-h100', mode: 'serving', switch_in_flight: null },
        { resource_id: 'lab-s19xp-01', mode: 'sleeping', switch_in_flight: null },
        { resource_id: 'lab-s19xp-02', mode: 'mining', switch_in_flight: null },
      ]);
    } finally {
      await db.drop();
    }
  });

  it('records a failed phase and rolls the resource back to its mode', async () => {
    const s = await setup({ asic_ramped_down: 1 });
    await requestSwitch(s.deps, s.caller, { resourceId: 'lab-s19xp-02', to: 'sleeping', reason: 'drill' });
    const db = await run(s);
    try {
      const [sw] = await db.query<{ status: string; failed_phase: string; phases_done: number }>(`SELECT status, failed_phase, phases_done FROM rm_switches`);
      expect(sw).toEqual({ status: 'failed', failed_phase: 'asic_ramped_down', phases_done: 2 });
      const [r] = await db.query<{ mode: string }>(`SELECT mode FROM rm_resources WHERE resource_id = 'lab-s19xp-02'`);
      expect(r!.mode).toBe('mining');
    } finally {
      await db.drop();
    }
  });

  it('refuses a second switch while one is in flight', async () => {
    const s = await setup();
    await requestSwitch(s.deps, s.caller, { resourceId: 'lab-h100', to: 'serving', reason: 'a' });
    await expect(requestSwitch(s.deps, { ...s.caller, commandId: 'req-2' }, { resourceId: 'lab-h100', to: 'off', reason: 'b' })).rejects.toThrow(/in flight/);
  });

  it('checks the power budget again with the switch in flight: of two switches that each fit alone, both never run', async () => {
    // 1,500 S19 XP draw 4,515 kW mining; the budget fits one block awake, not both
    const s = await setup({}, { ...SITE, powerBudgetKw: 4_000 });
    const blocks = ['lab-s19xp-01', 'lab-s19xp-02'];
    for (const [i, id] of blocks.entries()) await requestSwitch(s.deps, { ...s.caller, commandId: `sleep-${i}` }, { resourceId: id, to: 'sleeping', reason: 'setup' });
    const reactToNew = async (after: number) => {
      for (const e of (await s.store.readAll()).slice(after)) await s.executor.react(e);
      await s.executor.idle();
    };
    await reactToNew(0);
    const stale = (await powerLedger(s.deps, 'lab')).facility!; // what each request saw before the other's append
    const wake = (id: string, commandId: string) =>
      handleCommand(
        s.deps.store,
        resourceDecider,
        resourceStream(id),
        { type: 'RequestSwitch', switchId: `wake-${commandId}`, to: 'mining', reason: 'price fell', power: { committedDrawKw: stale.committedDrawKw, powerBudgetKw: stale.powerBudgetKw } },
        contextFor(s.deps, { ...s.caller, commandId }),
      );
    const modes = async () => Promise.all(blocks.map(async (id) => (await loadResource(s.deps, id))!.mode));
    const failed = async () => (await s.store.readAll()).filter((e) => e.type === 'SwitchFailed').map((e) => e.data as { switchId: string; phase: string; reason: string });

    // one after the other: the first wakes, the second is stopped at capacity_checked
    let seen = (await s.store.readAll()).length;
    expect((await wake(blocks[0]!, 'a')).type).toBe('accepted');
    await reactToNew(seen);
    seen = (await s.store.readAll()).length;
    expect((await wake(blocks[1]!, 'b')).type).toBe('accepted'); // its request fit the ledger it read
    await reactToNew(seen);
    expect(await modes()).toEqual(['mining', 'sleeping']);
    expect(await failed()).toEqual([{ resourceId: blocks[1], switchId: 'wake-b', phase: 'capacity_checked', reason: expect.stringMatching(/above its 4000 kW budget/), rolledBackTo: 'sleeping' }]);

    // at the same moment: the first to check sees both in flight and stops; the other goes on only if it checks after that
    const t = await setup({}, { ...SITE, powerBudgetKw: 4_000 });
    Object.assign(s, t);
    for (const [i, id] of blocks.entries()) await requestSwitch(s.deps, { ...s.caller, commandId: `sleep-${i}` }, { resourceId: id, to: 'sleeping', reason: 'setup' });
    await reactToNew(0);
    seen = (await s.store.readAll()).length;
    await wake(blocks[0]!, 'c');
    await wake(blocks[1]!, 'd');
    await reactToNew(seen);
    const [first, second] = await modes();
    const stopped = (await failed()).map((f) => f.switchId);
    expect([first, second]).not.toEqual(['mining', 'mining']);
    expect(stopped.length).toBeGreaterThanOrEqual(1);
    expect(first === 'mining').toBe(!stopped.includes('wake-c'));
    expect(second === 'mining').toBe(!stopped.includes('wake-d'));
  });
});
