/**
 * The handover executor takes a facility's power from ASICs to GPUs and back as one switch,
 * holds both resources while it runs, and on a failure puts the facility back where it was.
 */
import { describe, expect, it } from 'vitest';
import type { FacilitySpec } from '../../domain/fleet/inventory.ts';
import { handoverStream, HANDOVER_PHASES } from '../../domain/resource/handover.ts';
import { drawKw } from '../../domain/resource/power.ts';
import type { ResourceMode } from '../../domain/resource/switching.ts';
import { resourceStream } from '../../domain/resource/resource.ts';
import type { SwitchPhase } from '../../domain/resource/switching.ts';
import type { EventStore, EventToAppend } from '../../infra/event-store/types.ts';
import type { DeviceController } from './device-controller.ts';
import { systemClock } from '../../infra/clock.ts';
import { createMemoryEventStore } from '../../infra/event-store/memory.ts';
import { RETRIES } from './drivers.ts';
import type { GlobalPosition } from '../../infra/event-store/position.ts';
import { sequentialIds } from '../../infra/ids.ts';
import { createLogger } from '../../infra/logger.ts';
import { fleetProjection } from '../../projections/fleet.ts';
import { handoversProjection } from '../../projections/handovers.ts';
import { catchUp, migrateProjections } from '../../projections/runner.ts';
import { createRng } from '../../simulators/random.ts';
import { pgliteDatabase } from '../../tests/support/databases.ts';
import type { CommandDeps } from '../context.ts';
import { CommandRejectedError } from '../errors.ts';
import { registerScenario, requestSwitch } from '../fleet.ts';
import { requestHandover } from '../handover.ts';
import { handoverExecutor } from './handover-executor.ts';
import { createSimulatedDevices } from './simulated-devices.ts';
import { switchExecutor } from './switch-executor.ts';

const SITE: FacilitySpec = {
  facilityId: 'lab',
  name: 'Lab',
  marketNode: 'HB_WEST',
  powerBudgetKw: 4_000,
  asicGroups: [{ model: 'S21', count: 1000 }],
  gpuPools: [{ gpuType: 'H100', count: 512, warmStandby: 512 }],
};
const PROJECTIONS = [fleetProjection, handoversProjection];

/** A store whose appends fail once where `failOnce` says (a crash or a database blip between two appends). */
const flakyStore = (failOnce?: (streamName: string, events: readonly EventToAppend[]) => boolean): EventStore => {
  const store = createMemoryEventStore();
  let armed = failOnce !== undefined;
  return {
    ...store,
    appendToStream: async (streamName, events, options) => {
      if (armed && failOnce!(streamName, events)) {
        armed = false;
        throw new Error('connection lost');
      }
      return store.appendToStream(streamName, events, options);
    },
  };
};

const setup = async (
  failures: Partial<Record<SwitchPhase, number>> = {},
  opts: { site?: FacilitySpec; failOnce?: Parameters<typeof flakyStore>[0]; rollbackFails?: string } = {},
) => {
  const store = flakyStore(opts.failOnce);
  const db = await pgliteDatabase();
  await migrateProjections(db, PROJECTIONS);
  const deps: CommandDeps = { store, readModels: db, clock: systemClock, ids: sequentialIds('t') };
  const simulated = createSimulatedDevices({ random: createRng(11).next, speed: 1e6, failures });
  const deviceLog: string[] = [];
  const devices: DeviceController = {
    runPhase: async (r) => {
      const out = await simulated.runPhase(r);
      deviceLog.push(`${r.resource.resourceId}:${r.phase}`);
      return out;
    },
    rollback: async (resource, mode) => {
      if (resource.resourceId === opts.rollbackFails) throw new Error('firmware does not answer');
      deviceLog.push(`${resource.resourceId}:rollback-to-${mode}`);
    },
  };
  const logger = createLogger('silent');
  const managers = [switchExecutor(deps, devices, logger), handoverExecutor(deps, devices, logger)];
  await registerScenario(deps, { commandId: 'scenario', correlationId: 'test', actor: 'test' }, [opts.site ?? SITE]);
  let after: GlobalPosition | 'start' = 'start';
  /** Feeds every new event to both executors until nothing more happens, then updates the read models. */
  const settle = async () => {
    for (;;) {
      const events = await store.readAll({ after });
      if (events.length === 0) break;
      after = events.at(-1)!.position;
      for (const e of events) for (const m of managers) await m.react(e);
      for (const m of managers) await m.idle();
    }
    for (const p of PROJECTIONS) await catchUp(db, store, p);
  };
  await settle();
  const caller = (commandId: string) => ({ commandId, correlationId: 'test', actor: 'test' });
  const modes = async () =>
    Object.fromEntries((await db.query<{ resource_id: string; mode: string }>(`SELECT resource_id, mode FROM rm_resources ORDER BY resource_id`)).map((r) => [r.resource_id, r.mode]));
  return { store, db, deps, settle, caller, modes, deviceLog };
};

