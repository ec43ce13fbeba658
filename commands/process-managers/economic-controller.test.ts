/**
 * The live controller on replayed real prices: through the 2023-08 West Texas
 * scarcity it records auditable recommendations, puts ASIC blocks to sleep through
 * the spikes and back to mining after, and a redelivery records nothing twice.
 */
import { describe, expect, it } from 'vitest';
import { recompute } from '../../domain/economics/controller.ts';
import { SEED_SCENARIO } from '../../domain/fleet/inventory.ts';
import { systemClock } from '../../infra/clock.ts';
import { createMemoryEventStore } from '../../infra/event-store/memory.ts';
import { sequentialIds } from '../../infra/ids.ts';
import { createLogger } from '../../infra/logger.ts';
import { createReplaySource } from '../../simulators/market/replay.ts';
import { controllerDecisions } from '../../simulators/backtest/backtest.ts';
import { feedRank } from '../../simulators/market/source.ts';
import { tickEvent } from '../ingestion/market-ingestion.ts';
import type { CommandDeps } from '../context.ts';
import { registerScenario } from '../fleet.ts';
import { resourceStream } from '../../domain/resource/resource.ts';
import { createRng } from '../../simulators/random.ts';
import { requestHandover } from '../handover.ts';
import { handoverExecutor } from '../switching/handover-executor.ts';
import { createSimulatedDevices } from '../switching/simulated-devices.ts';
import { economicController, economicsStream, recommendationOf, WARM_UP_MS, type RecommendationIssued } from './economic-controller.ts';
import type { EventStore } from '../../infra/event-store/types.ts';

const NORTH_DAKOTA = SEED_SCENARIO.filter((f) => f.facilityId === 'north-dakota');
const TEXAS_NORTH = SEED_SCENARIO.filter((f) => f.facilityId === 'texas-north');

