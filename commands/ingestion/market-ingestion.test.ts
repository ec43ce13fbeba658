/**
 * docs/design.md invariant "each tick becomes exactly one event": whatever mix of
 * duplicates, redeliveries (lost commits, lost store acknowledgements, failed
 * appends) and consumer restarts the in-process bus produces, the store ends with
 * one event per tick id. Malformed messages go to the DLQ and do not stop later
 * good ones.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MARKET_NODES, marketStream, marketTickSchema, plausiblePrice, powerFeed, type MarketTick } from '../../domain/market/ticks.ts';
import { createInProcessBus } from '../../infra/bus/in-process.ts';
import { GROUPS, TOPICS } from '../../infra/bus/topics.ts';
import type { BusMessage, ConsumedMessage } from '../../infra/bus/types.ts';
import { manualClock } from '../../infra/clock.ts';
import { createMemoryEventStore } from '../../infra/event-store/memory.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres/store.ts';
import type { EventStore } from '../../infra/event-store/types.ts';
import { uuidFromName } from '../../infra/ids.ts';
import { createLogger } from '../../infra/logger.ts';
import { postgresBackends } from '../../tests/support/databases.ts';
import { createTickHandler, parseTickMessage, startMarketIngestion, tickEvent, tickMessage, type DeadLetter, type MarketIngestion } from './market-ingestion.ts';

const logger = createLogger('silent');

// ---- generators --------------------------------------------------------------------

const FEEDS = ['btc-usd', ...MARKET_NODES.map(powerFeed), 'gpu-h100', 'gpu-a100', 'gpu-l40s'] as const;
const T0 = Date.parse('2024-01-01T00:00:00Z');
const isoAt = fc.integer({ min: 0, max: 365 * 24 * 3600 }).map((s) => new Date(T0 + s * 1000).toISOString());

const tickArb = (tickId: string): fc.Arbitrary<MarketTick> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .constantFrom(...FEEDS)
        .chain((feed) => fc.record({ kind: fc.constant('price' as const), tickId: fc.constant(tickId), feed: fc.constant(feed), at: isoAt, priceMicroUsd: fc.integer(plausiblePrice(feed)) })),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('network' as const), tickId: fc.constant(tickId), at: isoAt, difficulty: fc.integer({ min: 1, max: 2 ** 50 }), subsidySats: fc.constant(312_500_000), feesPerBlockSats: fc.integer({ min: 0, max: 100_000_000 }) }) },
  );

const ticksArb = (max: number) =>
  fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength: 1, maxLength: max }).chain((ids) => fc.tuple(...ids.map(tickArb)));

const malformedArb: fc.Arbitrary<{ value: string; field: string }> = fc.constantFrom(
  { value: '{"kind":"price","tickId":"x"', field: '(json)' },
  { value: 'not json at all', field: '(json)' },
  { value: '[1,2,3]', field: '(root)' },
  { value: JSON.stringify({ kind: 'price', tickId: 'bad-1', feed: 'btc-usd', at: '2024-01-01T00:00:00Z', priceMicroUsd: 1.5 }), field: 'priceMicroUsd' },
  { value: JSON.stringify({ kind: 'price', tickId: 'bad-2', feed: 'eur-usd', at: '2024-01-01T00:00:00Z', priceMicroUsd: 1 }), field: 'feed' },
  { value: JSON.stringify({ kind: 'candle', tickId: 'bad-3' }), field: 'kind' },
  { value: JSON.stringify({ kind: 'network', tickId: '', at: '2024-01-01T00:00:00Z', difficulty: 1, subsidySats: 1, feesPerBlockSats: 1 }), field: 'tickId' },
  { value: JSON.stringify({ kind: 'price', tickId: 'bad-4', feed: 'btc-usd', at: '2024-01-01T00:00:00Z', priceMicroUsd: 1, venue: 'x' }), field: 'venue' },
  // valid JSON, absurd values: refused, never recorded for good
  { value: JSON.stringify({ kind: 'price', tickId: 'bad-5', feed: 'power-hb_west', at: '9999-12-31T00:00:00Z', priceMicroUsd: 30_000_000 }), field: 'at' },
  { value: JSON.stringify({ kind: 'price', tickId: 'bad-6', feed: 'btc-usd', at: '2024-01-01T00:00:00Z', priceMicroUsd: -10_000_000_000_000 }), field: 'priceMicroUsd' },
  { value: JSON.stringify({ kind: 'price', tickId: 'bad-7', feed: 'gpu-h100', at: '2024-01-01T00:00:00Z', priceMicroUsd: 0 }), field: 'priceMicroUsd' },
  { value: JSON.stringify({ kind: 'price', tickId: 'bad-8', feed: 'power-hb_north', at: '2024-01-01T00:00:00Z', priceMicroUsd: 500_000_000_000 }), field: 'priceMicroUsd' },
  { value: JSON.stringify({ kind: 'network', tickId: 'bad-9', at: '2024-01-01T00:00:00Z', difficulty: 1e-300, subsidySats: 1, feesPerBlockSats: 1 }), field: 'difficulty' },
);

/** The store's ticks, checked: one event per tick id, on its stream, with its deterministic id and data. */
const expectExactlyOnce = async (store: EventStore, ticks: readonly MarketTick[]) => {
  const events = await store.readAll();
  expect(events).toHaveLength(ticks.length);
  const byTickId = new Map(events.map((e) => [(e.data as MarketTick).tickId, e]));
  expect(byTickId.size).toBe(ticks.length);
  for (const tick of ticks) {
    const e = byTickId.get(tick.tickId);
    expect(e, `tick ${tick.tickId}`).toBeDefined();
    expect(e!.id).toBe(uuidFromName(`tick:${tick.tickId}`));
    expect(e!.streamName).toBe(marketStream(tick));
    expect(e!.type).toBe(tick.kind === 'price' ? 'PriceTicked' : 'NetworkStatsUpdated');
    expect(marketTickSchema.parse(e!.data)).toEqual(tick);
  }
};

