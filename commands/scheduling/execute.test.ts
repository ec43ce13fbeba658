/**
 * The executor after a crash: its commands are repeated under the same ids, and a repeat must not
 * leave GPUs with a run that ended. Found by the crash test (a run placed anew after a recovery
 * released it kept its GPUs when it completed: its release id had been used by the recovery).
 */
import { testCaller, texasNorthWithCustomer } from '../../tests/support/fleet.ts';
import { describe, expect, it } from 'vitest';
import { gpuIdOf } from '../../domain/fleet/gpus.ts';
import { entriesOf, getIn } from '../../domain/persistent-map.ts';
import { resourceDecider, resourceStream } from '../../domain/resource/resource.ts';
import { workloadDecider, workloadStream } from '../../domain/workload/workload.ts';
import { manualClock } from '../../infra/clock.ts';
import { createMemoryEventStore } from '../../infra/event-store/memory.ts';
import { sequentialIds } from '../../infra/ids.ts';
import { createLogger } from '../../infra/logger.ts';
import type { CommandDeps } from '../context.ts';
import { handleCommand, loadState } from '../handle.ts';
import { billingDecider, billingStream } from '../../domain/billing/billing.ts';
import { customerDecider, customerStream } from '../../domain/customer/customer.ts';
import { settleRunEnd } from '../billing/metering.ts';
import { submitWorkload } from '../workloads.ts';
import { createExecutor, type PoolRecord } from './execute.ts';

const T0 = Date.parse('2024-03-01T00:00:00Z');

/** A facility's fleet and prices, a customer with quota, and an executor over Texas North's A100 pool (its view refreshed by `refresh`). */
const setUp = async (idsSeed: string) => {
  const clock = manualClock(new Date(T0));
  const deps: CommandDeps = { store: createMemoryEventStore(), readModels: { query: async () => [] }, clock, ids: sequentialIds(idsSeed) };
  const caller = testCaller;
  const { facilities, customerId } = await texasNorthWithCustomer(deps, { gpuSeconds: 100 * 3600, budgetMicroUsd: 1_000_000_000 });
  const poolId = 'texas-north-a100';
  const pools = new Map<string, PoolRecord>();
  const refresh = async () => {
    const s = await loadState(deps.store, resourceDecider, resourceStream(poolId));
    if (s.status !== 'registered' || !s.pool) throw new Error(`${poolId} is not a GPU pool`);
    pools.set(poolId, { state: s.pool, healthy: true, switchInFlight: undefined, heldAsic: undefined });
    return s.pool;
  };
  await refresh();
  const executor = createExecutor({ deps, log: createLogger('silent'), facilities, pools: () => pools, markPoolDirty: () => {}, powerAsked: () => {}, powerRefused: () => {} });
  return { clock, deps, caller, customerId, poolId, refresh, executor };
};