describe('economic controller (live)', () => {
  it('records auditable decisions and switches ASIC blocks through real price spikes, once', async () => {
    const store = createMemoryEventStore();
    const deps: CommandDeps = { store, readModels: { query: async () => [] }, clock: systemClock, ids: sequentialIds('ec') };
    await registerScenario(deps, { commandId: 'scenario', correlationId: 't', actor: 'test' }, NORTH_DAKOTA);
    // two days around the 2023-08-24 evening peaks at HB_WEST, with the prices in force at the start
    const source = createReplaySource({ nodes: ['HB_WEST'] });
    const from = Date.parse('2023-08-23T12:00:00Z');
    const to = Date.parse('2023-08-25T12:00:00Z');
    for (const tick of [...source.inForceAt(from - 1), ...source.ticksBetween(from, to)]) {
      const { streamName, event } = tickEvent(tick);
      await store.appendToStream(streamName, [event], { expectedRevision: 'any' });
    }
    const controller = economicController(deps, NORTH_DAKOTA, createLogger('silent'));
    const marketEvents = (await store.readAll()).filter((e) => e.streamName.startsWith('market-'));
    for (const e of marketEvents) await controller.react(e);

    const recorded = await store.readStream(economicsStream('north-dakota'));
    expect(recorded.length).toBeGreaterThan(0);
    // not one per tick: changes, plus an hourly steady record at most
    expect(recorded.length).toBeLessThanOrEqual(4 * 48 + 1);
    const recs = recorded.map((e) => e.data as RecommendationIssued['data']);
    const slept = recs.filter((r) => r.allocation.groups.some((g) => g.kind === 'asic' && g.sleeping > 0));
    const mined = recs.filter((r) => r.allocation.groups.some((g) => g.kind === 'asic' && g.sleeping === 0));
    expect(slept.length).toBeGreaterThan(0);
    expect(mined.length).toBeGreaterThan(0);
    for (const r of [...recs.slice(0, 5), recs.at(-1)!]) expect(recompute(recommendationOf(r))).toEqual({ ok: true, differences: [] });
    // the look-ahead: the price in force, then what the learned forecaster made of the prices so far
    const seen = Number(/learned conditional mean \((\d+) intervals seen\)/.exec(recs.at(-1)!.inputs.forecast.method)?.[1]);
    expect(seen).toBeGreaterThan(150); // two days of 15-minute prices, minus the last few hours

    const switchRequests = (await store.readAll()).filter((e) => e.type === 'ModeSwitchRequested');
    expect(switchRequests.length).toBeGreaterThan(0);
    expect(new Set(switchRequests.map((e) => (e.data as { to: string }).to))).toContain('sleeping');

    // a redelivery of every market event (a restarted process manager) adds nothing
    const before = (await store.readAll()).length;
    const restarted = economicController(deps, NORTH_DAKOTA, createLogger('silent'));
    for (const e of marketEvents) await restarted.react(e);
    expect((await store.readAll()).length).toBe(before);

    // a controller started later reads the node's earlier prices back before it decides
    const late = economicController(deps, NORTH_DAKOTA, createLogger('silent'));
    const next = Date.parse('2023-08-25T12:00:00Z');
    for (const tick of createReplaySource({ nodes: ['HB_WEST'] }).ticksBetween(next, next + 3 * 3_600_000)) {
      const { streamName, event } = tickEvent(tick);
      const r = await store.appendToStream(streamName, [event], { expectedRevision: 'any' });
      const [stored] = await store.readStream(streamName, { fromRevision: r.nextExpectedRevision, maxCount: 1 });
      await late.react(stored!);
    }
    const after = (await store.readStream(economicsStream('north-dakota'))).map((e) => e.data as RecommendationIssued['data']).slice(recs.length);
    expect(after.length).toBeGreaterThan(0);
    expect(Number(/\((\d+) intervals seen\)/.exec(after[0]!.inputs.forecast.method)?.[1])).toBeGreaterThan(150);
  });

  it('makes the decisions of hcp backtest when the same real week is replayed through it (ticks → events → controller)', async () => {
    const store = createMemoryEventStore();
    const deps: CommandDeps = { store, readModels: { query: async () => [] }, clock: systemClock, ids: sequentialIds('ec') };
    await registerScenario(deps, { commandId: 'scenario', correlationId: 't', actor: 'test' }, NORTH_DAKOTA);
    // a week of early-summer evening peaks at HB_WEST, with day-ahead prices and daily fee data
    const from = Date.parse('2023-06-19T00:00:00Z');
    const to = from + 7 * 86_400_000;
    const source = createReplaySource({ nodes: ['HB_WEST'] });
    // what the platform recorded before the week: the year's prices and day-ahead schedules (the backtest's warm-up)
    const earlier = source.ticksBetween(Date.parse('2023-01-01T00:00:00Z'), from).filter((t) => t.kind !== 'price' || t.feed === 'power-hb_west');
    for (const tick of earlier) {
      const { streamName, event } = tickEvent(tick);
      await store.appendToStream(streamName, [event], { expectedRevision: 'any' });
    }
    const controller = economicController(deps, NORTH_DAKOTA, createLogger('silent'));
    for (const tick of source.ticksBetween(from, to)) {
      const { streamName, event } = tickEvent(tick);
      const r = await store.appendToStream(streamName, [event], { expectedRevision: 'any' });
      const [stored] = await store.readStream(streamName, { fromRevision: r.nextExpectedRevision, maxCount: 1 });
      await controller.react(stored!);
    }
    const recorded = (await store.readStream(economicsStream('north-dakota'))).map((e) => e.data as RecommendationIssued['data']);
    // every change is recorded: the allocation in force at an interval is the last one recorded at or before it
    const live = (atMs: number) => recorded.filter((r) => Date.parse(r.intervalStart) <= atMs).at(-1)?.allocation.blocks;

    const backtest = controllerDecisions({ facility: 'north-dakota', node: 'HB_WEST', fromMs: from, toMs: to });
    expect(backtest).toHaveLength(7 * 96);
    const changes = backtest.slice(1).filter((d, i) => Object.entries(d.blocks).some(([id, m]) => backtest[i]!.blocks[id] !== m)).length;
    expect(changes).toBeGreaterThanOrEqual(8); // a week with decisions to get right (10 intervals switch blocks)
    const differing = backtest.filter((d) => Object.entries(d.blocks).some(([id, m]) => live(d.startMs)?.[id] !== m)).map((d) => new Date(d.startMs).toISOString());
    expect(differing).toEqual([]);
    // and the live decisions used the day-ahead prices the replay published
    expect(recorded.some((r) => (r.inputs.observation.dayAhead?.hourlyUsdPerMwh ?? []).some((v) => v !== null))).toBe(true);
  });

  describe('never skips a decision', () => {
    /** North Dakota through the 2023-08-24 peaks: a store holding the ticks, and the controller's switch requests on a clean run. */
    const setUp = async () => {
      const inner = createMemoryEventStore();
      let failResourceAppends = false;
      // a store whose appends to resource streams can be made to fail (a switch request that throws)
      const store: EventStore = {
        ...inner,
        appendToStream: (name, events, options) => (failResourceAppends && name.startsWith('resource-') ? Promise.reject(new Error('connection lost')) : inner.appendToStream(name, events, options)),
      };
      const deps: CommandDeps = { store, readModels: { query: async () => [] }, clock: systemClock, ids: sequentialIds('ec') };
      await registerScenario(deps, { commandId: 'scenario', correlationId: 't', actor: 'test' }, NORTH_DAKOTA);
      const source = createReplaySource({ nodes: ['HB_WEST'] });
      const from = Date.parse('2023-08-24T12:00:00Z');
      for (const tick of [...source.inForceAt(from - 1), ...source.ticksBetween(from, from + 86_400_000)]) {
        const { streamName, event } = tickEvent(tick);
        await store.appendToStream(streamName, [event], { expectedRevision: 'any' });
      }
      const market = (await store.readAll()).filter((e) => e.streamName.startsWith('market-'));
      const switchIds = async () => new Set((await inner.readAll()).filter((e) => e.type === 'ModeSwitchRequested').map((e) => (e.data as { switchId: string }).switchId));
      return { deps, market, switchIds, failAppends: (fail: boolean) => void (failResourceAppends = fail) };
    };

    const cleanRun = async () => {
      const { deps, market, switchIds } = await setUp();
      const controller = economicController(deps, NORTH_DAKOTA, createLogger('silent'));
      for (const e of market) await controller.react(e);
      return switchIds();
    };

    it('decides an interval again when its switch request threw, and requests what it recorded', async () => {
      const expected = await cleanRun();
      expect(expected.size).toBeGreaterThan(0);
      const { deps, market, switchIds, failAppends } = await setUp();
      const controller = economicController(deps, NORTH_DAKOTA, createLogger('silent'));
      let failures = 0;
      failAppends(true);
      for (const e of market) {
        // the first switch request throws; the process manager's runner delivers the event again
        await controller.react(e).catch(async () => {
          failures++;
          failAppends(false);
          await controller.react(e);
        });
      }
      expect(failures).toBe(1);
      expect(await switchIds()).toEqual(expected);
    });

    it('requests the switches of the last recorded decision when a process starts after dying between the two', async () => {
      const expected = await cleanRun();
      const { deps, market, switchIds, failAppends } = await setUp();
      const dying = economicController(deps, NORTH_DAKOTA, createLogger('silent'));
      failAppends(true);
      let diedAt = -1;
      for (const [i, e] of market.entries()) {
        const died = await dying.react(e).then(() => false, () => true);
        if (died) {
          diedAt = i;
          break;
        }
      }
      expect(diedAt).toBeGreaterThan(0);
      // a new process resumes after the event it died on (the worst case: its checkpoint had moved past it)
      failAppends(false);
      const restarted = economicController(deps, NORTH_DAKOTA, createLogger('silent'));
      for (const e of market.slice(diedAt + 1)) await restarted.react(e);
      expect(await switchIds()).toEqual(expected);
    });
  });

  it('learns a bounded, stated window of prices when it starts: the year before, not the whole stream', async () => {
    const store = createMemoryEventStore();
    const deps: CommandDeps = { store, readModels: { query: async () => [] }, clock: systemClock, ids: sequentialIds('ec') };
    await registerScenario(deps, { commandId: 'scenario', correlationId: 't', actor: 'test' }, NORTH_DAKOTA);
    const source = createReplaySource({ nodes: ['HB_WEST'] });
    const decideAt = Date.parse('2024-06-01T00:00:00Z');
    // the stream holds 17 months of prices (15-minute in 2023, hourly in 2024); the other feeds, the last day
    const power = source.ticksBetween(Date.parse('2023-01-01T00:00:00Z'), decideAt + 3_600_000).filter((t) => t.kind === 'price' && t.feed === 'power-hb_west');
    const rest = source.ticksBetween(decideAt - 86_400_000, decideAt + 3_600_000).filter((t) => t.kind !== 'price' || t.feed !== 'power-hb_west');
    // recorded in the order a feed publishes them: by time, then feed order
    for (const tick of [...power, ...rest].sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || feedRank(a) - feedRank(b))) {
      const { streamName, event } = tickEvent(tick);
      await store.appendToStream(streamName, [event], { expectedRevision: 'any' });
    }
    const controller = economicController(deps, NORTH_DAKOTA, createLogger('silent'));
    // a controller that starts now: it hears only the last hour's events
    for (const e of (await store.readAll()).filter((x) => x.streamName.startsWith('market-') && Date.parse((x.data as { at: string }).at) >= decideAt)) await controller.react(e);
    const recs = (await store.readStream(economicsStream('north-dakota'))).map((e) => e.data as RecommendationIssued['data']);
    expect(recs.length).toBeGreaterThan(0);
    const seen = Number(/\((\d+) intervals seen\)/.exec(recs[0]!.inputs.forecast.method)?.[1]);
    const inWindow = power.filter((t) => Date.parse(t.at) >= decideAt - WARM_UP_MS && Date.parse(t.at) < decideAt).length;
    expect(WARM_UP_MS).toBe(365 * 86_400_000);
    expect(seen).toBe(inWindow);
    expect(seen).toBeLessThan(power.length - 10_000);
  });

  it('leaves an ASIC block whose power a handover gave to GPUs where the handover put it', async () => {
    const store = createMemoryEventStore();
    const deps: CommandDeps = { store, readModels: { query: async () => [] }, clock: systemClock, ids: sequentialIds('ec') };
    await registerScenario(deps, { commandId: 'scenario', correlationId: 't', actor: 'test' }, TEXAS_NORTH);
    const caller = { commandId: 'ho', correlationId: 't', actor: 'test' };
    await requestHandover(deps, caller, { facilityId: 'texas-north', direction: 'to_ai', asicResourceId: 'texas-north-s21-01', gpuResourceId: 'texas-north-h100', reason: 'test' });
    const handovers = handoverExecutor(deps, createSimulatedDevices({ random: createRng(3).next, speed: 1e6 }), createLogger('silent'));
    for (const e of await store.readAll()) await handovers.react(e);
    await handovers.idle();
    // a quiet, cheap day at HB_NORTH: every free block mines
    const source = createReplaySource({ nodes: ['HB_NORTH'] });
    const from = Date.parse('2023-03-01T12:00:00Z');
    for (const tick of [...source.inForceAt(from - 1), ...source.ticksBetween(from, from + 3_600_000)]) {
      const { streamName, event } = tickEvent(tick);
      await store.appendToStream(streamName, [event], { expectedRevision: 'any' });
    }
    const controller = economicController(deps, TEXAS_NORTH, createLogger('silent'));
    for (const e of (await store.readAll()).filter((x) => x.streamName.startsWith('market-'))) await controller.react(e);
    const recs = (await store.readStream(economicsStream('texas-north'))).map((e) => e.data as RecommendationIssued['data']);
    expect(recs.length).toBeGreaterThan(0);
    const last = recs.at(-1)!;
    expect(last.options.find((o) => o.blockId === 'asic:S21:0')).toMatchObject({ active: false, cause: 'handover' });
    expect(last.options.filter((o) => o.blockId.startsWith('asic:') && o.blockId !== 'asic:S21:0').every((o) => o.active)).toBe(true);
    expect(recs.flatMap((r) => r.switched)).not.toContain('asic:S21:0');
    expect(recompute(recommendationOf(last))).toEqual({ ok: true, differences: [] });
    const held = await store.readStream(resourceStream('texas-north-s21-01'));
    expect(held.at(-1)!.type).toBe('ModeSwitched'); // the handover's ramp-down, nothing after it
  });
});