// ---- the pure step -------------------------------------------------------------------

describe('parseTickMessage', () => {
  const good: MarketTick = { kind: 'price', tickId: 't-1', feed: 'btc-usd', at: '2024-04-20T00:00:00.000Z', priceMicroUsd: 64_000_000_000 };

  it('accepts a valid tick', () => {
    expect(parseTickMessage(JSON.stringify(good))).toEqual({ ok: true, tick: good });
  });

  it('names the field at fault', () => {
    const cases: Array<[string | null, string, string]> = [
      [null, 'empty', '(value)'],
      ['   ', 'empty', '(value)'],
      ['{oops', 'json', '(json)'],
      ['"a string"', 'schema', '(root)'],
      [JSON.stringify({ ...good, priceMicroUsd: '12' }), 'schema', 'priceMicroUsd'],
      [JSON.stringify({ ...good, at: '2024-04-20 00:00' }), 'schema', 'at'],
      [JSON.stringify({ ...good, kind: undefined }), 'schema', 'kind'],
      [JSON.stringify({ ...good, source: 'x', venue: 'y' }), 'schema', 'source,venue'],
      [JSON.stringify({ ...good, tickId: 'a\u0000b' }), 'schema', 'tickId'],
      [JSON.stringify({ ...good, tickId: 'x\ud800y' }), 'schema', 'tickId'],
    ];
    for (const [value, reason, field] of cases) {
      const parsed = parseTickMessage(value);
      expect(parsed.ok, String(value)).toBe(false);
      if (!parsed.ok) expect([parsed.rejection.reason, parsed.rejection.field], String(value)).toEqual([reason, field]);
    }
  });

  it('gives every tick one deterministic event, whatever the correlation', () => {
    fc.assert(
      fc.property(ticksArb(5), fc.string(), (ticks, correlationId) => {
        for (const tick of ticks) {
          const a = tickEvent(tick);
          const b = tickEvent(tick, { correlationId });
          expect(a.event.id).toBe(b.event.id);
          expect(a.streamName).toBe(marketStream(tick));
          expect(a.event.metadata).toEqual({
            commandId: `tick:${tick.tickId}`,
            correlationId: `tick:${tick.tickId}`,
            causationId: `tick:${tick.tickId}`,
            actor: 'ingestion',
            schemaVersion: 1,
            occurredAt: tick.at,
          });
          expect(parseTickMessage(tickMessage(tick).value)).toEqual({ ok: true, tick });
        }
      }),
      { numRuns: 30 },
    );
  });
});

