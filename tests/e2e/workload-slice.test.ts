/**
 * End to end, with a real graphql-ws client: an admin onboards two customers,
 * A submits a workload and receives its update on a subscription, and B can
 * neither query nor subscribe to it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresBackends } from '../support/databases.ts';
import { ADMIN_KEY, onboardCustomer, startTestPlatform, type TestPlatform } from '../support/platform.ts';
import type { Client } from 'graphql-ws';
import { subscribe, wsClient } from '../support/graphql-ws.ts';

const SUBMIT = `mutation($i: SubmitWorkloadInput!) { submitWorkload(input: $i) { id status priority } }`;
const INPUT = { type: 'ai_inference_realtime', model: 'llama-3-70b', gpuType: 'H100', maxLatencyMs: 50, durationHours: 2 };

for (const backend of postgresBackends()) {
  describe(`workload slice end to end (${backend.label})`, () => {
    let p: TestPlatform;
    const clients: Client[] = [];
    beforeAll(async () => {
      p = await startTestPlatform(await backend.open());
    });
    afterAll(async () => {
      for (const c of clients) await c.dispose();
      await p.close();
    });

    it('A receives its workload update live; B cannot query or subscribe to it', async () => {
      const a = await onboardCustomer(p, 'Customer A');
      const b = await onboardCustomer(p, 'Customer B');
      const clientA = wsClient(p, a.key);
      const clientB = wsClient(p, b.key);
      clients.push(clientA, clientB);

      const subA = subscribe(clientA, `subscription { workloadUpdated { id customerId status priority } }`);
      const subB = subscribe(clientB, `subscription { workloadUpdated { id customerId status } }`);
      await new Promise((r) => setTimeout(r, 300)); // let both subscriptions start

      const submitted = await p.gql(a.key, SUBMIT, { i: INPUT });
      expect(submitted.body.errors).toBeUndefined();
      const workloadId = submitted.body.data.submitWorkload.id as string;
      expect(submitted.body.data.submitWorkload).toMatchObject({ status: 'queued', priority: 'P1' });

      await subA.waitFor(1);
      expect(subA.errors).toEqual([]);
      expect(subA.results[0].data.workloadUpdated).toMatchObject({ id: workloadId, customerId: a.customerId, priority: 'P1' });

      // B: the query answers null, exactly as for a workload that does not exist
      const byB = await p.gql(b.key, `query($id: ID!) { workload(id: $id) { id } }`, { id: workloadId });
      expect(byB.body).toEqual({ data: { workload: null } });
      const listB = await p.gql(b.key, `{ workloads { nodes { id } } }`);
      expect(listB.body.data.workloads.nodes).toEqual([]);
      const otherBalance = await p.gql(b.key, `query($c: ID) { balance(customerId: $c) { customerId } }`, { c: a.customerId });
      expect(otherBalance.body.errors?.[0].extensions.code).toBe('FORBIDDEN');

      // B: subscribing to A's workload by id is refused; B's own feed heard nothing of A's workload
      const subBById = subscribe(clientB, `subscription($id: ID) { workloadUpdated(id: $id) { id } }`, { id: workloadId });
      await subBById.waitFor(1, 3000);
      expect(subBById.results).toEqual([]);
      expect(JSON.stringify(subBById.errors)).toContain('workload not found');

      // a change to A's workload reaches A again, and still not B
      const cancelled = await p.gql(a.key, `mutation($id: ID!) { cancelWorkload(id: $id) { status } }`, { id: workloadId });
      expect(cancelled.body.data.cancelWorkload.status).toBe('cancelled');
      await subA.waitFor(2);
      expect(subA.results.at(-1).data.workloadUpdated.status).toBe('cancelled');
      expect(subB.results).toEqual([]);

      // B cannot cancel it either, and learns nothing about it
      const cancelByB = await p.gql(b.key, `mutation($id: ID!) { cancelWorkload(id: $id) { status } }`, { id: workloadId });
      expect(cancelByB.body.errors?.[0].extensions.code).toBe('NOT_FOUND');
      subA.dispose();
      subB.dispose();
    });

    it('refuses a WebSocket connection with an unknown or revoked key, and a subscription that fails validation', async () => {
      const c = await onboardCustomer(p, 'Customer C');
      const unknown = subscribe(wsClient(p, 'hcp_not_a_key'), `subscription { workloadUpdated { id } }`);
      await unknown.waitFor(1, 5000);
      expect(unknown.results).toEqual([]);
      expect(unknown.errors.length).toBe(1);

      // used before it is revoked: the server remembers keys it found, and must forget this one at once
      expect((await p.gql(c.key, `{ me { role } }`)).body.data.me.role).toBe('customer');
      const revoke = await p.gql(ADMIN_KEY, `mutation($k: ID!) { revokeApiKey(keyId: $k) { revoked } }`, { k: c.keyId });
      expect(revoke.body.data.revokeApiKey.revoked).toBe(true);
      const revoked = subscribe(wsClient(p, c.key), `subscription { workloadUpdated { id } }`);
      await revoked.waitFor(1, 5000);
      expect(revoked.errors.length).toBe(1);
      const afterRevoke = await p.gql(c.key, `{ me { role } }`);
      expect(afterRevoke.body.errors?.[0].extensions.code).toBe('UNAUTHENTICATED');
      expect(afterRevoke.status).toBe(401);

      const d = await onboardCustomer(p, 'Customer D');
      const client = wsClient(p, d.key);
      clients.push(client);
      const invalid = subscribe(client, `subscription { workloadUpdated { id noSuchField } }`);
      await invalid.waitFor(1, 5000);
      expect(JSON.stringify(invalid.errors)).toContain('noSuchField');
    });
  });
}
