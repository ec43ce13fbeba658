/**
 * Ingestion throughput: `ticks` price ticks over ten feeds published to the bus as fast as
 * the publisher can (batches of `publishBatch`), consumed by market ingestion
 * (startMarketIngestion, one member of a fresh consumer group) and appended as one event
 * each. Measured from the first publish to the last event appended, as seen by a tap on
 * the store. Ingestion runs alone: no projection or process manager follows the store.
 * Kafka runs use a fresh topic per run (deleted at the end) and a fresh group.
 */
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { startMarketIngestion, tickMessage } from '../../commands/ingestion/market-ingestion.ts';
import { createInProcessBus, createKafkaBus, parseBrokers, TOPICS, type MessageBus } from '../../infra/bus/index.ts';
import { partitionOf } from '../../infra/bus/in-process.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres/store.ts';
import { createLogger } from '../../infra/logger.ts';
import { median } from '../support/stats.ts';
import type { OpenBackend } from './backends.ts';
import { THROUGHPUT_FEEDS, throughputTicks } from './market.ts';
import { tapStore } from './tap.ts';
import { countingDatabase, createCounts, difference, snapshot } from './counting.ts';
import { measureLoad, type Load } from './load.ts';

export type BusKind = 'in-process' | 'kafka';

export type IngestionConfig = {
  ticks: number;
  runs: number;
  /** One uncounted run of this many ticks first. */
  warmupTicks: number;
  publishBatch: number;
  /** A run that takes longer fails. */
  runTimeoutMs: number;
};

export type ThroughputRun = {
  ticks: number;
  /** First publish → last event appended. */
  seconds: number;
  ticksPerSecond: number;
  /** First publish → the last publish call returned (all ticks on the bus). */
  publishSeconds: number;
  /** First publish → first event appended. */
  firstAppendMs: number;
  /** From the first publish to the last append. */
  load: Load;
  /** Statements per tick (calls, summed ms) by name. */
  sqlPerTick: Array<{ statement: string; calls: number; ms: number }>;
};

export type IngestionResult = {
  bus: BusKind;
  backend: string;
  runs: ThroughputRun[];
  median: { ticksPerSecond: number; seconds: number; publishSeconds: number; firstAppendMs: number };
  /** The run of the median throughput. */
  medianRun: ThroughputRun;
};

