/**
 * `hcp projections rebuild all` beside a running platform: every read model is built again in a
 * schema of its own and swapped in, twice, while a customer keeps submitting workloads, querying
 * them and subscribing to them. No request fails, no answer steps back, the subscription delivers
 * what happens after each swap, a valid key is never refused and a revoked key never accepted, and
 * the swapped-in read models equal what the live ones had become.
 */
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECTIONS } from '../../cli/platform.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres/store.ts';
import { listVersions, rebuildBeside } from '../../projections/versions.ts';
import { postgresBackends } from '../support/databases.ts';
import { subscribe, wsClient } from '../support/graphql-ws.ts';
import { submitUntilLive, workloadSubmitter } from '../support/workloads.ts';
import { ADMIN_KEY, onboardCustomer, startTestPlatform, type TestPlatform } from '../support/platform.ts';

const MINE = `{ workloads(first: 100) { nodes { id } } balance { reserved { gpuSeconds } } }`;

for (const backend of postgresBackends()) {
  describe(`rebuilding every read model beside a running platform (${backend.label})`, () => {
    let p: TestPlatform;
    const clients: Client[] = [];
    beforeAll(async () => {
      p = await startTestPlatform(await backend.open(), { rateLimitPerMinute: 0 });
    });
    afterAll(async () => {
      for (const c of clients) await c.dispose();
      await p.close();
    });

    it('keeps answering queries and subscriptions, and swaps in what the live models had become', async () => {
      const kept = await onboardCustomer(p, 'Kept', { gpuHours: 1000, budgetUsd: '100000.00' });
      const gone = await onboardCustomer(p, 'Gone');
      await p.gql(ADMIN_KEY, `mutation($k: ID!) { revokeApiKey(keyId: $k) { revoked } }`, { k: gone.keyId });
      for (let i = 0; i < 15; i++) await onboardCustomer(p, `Filler ${i}`);

      const client = wsClient(p, kept.key);
      clients.push(client);
      const updates = subscribe(client, `subscription { workloadUpdated { id status } }`);
      const { submitted, submit } = workloadSubmitter(p, kept.key);
      await submitUntilLive(updates, { submitted, submit });
      const beforeLive = submitted.splice(0);

      const failures: unknown[] = [];
      const seen: Array<{ workloads: number; reserved: number }> = [];
      const refusedGone: number[] = [];
      let rebuilding = true;
      const traffic = (async () => {
        while (rebuilding) {
          await submit();
          const mine = await p.gql(kept.key, MINE);
          if (mine.status !== 200 || mine.body.errors) failures.push(mine.body);
          else seen.push({ workloads: mine.body.data.workloads.nodes.length, reserved: Number(mine.body.data.balance.reserved.gpuSeconds) });
          refusedGone.push((await p.gql(gone.key, '{ me { role } }')).status);
        }
      })().catch((error) => failures.push(error));

      // what `hcp projections rebuild all` does, on a store of its own
      const swaps: number[] = [];
      try {
        // at least twice, and until the customer has been answered a few times meanwhile
        while (swaps.length < 2 || (seen.length < 6 && swaps.length < 8)) swaps.push(await rebuildBeside(p.db, await createPostgresEventStore(p.db), PROJECTIONS, { batchSize: 50 }));
        const swappedAt = submitted.length;
        while (submitted.length < swappedAt + 2 && failures.length === 0) await new Promise((r) => setTimeout(r, 20));
      } finally {
        rebuilding = false;
        await traffic;
      }

      expect(failures).toEqual([]);
      expect(swaps.every((applied) => applied > 0)).toBe(true);
      expect(seen.length).toBeGreaterThan(3);
      // nothing steps back: a customer's workloads and reservations only grow here
      for (let i = 1; i < seen.length; i++) {
        expect(seen[i]!.workloads).toBeGreaterThanOrEqual(seen[i - 1]!.workloads);
        expect(seen[i]!.reserved).toBeGreaterThanOrEqual(seen[i - 1]!.reserved);
      }
      expect(refusedGone.filter((s) => s !== 401)).toEqual([]);
      // the subscription delivers every workload, those submitted after the last swap included
      await updates.waitFor(Infinity, 3_000);
      expect(updates.errors).toEqual([]);
      const delivered = new Set(updates.results.map((r) => r.data.workloadUpdated.id as string));
      expect(submitted.filter((id) => !delivered.has(id))).toEqual([]);
      // the final answer is complete, and nothing of the rebuilds is left behind
      const head = await p.store.headPosition();
      if (head) expect(await p.core.progress.waitFor(head, 10_000)).toBe(true);
      const last = await p.gql(kept.key, MINE);
      expect(new Set(last.body.data.workloads.nodes.map((n: { id: string }) => n.id))).toEqual(new Set([...beforeLive, ...submitted]));
      expect(await listVersions(p.db)).toEqual([]);
      const schemas = await p.db.query<{ n: string }>(`SELECT nspname AS n FROM pg_namespace WHERE nspname LIKE 'hcp_build_%'`);
      expect(schemas).toEqual([]);
    });
  });
}
