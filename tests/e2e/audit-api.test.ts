/**
 * The event log over GraphQL for auditors: pages in store order with cursors, a stream's head with
 * its hash, a live subscription over graphql-ws; customers and analysts refused; bad arguments named.
 */
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walkChains } from '../../audit/chains.ts';
import { postgresBackends } from '../support/databases.ts';
import { subscribe, wsClient } from '../support/graphql-ws.ts';
import { ADMIN_KEY, onboardCustomer, startTestPlatform, type TestPlatform } from '../support/platform.ts';

const EVENTS = `query($stream: String, $category: String, $types: [String!], $after: String, $first: Int) {
  events(stream: $stream, category: $category, types: $types, after: $after, first: $first) {
    edges { cursor node { position stream category revision id type occurredAt hash data metadata } }
    pageInfo { hasNextPage endCursor }
  }
}`;

type Node = { position: string; stream: string; category: string; revision: string; id: string; type: string; hash: string; data: string; metadata: string };

for (const backend of postgresBackends()) {
  describe(`auditor event API (${backend.label})`, () => {
    let p: TestPlatform;
    let auditor: string;
    let analyst: string;
    let customer: Awaited<ReturnType<typeof onboardCustomer>>;
    const clients: Client[] = [];
    beforeAll(async () => {
      p = await startTestPlatform(await backend.open());
      const issue = async (role: string) => (await p.gql(ADMIN_KEY, `mutation { issueApiKey(role: ${role}) { key } }`)).body.data.issueApiKey.key as string;
      auditor = await issue('auditor');
      analyst = await issue('analyst');
      customer = await onboardCustomer(p, 'Audited Co');
      await onboardCustomer(p, 'Second Co');
    });
    afterAll(async () => {
      for (const c of clients) await c.dispose();
      await p.close();
    });

    it('pages through a category in store order, every event whole, with hashes that chain', async () => {
      const seen: Node[] = [];
      let after: string | null = null;
      for (let pages = 0; pages < 50; pages++) {
        const res = await p.gql(auditor, EVENTS, { category: 'customer', first: 2, after });
        expect(res.body.errors).toBeUndefined();
        const { edges, pageInfo } = res.body.data.events as { edges: { cursor: string; node: Node }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
        seen.push(...edges.map((e) => e.node));
        if (!pageInfo.hasNextPage) break;
        after = pageInfo.endCursor;
      }
      const stored = (await p.store.readAll()).filter((e) => e.streamName.startsWith('customer-'));
      expect(seen.map((n) => n.id)).toEqual(stored.map((e) => e.id));
      expect(seen.every((n) => n.category === 'customer' && /^[0-9a-f]{64}$/.test(n.hash))).toBe(true);
      // what the API gives is enough to recompute the chains: nothing left out, nothing reshaped
      const walk = walkChains();
      const breaks = seen.flatMap((n) =>
        walk.add({
          id: n.id,
          type: n.type,
          streamName: n.stream,
          revision: BigInt(n.revision),
          hash: n.hash,
          data: JSON.parse(n.data),
          metadata: JSON.parse(n.metadata),
          position: { commit: BigInt(n.position.split('/')[0]!), prepare: BigInt(n.position.split('/')[1]!) },
        }),
      );
      expect(breaks).toEqual([]);
      expect(JSON.parse(seen[0]!.metadata).actor).toBeTruthy();
    });

    it('reads one stream by revision, filters types, and gives its head', async () => {
      const stream = `customer-${customer.customerId}`;
      const res = await p.gql(auditor, EVENTS, { stream, types: ['QuotaGranted', 'CustomerRegistered'] });
      const types = (res.body.data.events.edges as { node: Node }[]).map((e) => e.node.type);
      expect(types).toEqual(['CustomerRegistered', 'QuotaGranted']);
      const head = await p.gql(auditor, `query($n: String!) { stream(name: $n) { name revision hash lastType } }`, { n: stream });
      const [last] = await p.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
      expect(head.body.data.stream).toEqual({ name: stream, revision: last!.revision.toString(), hash: last!.hash, lastType: last!.type });
      const none = await p.gql(auditor, `{ stream(name: "customer-nobody") { revision } }`);
      expect(none.body.data.stream).toBeNull();
    });

    it('refuses customers and analysts, and names a bad argument', async () => {
      for (const key of [customer.key, analyst]) {
        const res = await p.gql(key, `{ events(first: 1) { edges { node { id } } } }`);
        expect(res.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
        expect(res.body.data?.events ?? null).toBeNull();
      }
      const field = async (query: string, variables: Record<string, unknown>) => (await p.gql(auditor, query, variables)).body.errors?.[0]?.extensions?.field;
      expect(await field(EVENTS, { stream: 'customer-x', category: 'customer' })).toBe('category');
      expect(await field(EVENTS, { after: 'not-a-cursor' })).toBe('after');
      expect(await field(EVENTS, { first: 501 })).toBe('first');
      expect(await field(EVENTS, { types: ['Bad Type'] })).toBe('types.0');
      expect(await field(`query($n: String!) { stream(name: $n) { revision } }`, { n: 'has space' })).toBe('name');
    });

    it('streams what is appended, of one category, to an auditor; refuses a customer', async () => {
      const client = wsClient(p, auditor);
      clients.push(client);
      const live = subscribe(client, `subscription { eventsAppended(category: "customer", types: ["CustomerRegistered"]) { stream type hash } }`);
      const refused = subscribe(wsClient(p, customer.key), `subscription { eventsAppended { id } }`);
      await new Promise((r) => setTimeout(r, 300));
      const late = await onboardCustomer(p, 'Late Co');
      await live.waitFor(1);
      expect(live.errors).toEqual([]);
      expect(live.results.map((r) => r.data.eventsAppended)).toEqual([{ stream: `customer-${late.customerId}`, type: 'CustomerRegistered', hash: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
      await refused.waitFor(1, 2_000);
      expect(JSON.stringify(refused.errors)).toContain('FORBIDDEN');
      live.dispose();
      refused.dispose();
    });
  });
}
