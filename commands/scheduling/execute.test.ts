/**
 * The executor after a crash: its commands are repeated under the same ids, and a repeat must not
 * leave GPUs with a run that ended. Found by the crash test (a run placed anew after a recovery
 * released it kept its GPUs when it completed: its release id had been used by the recovery).
 */
import { describe, expect, it } from 'vitest';
import { SEED_SCENARIO } from '../../domain/fleet/inventory.ts';
import { gpuIdOf } from '../../domain/fleet/gpus.ts';
import { resourceDecider, resourceStream } from '../../domain/resource/resource.ts';
import { workloadDecider, workloadStream } from '../../domain/workload/workload.ts';
import { manualClock } from '../../infra/clock.ts';
import { createMemoryEventStore } from '../../infra/event-store/memory.ts';
import { sequentialIds } from '../../infra/ids.ts';
import { createLogger } from '../../infra/logger.ts';
import type { CommandDeps } from '../context.ts';
import { grantQuota, registerCustomer } from '../customers.ts';
import { registerScenario } from '../fleet.ts';
import { handleCommand, loadState } from '../handle.ts';
import { ensurePriceList } from '../price-list.ts';
import { submitWorkload } from '../workloads.ts';
import { createExecutor, type PoolRecord } from './execute.ts';

const T0 = Date.parse('2024-03-01T00:00:00Z');

describe('the scheduler executor, repeated after a crash', () => {
  it('gives back the GPUs of a run placed anew after a recovery released it, when the run ends', async () => {
    const clock = manualClock(new Date(T0));
    const deps: CommandDeps = { store: createMemoryEventStore(), readModels: { query: async () => [] }, clock, ids: sequentialIds('x') };
    const caller = (commandId: string) => ({ commandId, correlationId: commandId, actor: 'test' });
    const facilities = SEED_SCENARIO.filter((f) => f.facilityId === 'texas-north');
    await registerScenario(deps, caller('scenario'), facilities);
    await ensurePriceList(deps);
    const { customerId } = await registerCustomer(deps, caller('register'), { name: 'C', tier: 'standard' });
    await grantQuota(deps, caller('grant'), { customerId, gpuSeconds: 100 * 3600, budgetMicroUsd: 1_000_000_000 });
    const request = { type: 'ai_inference_batch' as const, model: 'llama-3-8b', gpuType: 'A100' as const, gpuCount: 2, durationSeconds: 600 };
    const { workloadId } = await submitWorkload(deps, caller('submit'), { customerId, request });

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
    const gpuIds = [0, 1].map((i) => gpuIdOf(poolId, 'A100', i));
    const waiting = { workloadId, customerId, priority: 'P3' as const, request, firstQueuedAtMs: T0, queuedAtMs: T0, nextRun: 1, remainingSeconds: 600 };
    const placement = { type: 'place' as const, workloadId, run: 1, poolId, facilityId: 'texas-north', gpuIndexes: [0, 1], gpuIds, warm: false, startupMs: 60_000, mode: 'serving' as const, model: 'llama-3-8b', score: 1, reason: 'test' };

    // 1. a first process took the GPUs on the pool and died before the workload recorded them
    const taken = await handleCommand(deps.store, resourceDecider, resourceStream(poolId), { type: 'AllocateGpus', workloadId, run: 1, gpuIds, mode: 'serving', model: 'llama-3-8b' }, { ...caller(`place:${workloadId}:1`), now: clock.now });
    expect(taken.type).toBe('accepted');
    // 2. the next process's recovery found GPUs held for no recorded run, and released them
    await executor.releaseStale(poolId, workloadId, 1, T0);
    expect((await refresh()).holders[workloadId]).toBeUndefined();
    // 3. its scheduler placed run 1 again (the same place id: a repeat, so allocated under an id of its own)
    const placed = await executor.place(waiting, placement, T0);
    expect(placed.type).toBe('placed');
    expect((await refresh()).holders[workloadId]?.run).toBe(1);
    // 4. the run starts and completes: its GPUs go back (before the fix: "release" answered as a repeat and they stayed)
    const running = { workloadId, priority: 'P3' as const, request, run: 1, poolId, gpuIndexes: [0, 1], sinceMs: T0, endsAtMs: undefined };
    const endsAtMs = await executor.start(running, T0 + 60_000);
    expect(endsAtMs).toBe(T0 + 60_000 + 600_000);
    await executor.complete(running, endsAtMs!);
    expect((await loadState(deps.store, workloadDecider, workloadStream(workloadId))).status).toBe('completed');
    const pool = await refresh();
    expect(pool.holders[workloadId]).toBeUndefined();
    expect(pool.gpus.filter((g) => g.busy).map((g) => g.index)).toEqual([]);
  });
});
