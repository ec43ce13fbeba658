/**
 * A change heard by many subscriptions is loaded once and delivered to all, and a delivery does
 * not re-read the key from the database: 200 subscriptions to one feed cost a query or two per
 * tick, not 400 (each delivery used to re-authenticate and reload the whole latest-prices table).
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../infra/postgres/database.ts';
import { uuidFromName } from '../../infra/ids.ts';
import { pgliteDatabase } from '../support/databases.ts';
import { onboardCustomer, startTestPlatform, type TestPlatform } from '../support/platform.ts';

describe('subscription fan-out', () => {
  let p: TestPlatform;
  let queries = 0;
  const clients: Client[] = [];
  beforeAll(async () => {
    const counting = (db: Sql): Sql => ({ query: (q, params) => (queries++, db.query(q, params)) });
    p = await startTestPlatform(await pgliteDatabase(), { wrapReadModels: counting });
  });
  afterAll(async () => {
    for (const c of clients) await c.dispose();
    await p.close();
  });

  const tick = (n: number) => {
    const at = new Date(Date.UTC(2024, 0, 1, 0, n)).toISOString();
    const tickId = `fanout-${n}`;
    return p.store.appendToStream('market-btc-usd', [
      {
        id: uuidFromName(tickId),
        type: 'PriceTicked',
        data: { kind: 'price', tickId, feed: 'btc-usd', at, priceMicroUsd: 40_000_000_000 + n },
        metadata: { commandId: `test:${tickId}`, correlationId: 'test', causationId: 'test', actor: 'test', schemaVersion: 1, occurredAt: at },
      },
    ]);
  };

  it('loads a tick once for 200 subscribers and checks their keys without the database', async () => {
    const customer = await onboardCustomer(p, 'Watcher', { gpuHours: 1, budgetUsd: '1.00' });
    const received: number[] = [];
    for (let c = 0; c < 5; c++) {
      const client = createClient({ url: p.wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${customer.key}` }, retryAttempts: 0 });
      clients.push(client);
      for (let s = 0; s < 40; s++) {
        const index = received.push(0) - 1;
        client.subscribe({ query: `subscription { priceTicked(feed: "btc-usd") { feed priceMicroUsd } }` }, { next: () => void received[index]!++, error: () => {}, complete: () => {} });
      }
    }
    // ticks until every subscription has heard one: then all 200 are listening
    let n = 0;
    for (; n < 50 && received.some((r) => r < 1); n++) {
      await tick(n);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(received.every((r) => r >= 1)).toBe(true);

    const before = [...received];
    queries = 0;
    await tick(n);
    for (let i = 0; i < 100 && received.some((r, j) => r <= before[j]!); i++) await new Promise((r) => setTimeout(r, 50));
    expect(received.every((r, j) => r === before[j]! + 1)).toBe(true);
    expect(queries).toBeLessThanOrEqual(2);
  });
});
