/**
 * Group commit: submissions that arrive while another is being appended go together in one append,
 * each answered with its own workload; a request that cannot go with the others (over quota, a
 * repeated command id) is answered alone and sends nobody else to the slow path.
 */
import { describe, expect, it } from 'vitest';
import { customerStream } from '../domain/customer/customer.ts';
import { workloadStream } from '../domain/workload/workload.ts';
import { manualClock } from '../infra/clock.ts';
import { createMemoryEventStore } from '../infra/event-store/memory.ts';
import type { EventStore } from '../infra/event-store/types.ts';
import { sequentialIds } from '../infra/ids.ts';
import type { CommandDeps } from './context.ts';
import { grantQuota, registerCustomer } from './customers.ts';
import { CommandRejectedError } from './errors.ts';
import { ensurePriceList } from './price-list.ts';
import { submitWorkload } from './workloads.ts';

const caller = (commandId: string) => ({ commandId, correlationId: commandId, actor: 'test' });
const request = { type: 'ai_inference_batch' as const, model: 'llama-3-8b', gpuType: 'A100' as const, gpuCount: 1, durationSeconds: 3600 };

/** A memory store whose appends take a few milliseconds (as a server's do), counted. */
const slowStore = () => {
  const store = createMemoryEventStore();
  const counts = { single: 0, together: 0 };
  const later = <T>(p: Promise<T>) => new Promise<T>((resolve, reject) => setTimeout(() => p.then(resolve, reject), 5));
  const slow: EventStore = {
    ...store,
    appendToStream: (...args) => (counts.single++, later(store.appendToStream(...args))),
    appendToStreams: (appends) => (counts.together++, later(store.appendToStreams!(appends))),
  };
  return { store: slow, counts };
};

const platform = async (customers: Array<{ name: string; jobs: number }>) => {
  const { store, counts } = slowStore();
  const deps: CommandDeps = { store, readModels: { query: async () => [] }, clock: manualClock(), ids: sequentialIds('g') };
  await ensurePriceList(deps);
  const ids: string[] = [];
  for (const c of customers) {
    const { customerId } = await registerCustomer(deps, caller(`register-${c.name}`), { name: c.name, tier: 'standard' });
    await grantQuota(deps, caller(`grant-${c.name}`), { customerId, gpuSeconds: c.jobs * 3600, budgetMicroUsd: 1_000_000_000 });
    ids.push(customerId);
  }
  counts.single = counts.together = 0;
  return { deps, counts, ids };
};

const reservedOn = async (store: EventStore, customerId: string) =>
  (await store.readStream(customerStream(customerId))).filter((e) => e.type === 'QuotaReserved').map((e) => (e.data as { workloadId: string }).workloadId);

describe('group commit of submissions', () => {
  it('sends concurrent submissions of two customers in a few appends, none on the slow path, each answered with its own workload', async () => {
    const { deps, counts, ids } = await platform([{ name: 'a', jobs: 100 }, { name: 'b', jobs: 100 }]);
    const submitted = await Promise.all(Array.from({ length: 12 }, (_, i) => submitWorkload(deps, caller(`submit-${i}`), { customerId: ids[i % 2]!, request })));
    expect(counts.single).toBe(0);
    expect(counts.together).toBeLessThanOrEqual(3);
    expect(new Set(submitted.map((s) => s.workloadId)).size).toBe(12);
    for (const [i, s] of submitted.entries()) {
      const opened = await deps.store.readStream(workloadStream(s.workloadId));
      expect(opened.map((e) => e.type)).toContain('WorkloadQueued');
      expect((opened[0]!.data as { customerId: string }).customerId).toBe(ids[i % 2]);
      // the answer's position is its own workload's last event
      expect(s.position).toEqual(opened.at(-1)!.position);
    }
    expect((await reservedOn(deps.store, ids[0]!)).sort()).toEqual(submitted.filter((_, i) => i % 2 === 0).map((s) => s.workloadId).sort());
    expect((await reservedOn(deps.store, ids[1]!)).sort()).toEqual(submitted.filter((_, i) => i % 2 === 1).map((s) => s.workloadId).sort());
  });

  it('refuses what is over quota, and repeats a repeated command id, without holding up the others', async () => {
    const { deps, ids } = await platform([{ name: 'small', jobs: 2 }, { name: 'large', jobs: 100 }]);
    const [small, large] = ids as [string, string];
    const results = await Promise.allSettled([
      submitWorkload(deps, caller('s-1'), { customerId: small, request }),
      submitWorkload(deps, caller('l-1'), { customerId: large, request }),
      submitWorkload(deps, caller('s-2'), { customerId: small, request }),
      submitWorkload(deps, caller('l-2'), { customerId: large, request }),
      submitWorkload(deps, caller('s-3'), { customerId: small, request }),
      submitWorkload(deps, caller('l-2'), { customerId: large, request }), // a client's retry racing itself
      submitWorkload(deps, caller('l-3'), { customerId: large, request }),
    ]);
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(CommandRejectedError);
    expect((refused[0] as CommandRejectedError).rejection.code).toBe('quota_exceeded');
    expect(await reservedOn(deps.store, small)).toHaveLength(2);
    const workloadOf = (i: number) => (results[i] as PromiseFulfilledResult<{ workloadId: string }>).value.workloadId;
    // the retry answers with the workload its first attempt opened
    expect(workloadOf(5)).toBe(workloadOf(3));
    expect((await reservedOn(deps.store, large)).sort()).toEqual([workloadOf(1), workloadOf(3), workloadOf(6)].sort());
  });
});