// ---- through the bus ------------------------------------------------------------------

/** A store whose first appends fail before writing, or write and then lose the acknowledgement, on cue. */
const flakyStore = (store: EventStore, faults: Array<'ok' | 'before' | 'after'>): EventStore => {
  let n = 0;
  return {
    ...store,
    async appendToStream(stream, events, options) {
      const fault = faults[n++] ?? 'ok';
      if (fault === 'before') throw new Error('database unavailable');
      const result = await store.appendToStream(stream, events, options);
      if (fault === 'after') throw new Error('connection lost before the commit was acknowledged');
      return result;
    },
  };
};

describe('market ingestion over the in-process bus', () => {
  it('records each tick exactly once under duplicates, redeliveries and consumer restarts', async () => {
    await fc.assert(
      fc.asyncProperty(
        ticksArb(25).chain((ticks) =>
          fc.record({
            ticks: fc.constant(ticks),
            // each tick published 1..3 times, all copies in any order, in batches of any size
            copies: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: ticks.length, maxLength: ticks.length }),
            order: fc.array(fc.nat(), { minLength: 3 * ticks.length, maxLength: 3 * ticks.length }),
            batchSizes: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 10 }),
            lostCommits: fc.array(fc.boolean(), { minLength: 1, maxLength: 10 }),
            storeFaults: fc.array(fc.constantFrom<'ok' | 'before' | 'after'>('ok', 'ok', 'ok', 'before', 'after'), { maxLength: 12 }),
            restartAfterBatch: fc.array(fc.boolean(), { minLength: 1, maxLength: 10 }),
            partitions: fc.integer({ min: 1, max: 4 }),
            maxBatchSize: fc.integer({ min: 1, max: 10 }),
            recentTicks: fc.constantFrom(0, 2, 1000),
          }),
        ),
        async (s) => {
          let c = 0;
          const bus = createInProcessBus({
            partitions: s.partitions,
            maxBatchSize: s.maxBatchSize,
            retryDelayMs: 0,
            // lose some commits, but not forever (a consumer that always dies makes no progress)
            loseCommit: () => c < 40 && s.lostCommits[c++ % s.lostCommits.length]!,
          });
          const store = createMemoryEventStore();
          // the faults run out: after them the store is healthy
          const flaky = flakyStore(store, s.storeFaults);
          const start = () => startMarketIngestion({ bus, store: flaky, logger, recentTicks: s.recentTicks });
          let ingestion: MarketIngestion = await start();
          try {
            const copies = s.ticks.flatMap((t, i) => Array<MarketTick>(s.copies[i]!).fill(t));
            // a shuffle driven by the generated keys
            const shuffled = copies
              .map((t, i) => ({ t, k: s.order[i]! }))
              .sort((a, b) => a.k - b.k)
              .map((x) => x.t);
            for (let i = 0, b = 0; i < shuffled.length; b++) {
              const size = s.batchSizes[b % s.batchSizes.length]!;
              await bus.publish(TOPICS.marketTicks, shuffled.slice(i, i + size).map((t) => tickMessage(t)));
              i += size;
              if (s.restartAfterBatch[b % s.restartAfterBatch.length]) {
                await ingestion.stop();
                ingestion = await start();
              }
              await new Promise((r) => setImmediate(r));
            }
            await bus.drained(TOPICS.marketTicks, GROUPS.ingestion, 20_000);
            await expectExactlyOnce(store, s.ticks);
            expect(bus.messages(TOPICS.marketTicksDlq)).toHaveLength(0);
          } finally {
            await ingestion.stop();
            await bus.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('sends malformed messages to the DLQ with the field at fault and keeps ingesting the good ones after them', async () => {
    await fc.assert(
      fc.asyncProperty(
        ticksArb(15),
        fc.array(malformedArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { minLength: 25, maxLength: 25 }),
        async (ticks, malformed, positions) => {
          const clock = manualClock(new Date('2024-06-01T00:00:00Z'));
          const bus = createInProcessBus({ partitions: 2, maxBatchSize: 4 });
          const store = createMemoryEventStore();
          const ingestion = await startMarketIngestion({ bus, store, logger, clock });
          try {
            const messages: BusMessage[] = ticks.map((t) => tickMessage(t));
            // malformed messages anywhere, including before every good one on their partition
            malformed.forEach((m, i) => messages.splice(positions[i]! % (messages.length + 1), 0, { key: marketStream(ticks[0]!), value: m.value }));
            for (const m of messages) await bus.publish(TOPICS.marketTicks, [m]);
            await bus.drained(TOPICS.marketTicks, GROUPS.ingestion);
            await expectExactlyOnce(store, ticks);
            const dead = bus.messages(TOPICS.marketTicksDlq).map((m) => JSON.parse(m.value!) as DeadLetter);
            expect(dead.map((d) => d.value).sort()).toEqual(malformed.map((m) => m.value).sort());
            for (const d of dead) {
              const expected = malformed.find((m) => m.value === d.value)!;
              expect(d.error.field).toBe(expected.field);
              expect(d.source.topic).toBe(TOPICS.marketTicks);
              expect(d.failedAt).toBe('2024-06-01T00:00:00.000Z');
            }
            expect(ingestion.stats()).toMatchObject({ appended: ticks.length, deadLettered: malformed.length });
          } finally {
            await ingestion.stop();
            await bus.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('dead-letters a tick id reused on another feed instead of blocking the partition', async () => {
    const bus = createInProcessBus({ partitions: 1 });
    const store = createMemoryEventStore();
    const ingestion = await startMarketIngestion({ bus, store, logger, recentTicks: 0 });
    const first: MarketTick = { kind: 'price', tickId: 'same', feed: 'btc-usd', at: '2024-01-01T00:00:00Z', priceMicroUsd: 1 };
    const clash: MarketTick = { ...first, feed: 'gpu-h100' };
    const later: MarketTick = { ...first, tickId: 'later' };
    await bus.publish(TOPICS.marketTicks, [first, clash, later].map((t) => ({ ...tickMessage(t), key: 'one-partition' })));
    await bus.drained(TOPICS.marketTicks, GROUPS.ingestion);
    await ingestion.stop();
    await bus.close();
    await expectExactlyOnce(store, [first, later]);
    const [dead] = bus.messages(TOPICS.marketTicksDlq).map((m) => JSON.parse(m.value!) as DeadLetter);
    expect(dead?.error).toMatchObject({ reason: 'conflict', field: 'tickId' });
  });
});

describe('dead letters', () => {
  const message = (value: string, headers: Record<string, string> = {}): ConsumedMessage => ({ topic: TOPICS.marketTicks, partition: 0, offset: '7', key: 'k', value, headers });

  it('stay far below the broker’s record limit whatever a message says of itself', async () => {
    const published: Array<{ value: string | null; headers?: Record<string, string> }> = [];
    const handler = createTickHandler({ store: createMemoryEventStore(), logger, publish: async (_topic, ms) => void published.push(...ms) });
    const unknownKeys = Object.fromEntries(Array.from({ length: 40_000 }, (_, i) => [`k${i}`, i]));
    const huge = JSON.stringify({ kind: 'price', tickId: 'big', feed: 'btc-usd', at: '2024-01-01T00:00:00Z', priceMicroUsd: 1, ...unknownKeys });
    expect(huge.length).toBeGreaterThan(500_000);
    await handler.handle(message(huge));
    const [dead] = published;
    const bytes = Buffer.byteLength(dead!.value!) + Object.values(dead!.headers ?? {}).reduce((n, v) => n + Buffer.byteLength(v), 0);
    expect(bytes).toBeLessThan(100_000);
    const record = JSON.parse(dead!.value!) as DeadLetter;
    expect(record.error.field.startsWith('k0,k1,k2')).toBe(true);
    expect(Buffer.byteLength(record.error.field)).toBeLessThanOrEqual(256);
    expect(Buffer.byteLength(record.value!)).toBeLessThanOrEqual(64 * 1024);
  });

  it('are not lost when publishing one fails: the message fails and comes again', async () => {
    let failures = 1;
    const published: unknown[] = [];
    const handler = createTickHandler({
      store: createMemoryEventStore(),
      logger,
      publish: async (_topic, ms) => {
        if (failures-- > 0) throw new Error('broker unavailable');
        published.push(...ms);
      },
    });
    await expect(handler.handle(message('not json'))).rejects.toThrow(/broker unavailable/);
    await handler.handle(message('not json')); // the redelivery
    expect(published).toHaveLength(1);
    expect(handler.stats().deadLettered).toBe(1);
  });

  it('are not made of good ticks with a header the store could not keep: the header is ignored', async () => {
    const store = createMemoryEventStore();
    const handler = createTickHandler({ store, logger, publish: async () => {} });
    const tick: MarketTick = { kind: 'price', tickId: 'ok-1', feed: 'btc-usd', at: '2024-01-01T00:00:00.000Z', priceMicroUsd: 1 };
    await handler.handle(message(JSON.stringify(tick), { 'correlation-id': 'a\u0000b' }));
    const [event] = await store.readAll();
    expect(event?.metadata.correlationId).toBe('tick:ok-1');
    expect(handler.stats()).toMatchObject({ appended: 1, deadLettered: 0 });
  });
});

describe('market ingestion and a store that refuses a message', () => {
  it('dead-letters a data exception of the store instead of retrying it forever', async () => {
    const bus = createInProcessBus({ partitions: 1 });
    const memory = createMemoryEventStore();
    const refusing: EventStore = {
      ...memory,
      async appendToStream(stream, events, options) {
        if ((events[0]?.data as MarketTick | undefined)?.tickId === 'poison')
          throw Object.assign(new Error('invalid input syntax for type json'), { code: '22P02' });
        return memory.appendToStream(stream, events, options);
      },
    };
    const ingestion = await startMarketIngestion({ bus, store: refusing, logger });
    const tick = (tickId: string): MarketTick => ({ kind: 'price', tickId, feed: 'btc-usd', at: '2024-01-01T00:00:00Z', priceMicroUsd: 1 });
    await bus.publish(TOPICS.marketTicks, [tick('before'), tick('poison'), tick('after')].map((t) => tickMessage(t)));
    await bus.drained(TOPICS.marketTicks, GROUPS.ingestion);
    await ingestion.stop();
    await bus.close();
    await expectExactlyOnce(memory, [tick('before'), tick('after')]);
    const dead = bus.messages(TOPICS.marketTicksDlq).map((m) => JSON.parse(m.value!) as DeadLetter);
    expect(dead.map((d) => d.error.reason)).toEqual(['store']);
  });
});

// ---- the PostgreSQL store deduplicates as well ------------------------------------------

for (const backend of postgresBackends()) {
  describe(`market ingestion into the PostgreSQL store (${backend.label})`, () => {
    it('records republished and redelivered ticks once', async () => {
      const db = await backend.open();
      let lost = 0;
      const bus = createInProcessBus({ partitions: 3, maxBatchSize: 7, loseCommit: () => lost++ < 12 });
      try {
        const store = await createPostgresEventStore(db);
        const ticks: MarketTick[] = Array.from({ length: 60 }, (_, i) =>
          i % 10 === 0
            ? { kind: 'network', tickId: `pg-${i}`, at: new Date(T0 + i * 1000).toISOString(), difficulty: 1.1e14, subsidySats: 312_500_000, feesPerBlockSats: 2_000_000 + i }
            : { kind: 'price', tickId: `pg-${i}`, feed: FEEDS[i % FEEDS.length]!, at: new Date(T0 + i * 1000).toISOString(), priceMicroUsd: plausiblePrice(FEEDS[i % FEEDS.length]!).min + i },
        );
        // two ingestion members in the group, every tick published twice, the second copy in reverse
        const a = await startMarketIngestion({ bus, store, logger, recentTicks: 0 });
        const b = await startMarketIngestion({ bus, store, logger, recentTicks: 0 });
        await bus.publish(TOPICS.marketTicks, ticks.map((t) => tickMessage(t)));
        await bus.publish(TOPICS.marketTicks, [...ticks].reverse().map((t) => tickMessage(t)));
        await bus.drained(TOPICS.marketTicks, GROUPS.ingestion, 30_000);
        await a.stop();
        await b.stop();
        await expectExactlyOnce(store, ticks);
        const stats = [a.stats(), b.stats()];
        expect(stats.reduce((n, s) => n + s.appended, 0)).toBe(60);
        expect(stats.reduce((n, s) => n + s.duplicates, 0)).toBeGreaterThanOrEqual(60);
      } finally {
        await bus.close();
        await db.drop();
      }
    });
  });
}