const toAi = { facilityId: 'lab', direction: 'to_ai' as const, asicResourceId: 'lab-s21-01', gpuResourceId: 'lab-h100', reason: 'AI pays more' };

describe('handover executor', () => {
  it('moves power mining → AI and back, each as one switch with its phases in order', async () => {
    const s = await setup();
    const { handoverId } = await requestHandover(s.deps, s.caller('ho-1'), toAi);
    await s.settle();
    expect(await s.modes()).toEqual({ 'lab-h100': 'serving', 'lab-s21-01': 'sleeping' });
    const [h] = await s.db.query<{ status: string; control_path_ms: number; physical_ms: number; draw_before_kw: number; draw_after_kw: number }>(
      `SELECT status, control_path_ms, physical_ms, draw_before_kw, draw_after_kw FROM rm_handovers WHERE handover_id = $1`,
      [handoverId],
    );
    expect(h).toMatchObject({ status: 'completed', draw_before_kw: 3_536, draw_after_kw: 383 });
    expect(h!.physical_ms).toBeGreaterThanOrEqual(2_000); // the ASIC ramp, reported apart
    expect(h!.control_path_ms).toBeLessThan(500); // warm GPUs: the seed's sub-second goal
    const phases = await s.db.query<{ phase: string }>(`SELECT phase FROM rm_handover_phases WHERE handover_id = $1 ORDER BY idx`, [handoverId]);
    expect(phases.map((p) => p.phase)).toEqual(HANDOVER_PHASES.to_ai);
    // each resource carried its device phases as its own switch, marked with the handover
    const parts = await s.db.query<{ resource_id: string; phase: string }>(
      `SELECT s.resource_id, p.phase FROM rm_switches s JOIN rm_switch_phases p USING (switch_id) ORDER BY s.resource_id, p.idx`,
    );
    expect(parts.map((p) => `${p.resource_id}:${p.phase}`)).toEqual(['lab-h100:gpu_activated', 'lab-h100:endpoint_ready', 'lab-s21-01:asic_ramped_down']);

    // the ASIC block's power is with the GPUs now: only a handover gives it back
    await expect(requestSwitch(s.deps, s.caller('grab'), { resourceId: 'lab-s21-01', to: 'mining', reason: 'controller' })).rejects.toThrow(/power went to GPUs in handover/);
    const back = await requestHandover(s.deps, s.caller('ho-2'), { ...toAi, direction: 'to_mining', reason: 'hashprice up' });
    await s.settle();
    expect(await s.modes()).toEqual({ 'lab-h100': 'warm_standby', 'lab-s21-01': 'mining' });
    const phasesBack = await s.db.query<{ phase: string }>(`SELECT phase FROM rm_handover_phases WHERE handover_id = $1 ORDER BY idx`, [back.handoverId]);
    expect(phasesBack.map((p) => p.phase)).toEqual(HANDOVER_PHASES.to_mining);
    // given back: ordinary switches again
    await expect(requestSwitch(s.deps, s.caller('spike'), { resourceId: 'lab-s21-01', to: 'sleeping', reason: 'price spike' })).resolves.toMatchObject({ switchId: expect.any(String) });
  });

  it('the same request again is the same handover; a busy resource is refused at once', async () => {
    const s = await setup();
    const first = await requestHandover(s.deps, s.caller('ho-same'), toAi);
    const again = await requestHandover(s.deps, s.caller('ho-same'), toAi);
    expect(again.handoverId).toBe(first.handoverId);
    // the same command id for a different request is a mistake, said as one
    const reused = await requestHandover(s.deps, s.caller('ho-same'), { ...toAi, direction: 'to_mining' }).catch((e: unknown) => e);
    expect(reused).toBeInstanceOf(CommandRejectedError);
    expect((reused as CommandRejectedError).rejection).toMatchObject({ code: 'already_exists', field: 'commandId' });
    await s.settle();
    expect(await s.store.readStream(handoverStream(first.handoverId))).toHaveLength(1 + 6 + 1);
    await requestSwitch(s.deps, s.caller('manual'), { resourceId: 'lab-h100', to: 'warm_standby', reason: 'maintenance' });
    // lab-h100 now has a switch in flight (nothing drives it in this test until settle)
    await expect(requestHandover(s.deps, s.caller('ho-busy'), { ...toAi, direction: 'to_mining' })).rejects.toThrow(/lab-h100 has switch .* in flight/);
  });

  it('a GPU that fails to come up is rolled back, and the ASICs switch back to mining', async () => {
    const s = await setup({ gpu_activated: 1 });
    const { handoverId } = await requestHandover(s.deps, s.caller('ho-fail'), toAi);
    await s.settle();
    const [h] = await s.db.query<{ status: string; failed_phase: string; rollback: string }>(`SELECT status, failed_phase, rollback FROM rm_handovers WHERE handover_id = $1`, [handoverId]);
    expect(h).toMatchObject({ status: 'failed', failed_phase: 'gpu_activated' });
    expect(h!.rollback).toMatch(/lab-s21-01 switched back to mining/);
    expect(h!.rollback).toMatch(/lab-h100 back to warm_standby/);
    expect(await s.modes()).toEqual({ 'lab-h100': 'warm_standby', 'lab-s21-01': 'mining' });
    const gpuEvents = (await s.store.readStream(resourceStream('lab-h100'))).map((e) => e.type);
    expect(gpuEvents.slice(-2)).toEqual(['ModeSwitchRequested', 'SwitchFailed']);
    // nothing left held: the controller may switch the block again
    await expect(requestSwitch(s.deps, s.caller('spike'), { resourceId: 'lab-s21-01', to: 'sleeping', reason: 'price spike' })).resolves.toBeDefined();
  });

  it('a resource taken between the request and the capacity check fails the handover with nothing moved', async () => {
    const s = await setup();
    const { handoverId } = await requestHandover(s.deps, s.caller('ho-race'), toAi);
    // before the executor sees the request, an operator underclocks the ASIC block, to the end
    await requestSwitch(s.deps, s.caller('manual'), { resourceId: 'lab-s21-01', to: 'underclocked', reason: 'maintenance' });
    const operator = switchExecutor(s.deps, createSimulatedDevices({ random: createRng(1).next, speed: 1e6 }), createLogger('silent'));
    await operator.react((await s.store.readStream(resourceStream('lab-s21-01'))).at(-1)!);
    await operator.idle();
    await s.settle();
    const [h] = await s.db.query<{ status: string; failed_phase: string; failure_reason: string; rollback: string }>(
      `SELECT status, failed_phase, failure_reason, rollback FROM rm_handovers WHERE handover_id = $1`,
      [handoverId],
    );
    expect(h).toMatchObject({ status: 'failed', failed_phase: 'capacity_checked', rollback: 'nothing had moved' });
    expect(h!.failure_reason).toMatch(/lab-s21-01: is underclocked, no longer mining/);
    expect(await s.modes()).toEqual({ 'lab-h100': 'warm_standby', 'lab-s21-01': 'underclocked' });
  });

  it('a stop between the resource\'s append and the handover\'s does not fail a handover that worked', async () => {
    // the ASIC block has ramped down and recorded it; the handover's own record of the phase is lost once
    const s = await setup({}, { failOnce: (stream, events) => stream.startsWith('handover-') && events.some((e) => e.data.phase === 'asic_ramped_down') });
    const { handoverId } = await requestHandover(s.deps, s.caller('ho-crash'), toAi);
    await s.settle();
    const [h] = await s.db.query<{ status: string }>(`SELECT status FROM rm_handovers WHERE handover_id = $1`, [handoverId]);
    expect(h!.status).toBe('completed');
    expect(await s.modes()).toEqual({ 'lab-h100': 'serving', 'lab-s21-01': 'sleeping' });
    // the ramp ran once: the resumed driver took the phase from the resource
    expect(s.deviceLog.filter((x) => x === 'lab-s21-01:asic_ramped_down')).toHaveLength(1);
  });

  it('a rollback interrupted by a failure goes on where it stopped, and undoes in the reverse order', async () => {
    // endpoint_ready fails after the ASICs ramped down and the GPUs came up; the GPU's failure record is lost once
    const s = await setup({ endpoint_ready: 1 }, { failOnce: (stream, events) => stream === 'resource-lab-h100' && events.some((e) => e.type === 'SwitchFailed') });
    const { handoverId } = await requestHandover(s.deps, s.caller('ho-undo'), toAi);
    await s.settle();
    const [h] = await s.db.query<{ status: string; failed_phase: string; rollback: string }>(`SELECT status, failed_phase, rollback FROM rm_handovers WHERE handover_id = $1`, [handoverId]);
    expect(h).toMatchObject({ status: 'failed', failed_phase: 'endpoint_ready' });
    expect(h!.rollback).toBe('lab-h100 back to warm_standby; lab-s21-01 switched back to mining');
    expect(await s.modes()).toEqual({ 'lab-h100': 'warm_standby', 'lab-s21-01': 'mining' });
    const inFlight = await s.db.query(`SELECT resource_id FROM rm_resources WHERE switch_in_flight IS NOT NULL`);
    expect(inFlight).toEqual([]);
    // GPUs off before the ASICs ramp up: the facility never draws both
    const gpuBack = s.deviceLog.lastIndexOf('lab-h100:rollback-to-warm_standby');
    const asicUp = s.deviceLog.indexOf('lab-s21-01:asic_ramped_up');
    expect(gpuBack).toBeGreaterThanOrEqual(0);
    expect(asicUp).toBeGreaterThan(gpuBack);
  });

  it('a device that cannot be rolled back ends the handover as failed, out of service, and nothing after it is undone', async () => {
    const s = await setup({ endpoint_ready: 1 }, { rollbackFails: 'lab-h100' });
    const { handoverId } = await requestHandover(s.deps, s.caller('ho-stuck'), toAi);
    await s.settle();
    const [h] = await s.db.query<{ status: string; rollback: string }>(`SELECT status, rollback FROM rm_handovers WHERE handover_id = $1`, [handoverId]);
    expect(h!.status).toBe('failed');
    expect(h!.rollback).toMatch(/^rollback incomplete: lab-h100 firmware does not answer/);
    const rows = await s.db.query<{ resource_id: string; mode: string; healthy: boolean; switch_in_flight: string | null }>(
      `SELECT resource_id, mode, healthy, switch_in_flight FROM rm_resources ORDER BY resource_id`,
    );
    // the GPUs may still draw: the ASICs are not ramped back up over them
    expect(rows).toEqual([
      { resource_id: 'lab-h100', mode: 'warm_standby', healthy: false, switch_in_flight: null },
      { resource_id: 'lab-s21-01', mode: 'sleeping', healthy: true, switch_in_flight: null },
    ]);
  });

  it('two handovers racing for the same headroom do not both pass the budget', async () => {
    // 2 ASIC blocks asleep with their power in two GPU pools; a budget that takes one block back, not two
    const site: FacilitySpec = { ...SITE, powerBudgetKw: 5_000, asicGroups: [{ model: 'S21', count: 2000 }], gpuPools: [{ gpuType: 'H100', count: 512, warmStandby: 512 }, { gpuType: 'A100', count: 512, warmStandby: 512 }] };
    const s = await setup({}, { site });
    await requestHandover(s.deps, s.caller('ho-a'), { ...toAi, asicResourceId: 'lab-s21-01', gpuResourceId: 'lab-h100' });
    await requestHandover(s.deps, s.caller('ho-b'), { ...toAi, asicResourceId: 'lab-s21-02', gpuResourceId: 'lab-a100' });
    await s.settle();
    expect(await s.modes()).toEqual({ 'lab-a100': 'serving', 'lab-h100': 'serving', 'lab-s21-01': 'sleeping', 'lab-s21-02': 'sleeping' });
    // both requests see the same ledger; only the capacity check with both held can tell
    const back = [
      await requestHandover(s.deps, s.caller('ho-c'), { ...toAi, direction: 'to_mining', asicResourceId: 'lab-s21-01', gpuResourceId: 'lab-h100' }),
      await requestHandover(s.deps, s.caller('ho-d'), { ...toAi, direction: 'to_mining', asicResourceId: 'lab-s21-02', gpuResourceId: 'lab-a100' }),
    ];
    await s.settle();
    const outcomes = await s.db.query<{ status: string; failure_reason: string | null }>(`SELECT status, failure_reason FROM rm_handovers WHERE handover_id = ANY($1) ORDER BY handover_id`, [back.map((b) => b.handoverId)]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['completed', 'failed']);
    expect(outcomes.find((o) => o.status === 'failed')!.failure_reason).toMatch(/above its 5000 kW budget/);
    const resources = await s.db.query<{ units: number; power_w_per_unit: number; mode: string }>(`SELECT units, power_w_per_unit, mode FROM rm_resources`);
    const draw = resources.reduce((kw, r) => kw + drawKw({ units: r.units, powerWPerUnit: r.power_w_per_unit }, r.mode as ResourceMode), 0);
    expect(draw).toBeLessThanOrEqual(5_000);
  });

  it('an ordinary switch that would take the facility over its budget is refused, naming the field', async () => {
    const s = await setup({}, { site: { ...SITE, powerBudgetKw: 3_700 } });
    await requestSwitch(s.deps, s.caller('sleep'), { resourceId: 'lab-s21-01', to: 'sleeping', reason: 'spike' });
    await s.settle();
    await requestSwitch(s.deps, s.caller('serve'), { resourceId: 'lab-h100', to: 'serving', reason: 'demand' });
    await s.settle();
    // 25 kW asleep + 358 kW of GPUs serving; mining again would make 3,858 kW
    const refused = await requestSwitch(s.deps, s.caller('wake'), { resourceId: 'lab-s21-01', to: 'mining', reason: 'price fell' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CommandRejectedError);
    expect((refused as CommandRejectedError).rejection).toMatchObject({ field: 'to', message: 'the facility would draw 3858 kW, above its 3700 kW budget' });
  });

  it('a driver that stops on an unexpected error is started again', async () => {
    expect(RETRIES.firstPauseMs).toBeLessThan(1000);
    const s = await setup({}, { failOnce: (stream, events) => stream.startsWith('handover-') && events.some((e) => e.data.phase === 'power_reassigned') });
    const { handoverId } = await requestHandover(s.deps, s.caller('ho-blip'), toAi);
    await s.settle();
    const [h] = await s.db.query<{ status: string }>(`SELECT status FROM rm_handovers WHERE handover_id = $1`, [handoverId]);
    expect(h!.status).toBe('completed');
  });

  it('a rejection is a CommandRejectedError naming the field', async () => {
    const s = await setup();
    const error = await requestHandover(s.deps, s.caller('ho-bad'), { ...toAi, gpuResourceId: 'lab-s21-01' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandRejectedError);
    expect((error as CommandRejectedError).rejection.field).toBe('gpuResourceId');
  });
});
