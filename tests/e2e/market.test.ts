/** Prices reach every role: latest, bucketed history, and live ticks. */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MarketTick } from '../../domain/market/ticks.ts';
import { tickEvent } from '../../commands/ingestion/market-ingestion.ts';
import { pgliteDatabase } from '../support/databases.ts';
import { onboardCustomer, startTestPlatform, type TestPlatform } from '../support/platform.ts';

/** A tick recorded as market ingestion records it. */
const record = (p: TestPlatform, tick: MarketTick) => {
  const { streamName, event } = tickEvent(tick);
  return p.store.appendToStream(streamName, [event], { expectedRevision: 'any' });
};

describe('market data through the API', () => {
  let p: TestPlatform;
  let key: string;
  beforeAll(async () => {
    p = await startTestPlatform(await pgliteDatabase());
    key = (await onboardCustomer(p, 'Watcher')).key;
    // the first four 15-minute HB_WEST prices of 2023 (ercot_hb_west_north_rt_15min.csv) and BTC hours (btc_usd_hourly.csv)
    const west = [26.86, 16.1, 14.77, 13.89];
    for (const [i, usd] of west.entries())
      await record(p, { kind: 'price', tickId: `w${i}`, feed: 'power-hb_west', at: new Date(Date.UTC(2023, 0, 1, 0, 15 * i)).toISOString(), priceMicroUsd: Math.round(usd * 1e6) });
    await record(p, { kind: 'price', tickId: 'b0', feed: 'btc-usd', at: '2023-01-01T00:00:00.000Z', priceMicroUsd: 16_522_030_000 });
    // btc_network_daily.csv for 2023-01-01 (no fee data that day: 0 here)
    await record(p, { kind: 'network', tickId: 'n0', at: '2023-01-01T00:00:00.000Z', difficulty: 35_364_065_900_457, subsidySats: 625_000_000, feesPerBlockSats: 0 });
    // ercot_hubs_da_hourly.csv, HB_WEST, the first three hours of 2023 (the rest of the day left unpriced here)
    const last = await record(p, {
      kind: 'day-ahead',
      tickId: 'da0',
      node: 'HB_WEST',
      at: '2022-12-31T20:00:00.000Z',
      fromHour: '2023-01-01T00:00:00.000Z',
      hourlyMicroUsdPerMwh: [13_290_000, 6_760_000, null, 5_000_000],
    });
    await p.core.progress.waitFor(last.position);
  });
  afterAll(() => p.close());

  it('gives latest prices, network stats, and hourly bars with open/high/low/close', async () => {
    const r = await p.gql(key, `{ latestPrices { feed priceUsd } networkStats { difficulty subsidySats }
      prices(feed: "power-hb_west", from: "2023-01-01T00:00:00Z", to: "2023-01-02T00:00:00Z", bucket: HOUR) {
        start openMicroUsd highMicroUsd lowMicroUsd closeMicroUsd averageMicroUsd ticks } }`);
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.latestPrices).toEqual([
      { feed: 'btc-usd', priceUsd: 16522.03 },
      { feed: 'power-hb_west', priceUsd: 13.89 },
    ]);
    expect(r.body.data.networkStats).toEqual({ difficulty: 35_364_065_900_457, subsidySats: 625_000_000 });
    expect(r.body.data.prices).toEqual([
      {
        start: '2023-01-01T00:00:00.000Z',
        openMicroUsd: 26_860_000,
        highMicroUsd: 26_860_000,
        lowMicroUsd: 13_890_000,
        closeMicroUsd: 13_890_000,
        averageMicroUsd: 17_905_000,
        ticks: 4,
      },
    ]);
  });

  it('refuses a bad feed or time, naming the field', async () => {
    const bad = await p.gql(key, `{ prices(feed: "power-nowhere", from: "2023-01-01T00:00:00Z", to: "x") { ticks } }`);
    expect(bad.body.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'feed' });
    const badTime = await p.gql(key, `{ prices(feed: "btc-usd", from: "yesterday", to: "2023-01-02T00:00:00Z") { ticks } }`);
    expect(badTime.body.errors?.[0].extensions).toMatchObject({ field: 'from' });
    const backwards = await p.gql(key, `{ prices(feed: "btc-usd", from: "2023-01-02T00:00:00Z", to: "2023-01-01T00:00:00+01:00") { ticks } }`);
    expect(backwards.body.errors?.[0]).toMatchObject({ message: 'to: 2022-12-31T23:00:00.000Z is before from (2023-01-02T00:00:00.000Z)', extensions: { code: 'BAD_USER_INPUT', field: 'to' } });
  });

  it('refuses a range of more than 5,000 buckets before reading any tick', async () => {
    const all = await p.gql(key, `{ prices(feed: "btc-usd", from: "0001-01-01T00:00:00Z", to: "9999-01-01T00:00:00Z", bucket: MINUTE) { ticks } }`);
    expect(all.body.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'to' } });
    expect(all.body.errors?.[0].message).toMatch(/spans \d+ MINUTE buckets; at most 5000/);
    // 5,000 minutes exactly is served; one more is not
    const edge = (to: string) => p.gql(key, `query($t: String!) { prices(feed: "btc-usd", from: "2023-01-01T00:00:00Z", to: $t, bucket: MINUTE) { ticks } }`, { t: to });
    expect((await edge(new Date(Date.UTC(2023, 0, 1) + 5000 * 60_000).toISOString())).body.errors).toBeUndefined();
    expect((await edge(new Date(Date.UTC(2023, 0, 1) + 5000 * 60_000 + 1).toISOString())).body.errors?.[0].extensions.field).toBe('to');
  });

  it('streams new ticks of a feed to a subscriber', async () => {
    const client = createClient({ url: p.wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` }, retryAttempts: 0 });
    const got = new Promise<any>((resolve, reject) =>
      client.subscribe({ query: `subscription { priceTicked(feed: "btc-usd") { feed priceUsd at } }` }, { next: (v) => resolve(v.data?.priceTicked), error: reject, complete: () => {} }),
    );
    await new Promise((r) => setTimeout(r, 200));
    await record(p, { kind: 'price', tickId: 'w9', feed: 'power-hb_west', at: '2023-01-01T02:00:00.000Z', priceMicroUsd: 1 });
    await record(p, { kind: 'price', tickId: 'b1', feed: 'btc-usd', at: '2023-01-01T01:00:00.000Z', priceMicroUsd: 16_544_100_000 });
    expect(await got).toEqual({ feed: 'btc-usd', priceUsd: 16_544.1, at: '2023-01-01T01:00:00.000Z' });
    await client.dispose();
  });

  it('gives a hub\'s day-ahead prices for a range of hours, and refuses an unknown hub or a range too long by name', async () => {
    const r = await p.gql(key, `{ dayAheadPrices(node: "HB_WEST", from: "2023-01-01T00:00:00Z", to: "2023-01-01T03:00:00Z") { node hour priceUsd publishedAt } }`);
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.dayAheadPrices).toEqual([
      { node: 'HB_WEST', hour: '2023-01-01T00:00:00.000Z', priceUsd: 13.29, publishedAt: '2022-12-31T20:00:00.000Z' },
      { node: 'HB_WEST', hour: '2023-01-01T01:00:00.000Z', priceUsd: 6.76, publishedAt: '2022-12-31T20:00:00.000Z' },
    ]);
    const bad = await p.gql(key, `{ dayAheadPrices(node: "HB_MOON", from: "2023-01-01T00:00:00Z", to: "2023-01-02T00:00:00Z") { hour } }`);
    expect(bad.body.errors?.[0]?.extensions?.field).toBe('node');
    const long = await p.gql(key, `{ dayAheadPrices(node: "HB_WEST", from: "2023-01-01T00:00:00Z", to: "2023-03-01T00:00:00Z") { hour } }`);
    expect(long.body.errors?.[0]?.extensions?.field).toBe('to');
  });
});
