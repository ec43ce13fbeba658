/**
 * Reliability: market ingestion through a real Kafka broker that restarts in the
 * middle of the stream (and a store that loses some acknowledgements, forcing
 * redeliveries) loses no tick and records none twice (docs/design.md invariant
 * "each tick becomes exactly one event"), into the PostgreSQL event store (PGlite,
 * or the server when TEST_DATABASE_URL is set).
 *
 * Runs only when KAFKA_BROKERS is set. It restarts the broker with
 * ops/kafka/restart.sh, so KAFKA_BROKERS must name the broker those scripts manage:
 * the default 127.0.0.1:9092, or the one given by KAFKA_PORT / KAFKA_DATA_DIR (when
 * KAFKA_PORT is unset it is taken from the first broker in KAFKA_BROKERS). Topic
 * and group names get a per-run suffix, so runs do not see each other's messages.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { startMarketIngestion, tickMessage, type DeadLetter, type MarketIngestion } from '../../commands/ingestion/market-ingestion.ts';
import { MARKET_NODES, marketStream, plausiblePrice, powerFeed, type MarketTick } from '../../domain/market/ticks.ts';
import { createKafkaBus, parseBrokers, type KafkaLogLevelName } from '../../infra/bus/kafka.ts';
import type { ConsumedMessage, MessageBus, Subscription } from '../../infra/bus/types.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres/store.ts';
import type { EventStore } from '../../infra/event-store/types.ts';
import { uuidFromName } from '../../infra/ids.ts';
import { createLogger } from '../../infra/logger.ts';
import { postgresBackends } from '../support/databases.ts';

const BROKERS = process.env.KAFKA_BROKERS;
const RESTART_SCRIPT = path.resolve(import.meta.dirname, '../../ops/kafka/restart.sh');

const N = Number(process.env.KAFKA_RELIABILITY_TICKS ?? 2_000);
const BATCH = 50;
/** Pause between publishes, so the stream is still flowing when the broker goes down and comes back. */
const PACE_MS = 40;

const FEEDS = ['btc-usd', ...MARKET_NODES.map(powerFeed), 'gpu-h100', 'gpu-a100', 'gpu-l40s'] as const;

const makeTicks = (run: string): MarketTick[] =>
  Array.from({ length: N }, (_, i) => {
    const at = new Date(Date.parse('2024-06-01T00:00:00Z') + i * 1000).toISOString();
    return i % 25 === 0
      ? { kind: 'network', tickId: `${run}-${i}`, at, difficulty: 88_000_000_000_000, subsidySats: 312_500_000, feesPerBlockSats: 1_500_000 + i }
      : { kind: 'price', tickId: `${run}-${i}`, feed: FEEDS[i % FEEDS.length]!, at, priceMicroUsd: plausiblePrice(FEEDS[i % FEEDS.length]!).min + i };
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const waitFor = async (what: string, condition: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 200) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await Promise.resolve().then(condition).catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
};

/** ops/kafka/restart.sh; resolves when the broker is back (the script blocks until then). */
const restartBroker = () => {
  const env = { ...process.env };
  env.KAFKA_PORT ??= parseBrokers(BROKERS!)[0]!.split(':')[1]!;
  const started = Date.now();
  return new Promise<{ ms: number; output: string }>((resolve, reject) => {
    execFile('bash', [RESTART_SCRIPT], { env, timeout: 100_000 }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (error) reject(new Error(`restart.sh failed (${error.message}):\n${output}`));
      else resolve({ ms: Date.now() - started, output });
    });
  });
};