export const runIngestionThroughput = async (
  backend: OpenBackend,
  busKind: BusKind,
  config: IngestionConfig,
  log: (line: string) => void,
): Promise<IngestionResult> => {
  const logger = createLogger(process.env.BENCH_LOG_LEVEL ?? 'silent');
  const counts = createCounts();
  const store = tapStore(await createPostgresEventStore(countingDatabase(backend.db, counts)));
  const brokers = parseBrokers(process.env.KAFKA_BROKERS ?? '');
  const kafkaBus = busKind === 'kafka' ? createKafkaBus({ brokers, logger, clientId: 'hcp-bench-switch' }) : undefined;
  const topics: string[] = [];
  const groups: string[] = [];

  const oneRun = async (ticks: number): Promise<ThroughputRun> => {
    const tag = `tp-${randomBytes(4).toString('hex')}`;
    const bus: MessageBus = kafkaBus ?? createInProcessBus({ logger });
    const topic = busKind === 'kafka' ? `hcp.bench.ticks.${tag}` : TOPICS.marketTicks;
    if (busKind === 'kafka') topics.push(topic);
    const prefix = `tick:${tag}:`;
    let appended = 0;
    let firstAt: number | undefined;
    let resolveDone: (at: number) => void = () => {};
    const done = new Promise<number>((resolve) => (resolveDone = resolve));
    const unlisten = store.listen(({ at, event }) => {
      if (!event.metadata.commandId.startsWith(prefix)) return;
      firstAt ??= at;
      if (++appended === ticks) resolveDone(at);
    });
    const groupId = `hcp-bench-ingestion-${tag}`;
    if (busKind === 'kafka') groups.push(groupId);
    const ingestion = await startMarketIngestion({ bus, store, logger, topic, groupId });
    try {
      await ingestion.subscription.ready;
      const messages = throughputTicks(tag, ticks, Date.parse('2025-01-01T00:00:00Z')).map((t) => tickMessage(t));
      const before = snapshot(counts);
      const load = measureLoad();
      const start = performance.now();
      for (let i = 0; i < messages.length; i += config.publishBatch) await bus.publish(topic, messages.slice(i, i + config.publishBatch));
      const published = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const end = await Promise.race([
        done,
        new Promise<never>(
          (_, reject) =>
            (timer = setTimeout(
              () => reject(new Error(`${busKind} on ${backend.name}: ${appended} of ${ticks} ticks appended after ${config.runTimeoutMs} ms (${JSON.stringify(ingestion.stats())})`)),
              config.runTimeoutMs,
            )),
        ),
      ]).finally(() => clearTimeout(timer));
      const loadOfRun = load();
      const seconds = (end - start) / 1000;
      const per = (x: number) => Math.round((x / ticks) * 1000) / 1000;
      const sqlPerTick = [...difference(snapshot(counts), before).statements]
        .map(([statement, c]) => ({ statement, calls: per(c.calls), ms: per(c.ms) }))
        .filter((c) => c.calls > 0)
        .sort((a, b) => b.calls - a.calls);
      return { ticks, seconds, ticksPerSecond: ticks / seconds, publishSeconds: (published - start) / 1000, firstAppendMs: firstAt! - start, load: loadOfRun, sqlPerTick };
    } finally {
      unlisten();
      await ingestion.stop();
      if (!kafkaBus) await bus.close();
    }
  };

  try {
    await oneRun(config.warmupTicks);
    const runs: ThroughputRun[] = [];
    for (let r = 0; r < config.runs; r++) {
      const run = await oneRun(config.ticks);
      runs.push(run);
      log(`  ${busKind} on ${backend.name}, run ${r + 1}: ${Math.round(run.ticksPerSecond).toLocaleString('en-US')} ticks/s`);
    }
    return {
      bus: busKind,
      backend: backend.label,
      runs,
      median: {
        ticksPerSecond: median(runs.map((r) => r.ticksPerSecond)),
        seconds: median(runs.map((r) => r.seconds)),
        publishSeconds: median(runs.map((r) => r.publishSeconds)),
        firstAppendMs: median(runs.map((r) => r.firstAppendMs)),
      },
      medianRun: [...runs].sort((a, b) => a.ticksPerSecond - b.ticksPerSecond)[Math.floor((runs.length - 1) / 2)]!,
    };
  } finally {
    await kafkaBus?.close();
    if (topics.length > 0)
      await deleteTopicsAndGroups(brokers, topics, groups).catch((error) => log(`  could not delete the bench's Kafka topics and groups: ${(error as Error).message}`));
  }
};

/**
 * How many of the feeds (message keys) each of 3 partitions gets: the in-process bus's md5,
 * kafkajs's default partitioner (murmur2). A key stays on one partition, so the busiest
 * partition bounds what concurrent partition consumers can gain.
 */
export const partitionSpread = (partitions = 3) => {
  const keys = THROUGHPUT_FEEDS.map((f) => `market-${f}`);
  const kafkaPartition = kafkajs.Partitioners.DefaultPartitioner();
  const metadata = Array.from({ length: partitions }, (_, p) => ({ partitionId: p, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }));
  const count = (of: (key: string) => number) => {
    const spread = new Array<number>(partitions).fill(0);
    for (const k of keys) spread[of(k)]!++;
    return spread;
  };
  return {
    'in-process': count((k) => partitionOf(k, partitions)),
    kafka: count((k) => kafkaPartition({ topic: 't', partitionMetadata: metadata, message: { key: k, value: '' } })),
  };
};

/** The bench's own topics and consumer groups only, through the admin client (the bus port has no deletion). */
const deleteTopicsAndGroups = async (brokers: string[], topics: string[], groups: string[]) => {
  const admin = new kafkajs.Kafka({ clientId: 'hcp-bench-switch-cleanup', brokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics, timeout: 10_000 });
    await admin.deleteGroups(groups);
  } finally {
    await admin.disconnect();
  }
};