describe('the scheduler executor, repeated after a crash', () => {
  it('gives back the GPUs of a run placed anew after a recovery released it, when the run ends', async () => {
    const { deps, caller, customerId, poolId, refresh, executor, clock } = await setUp('x');
    const request = { type: 'ai_inference_batch' as const, model: 'llama-3-8b', gpuType: 'A100' as const, gpuCount: 2, durationSeconds: 600 };
    const { workloadId } = await submitWorkload(deps, caller('submit'), { customerId, request });
    const gpuIds = [0, 1].map((i) => gpuIdOf(poolId, 'A100', i));
    const waiting = { workloadId, customerId, priority: 'P3' as const, request, firstQueuedAtMs: T0, queuedAtMs: T0, nextRun: 1, remainingSeconds: 600 };
    const placement = { type: 'place' as const, workloadId, run: 1, poolId, facilityId: 'texas-north', gpuIndexes: [0, 1], gpuIds, warm: false, startupMs: 60_000, mode: 'serving' as const, model: 'llama-3-8b', score: 1, reason: 'test' };

    // 1. a first process took the GPUs on the pool and died before the workload recorded them
    const taken = await handleCommand(deps.store, resourceDecider, resourceStream(poolId), { type: 'AllocateGpus', workloadId, run: 1, gpuIds, mode: 'serving', model: 'llama-3-8b' }, { ...caller(`place:${workloadId}:1`), now: clock.now });
    expect(taken.type).toBe('accepted');
    // 2. the next process's recovery found GPUs held for no recorded run, and released them
    await executor.releaseStale(poolId, workloadId, 1, T0);
    expect(getIn((await refresh()).holders, workloadId)).toBeUndefined();
    // 3. its scheduler placed run 1 again (the same place id: a repeat, so allocated under an id of its own)
    const placed = await executor.place(waiting, placement, T0);
    expect(placed.type).toBe('placed');
    expect(getIn((await refresh()).holders, workloadId)?.run).toBe(1);
    // 4. the run starts and completes: its GPUs go back (before the fix: "release" answered as a repeat and they stayed)
    const running = { workloadId, priority: 'P3' as const, request, run: 1, poolId, gpuIndexes: [0, 1], sinceMs: T0, endsAtMs: undefined };
    const endsAtMs = await executor.start(running, T0 + 60_000);
    expect(endsAtMs).toBe(T0 + 60_000 + 600_000);
    await executor.complete(running, endsAtMs!);
    expect((await loadState(deps.store, workloadDecider, workloadStream(workloadId))).status).toBe('completed');
    const pool = await refresh();
    expect(getIn(pool.holders, workloadId)).toBeUndefined();
    expect(pool.gpus.filter((g) => g.busy).map((g) => g.index)).toEqual([]);
  });

  it('places a round\'s placements together, all or none: one that the pool refuses leaves every one to be placed on its own', async () => {
    const { deps, caller, customerId, poolId, refresh, executor } = await setUp('y');
    const request = { type: 'ai_inference_batch' as const, model: 'llama-3-8b', gpuType: 'A100' as const, gpuCount: 1, durationSeconds: 600 };
    const item = async (n: number, gpuIndex: number) => {
      const submitted = await submitWorkload(deps, caller(`submit-${n}`), { customerId, request });
      // the rate it reserved at, as the scheduler hears it from the submission
      const [opened] = await deps.store.readStream(workloadStream(submitted.workloadId), { maxCount: 1 });
      const reservedRate = opened?.data.reservedRateMicroUsdPerGpuHour as number | undefined;
      expect(reservedRate).toBeGreaterThan(0);
      const state = await loadState(deps.store, workloadDecider, workloadStream(submitted.workloadId));
      expect(state.status !== 'none' && state.priority).toBe('P2'); // batch inference
      const w = { workloadId: submitted.workloadId, customerId, priority: 'P2' as const, request, firstQueuedAtMs: T0, queuedAtMs: T0, nextRun: 1, remainingSeconds: 600, reservedRate };
      const d = { type: 'place' as const, workloadId: submitted.workloadId, run: 1, poolId, facilityId: 'texas-north', gpuIndexes: [gpuIndex], gpuIds: [gpuIdOf(poolId, 'A100', gpuIndex)], warm: false, startupMs: 60_000, mode: 'serving' as const, model: 'llama-3-8b', score: 1, reason: 'test' };
      return { w, d };
    };
    const events = async () => (await deps.store.readAll()).length;

    // two placements on one GPU: the pool refuses the second, so neither is appended
    const [a, b, c] = [await item(1, 0), await item(2, 0), await item(3, 1)];
    const before = await events();
    expect(await executor.placeTogether([a, b], T0)).toBeUndefined();
    expect(await events()).toBe(before);
    expect((await refresh()).holders.size).toBe(0);

    // three on three GPUs of one pool: the pool's three allocations in one append, each workload's run recorded
    const d = await item(4, 2);
    const placed = await executor.placeTogether([a, c, d], T0);
    expect(placed?.map((p) => p.type)).toEqual(['placed', 'placed', 'placed']);
    expect(placed?.map((p) => (p.type === 'placed' ? p.gpuIndexes : []))).toEqual([[0], [1], [2]]);
    const pool = await refresh();
    expect(entriesOf(pool.holders).map(([id]) => id).sort()).toEqual([a.w.workloadId, c.w.workloadId, d.w.workloadId].sort());
    for (const x of [a, c, d]) expect((await loadState(deps.store, workloadDecider, workloadStream(x.w.workloadId))).status).toBe('allocated');
    // and a repeat of one of them is not done together (the pool knows its command): placed on its own, as the same placement
    expect(await executor.placeTogether([a, b], T0)).toBeUndefined();
    expect((await executor.place(a.w, a.d, T0)).type).toBe('placed');
    expect((await refresh()).holders.size).toBe(3);
  });

  describe('a completed run billed with its end', () => {
    /** A P3 run placed, started and at its end: what `complete` is given. */
    const runToItsEnd = async (idsSeed: string) => {
      const setup = await setUp(idsSeed);
      const { deps, caller, customerId, poolId, executor } = setup;
      const request = { type: 'ai_inference_batch' as const, model: 'llama-3-8b', gpuType: 'A100' as const, gpuCount: 2, durationSeconds: 600 };
      const { workloadId } = await submitWorkload(deps, caller('submit'), { customerId, request });
      const gpuIds = [0, 1].map((i) => gpuIdOf(poolId, 'A100', i));
      const waiting = { workloadId, customerId, priority: 'P3' as const, request, firstQueuedAtMs: T0, queuedAtMs: T0, nextRun: 1, remainingSeconds: 600 };
      const placement = { type: 'place' as const, workloadId, run: 1, poolId, facilityId: 'texas-north', gpuIndexes: [0, 1], gpuIds, warm: false, startupMs: 60_000, mode: 'serving' as const, model: 'llama-3-8b', score: 1, reason: 'test' };
      expect((await executor.place(waiting, placement, T0)).type).toBe('placed');
      const running = { workloadId, priority: 'P3' as const, request, run: 1, poolId, gpuIndexes: [0, 1], sinceMs: T0, endsAtMs: undefined };
      const endsAtMs = (await executor.start(running, T0 + 60_000))!;
      return { ...setup, workloadId, running, endsAtMs };
    };

    it('appends the end, the GPUs given back, the line, the use and the release in one append; metering, hearing the end, appends nothing', async () => {
      const { deps, customerId, workloadId, running, endsAtMs, executor } = await runToItsEnd('b');
      const before = (await deps.store.readAll()).length;
      // counted on the store itself: its cache of stream states is kept by the store
      const appendAll = deps.store.appendToStreams!;
      const appends: number[] = [];
      Object.assign(deps.store, { appendToStreams: (a: Parameters<typeof appendAll>[0]) => (appends.push(a.length), appendAll(a)) });
      await executor.complete(running, endsAtMs);
      const appended = (await deps.store.readAll()).slice(before);
      expect(appended.map((e) => e.type)).toEqual(['WorkloadCompleted', 'ResourceReleased', 'BillingLineRecorded', 'QuotaConsumed', 'QuotaReleased']);
      expect(appends).toEqual([4]); // one append, all or none: the workload's, the pool's, the period's and the account's streams
      const completed = appended[0]!;
      expect(completed.data.billed).toBe(true);
      const usage = completed.data.usage as { amountMicroUsd: number; gpuSeconds: number };
      expect(appended[2]!.data).toMatchObject({ workloadId, amountMicroUsd: usage.amountMicroUsd, gpuSeconds: usage.gpuSeconds });
      // invariant 1: what the use left of the reservation (its start-up time, held but not billed) is released with it
      const account = await loadState(deps.store, customerDecider, customerStream(customerId));
      expect(account.status === 'registered' && getIn(account.reservations, workloadId)).toBeUndefined();
      // metering hears the end (and again, redelivered): billed once
      for (let i = 0; i < 2; i++) await settleRunEnd(deps, completed, completed.metadata.correlationId);
      expect((await deps.store.readAll()).length).toBe(before + appended.length);
    });

    it('leaves a run whose month is invoiced to metering, which bills it in the next month', async () => {
      const { deps, customerId, running, endsAtMs, executor } = await runToItsEnd('c');
      const month = '202403';
      const closed = await handleCommand(deps.store, billingDecider, billingStream(customerId, month), { type: 'CloseMonth', customerId, month, at: '2024-04-01T01:00:00.000Z' }, { commandId: 'close', correlationId: 'close', actor: 'test', now: () => new Date(T0) });
      expect(closed.type).toBe('accepted');
      const before = (await deps.store.readAll()).length;
      await executor.complete(running, endsAtMs);
      const appended = (await deps.store.readAll()).slice(before);
      expect(appended.map((e) => e.type)).toEqual(['WorkloadCompleted', 'ResourceReleased']);
      expect(appended[0]!.data.billed).toBeUndefined();
      const settled = await settleRunEnd(deps, appended[0]!, appended[0]!.metadata.correlationId);
      expect(settled?.month).toBe('202404');
      const billed = (await deps.store.readAll()).slice(before + appended.length);
      expect(billed.map((e) => e.type)).toEqual(['BillingLineRecorded', 'QuotaConsumed', 'QuotaReleased']);
      expect(billed[0]!.streamName).toBe(billingStream(customerId, '202404'));
    });
  });
});