describe.runIf(BROKERS)('kafka ingestion across a broker restart', () => {
  it(`records ${N} ticks exactly once while the broker restarts mid-stream, and dead-letters a malformed one`, { timeout: 150_000 }, async () => {
    const run = `rel-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const topic = `hcp.market.ticks.${run}`;
    const dlqTopic = `hcp.market.ticks.dlq.${run}`;
    const groupId = `hcp-ingestion-${run}`;
    const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
    const busOptions = {
      brokers: parseBrokers(BROKERS!),
      logger,
      kafkaLogLevel: (process.env.TEST_KAFKAJS_LOG_LEVEL ?? 'error') as KafkaLogLevelName,
      maxRetryTimeMs: 1_000,
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 1_000,
    };
    const backends = postgresBackends();
    const backend = backends[backends.length - 1]!; // the server when TEST_DATABASE_URL is set, PGlite otherwise
    const db = await backend.open();
    // two processes' worth of clients: the feed that publishes and the ingestion service
    const feedBus: MessageBus = createKafkaBus({ ...busOptions, clientId: 'hcp-feed-test' });
    const ingestionBus: MessageBus = createKafkaBus({ ...busOptions, clientId: 'hcp-ingestion-test', handlerRetryDelayMs: 50 });
    const dlqBus: MessageBus = createKafkaBus({ ...busOptions, clientId: 'hcp-dlq-reader-test' });
    let ingestion: MarketIngestion | undefined;
    let dlqReader: Subscription | undefined;
    const t0 = Date.now();
    const timings: Record<string, number> = {};
    try {
      const store = await createPostgresEventStore(db);
      // every 150th append is stored but its acknowledgement lost: the bus redelivers, the store deduplicates
      let appends = 0;
      let lostAcks = 0;
      const lossyStore: EventStore = {
        ...store,
        async appendToStream(stream, events, opts) {
          const result = await store.appendToStream(stream, events, opts);
          if (++appends % 150 === 0) {
            lostAcks++;
            throw new Error('connection lost before the commit was acknowledged');
          }
          return result;
        },
      };
      // without the recent-tick cache: every duplicate and redelivery must be caught by the store itself
      ingestion = await startMarketIngestion({ bus: ingestionBus, store: lossyStore, logger, topic, dlqTopic, groupId, recentTicks: 0 });
      await ingestion.subscription.ready;
      timings.ready = Date.now() - t0;

      const ticks = makeTicks(run);
      const batches: MarketTick[][] = [];
      for (let i = 0; i < ticks.length; i += BATCH) batches.push(ticks.slice(i, i + BATCH));
      const restartAt = Math.floor(batches.length / 3);
      const malformed = [
        { key: marketStream(ticks[0]!), value: '{"kind":"price","tickId":' },
        { key: marketStream(ticks[1]!), value: JSON.stringify({ ...ticks[1], priceMicroUsd: 'sixty-seven thousand' }) },
      ];

      let restart: Promise<{ ms: number; output: string }> | undefined;
      let republished = 0;
      for (const [b, batch] of batches.entries()) {
        if (b === restartAt) restart = restartBroker();
        await feedBus.publish(topic, batch.map((t) => tickMessage(t)));
        // duplicates as a producer retry or a replaying feed would make them: every 7th batch again
        if (b % 7 === 3) {
          await feedBus.publish(topic, batches[b - 1]!.map((t) => tickMessage(t)));
          republished += batches[b - 1]!.length;
        }
        if (b === restartAt - 2) await feedBus.publish(topic, [malformed[0]!]);
        if (b === restartAt + 3) await feedBus.publish(topic, [malformed[1]!]);
        await sleep(PACE_MS);
      }
      timings.published = Date.now() - t0;
      const restarted = await restart!;
      timings.restartScript = restarted.ms;
      expect(restarted.output).toMatch(/stopping pid \d+/);
      expect(restarted.output).toMatch(/ready \(pid \d+\)/);

      // every tick recorded, then a quiet period in which no late duplicate may appear
      const count = async () => Number((await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM hcp_events`))[0]!.n);
      await waitFor(`${N} tick events`, async () => (await count()) >= N, 60_000);
      await waitFor('ingestion lag 0', async () => (await ingestionBus.lag(topic, groupId)) === 0, 30_000);
      await sleep(1_000);
      timings.ingested = Date.now() - t0;

      const events = await store.readAll();
      expect(events).toHaveLength(N);
      expect(new Set(events.map((e) => e.id)).size).toBe(N);
      const byTickId = new Map(events.map((e) => [(e.data as MarketTick).tickId, e]));
      expect(byTickId.size).toBe(N);
      for (const tick of ticks) {
        const e = byTickId.get(tick.tickId);
        expect(e?.id, tick.tickId).toBe(uuidFromName(`tick:${tick.tickId}`));
        expect(e?.streamName).toBe(marketStream(tick));
      }

      // the malformed messages are on the DLQ, with the field at fault
      const dead: ConsumedMessage[] = [];
      dlqReader = await dlqBus.consume({ topic: dlqTopic, groupId: `dlq-reader-${run}`, handle: async (b) => void dead.push(...b.messages) });
      await waitFor('2 dead letters', () => dead.length >= 2, 30_000);
      const letters = dead.map((m) => JSON.parse(m.value!) as DeadLetter);
      expect(letters.map((l) => l.value).sort()).toEqual(malformed.map((m) => m.value).sort());
      expect(letters.map((l) => l.error.field).sort()).toEqual(['(json)', 'priceMicroUsd']);
      expect(letters.every((l) => l.source.topic === topic)).toBe(true);
      timings.total = Date.now() - t0;

      const stats = ingestion.stats();
      console.info(`[kafka-ingestion] ${N} ticks, ${lostAcks} lost acks, ${JSON.stringify(stats)}, timings ms ${JSON.stringify(timings)}`);
      // every tick was delivered, plus the republished ones, plus one redelivery per lost acknowledgement
      // (at least), all absorbed by the store: an append is acknowledged as new or as a duplicate, or lost
      expect(lostAcks).toBeGreaterThan(5);
      expect(stats.received).toBeGreaterThanOrEqual(N + republished + lostAcks + malformed.length);
      expect(stats.appended + stats.duplicates + lostAcks).toBe(stats.received - stats.deadLettered);
      expect(stats.deadLettered).toBeGreaterThanOrEqual(2);
    } finally {
      await dlqReader?.stop();
      await ingestion?.stop();
      await Promise.allSettled([feedBus.close(), ingestionBus.close(), dlqBus.close()]);
      await db.drop();
      await deleteTopics([topic, dlqTopic]).catch(() => {});
    }
  });
});

/** Best effort: keep the test broker tidy. */
const deleteTopics = async (topics: string[]) => {
  const admin = new kafkajs.Kafka({ brokers: parseBrokers(BROKERS!), clientId: 'hcp-test-cleanup', logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics, timeout: 5_000 });
  } finally {
    await admin.disconnect();
  }
};
