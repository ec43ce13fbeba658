/**
 * The Kafka adapter of the bus port (kafkajs 2.2.4), in parts:
 *
 * - `kafka/producer.ts`: idempotent publishing that waits through broker outages;
 * - `kafka/consumer.ts`: consumer groups that resolve an offset only once it is handled, back off
 *   a failing handler with heartbeats, and build a consumer again when kafkajs would not;
 * - `kafka/errors.ts`: which kafkajs errors are outages, lost producer state or lost membership;
 * - `kafka/logs.ts`: kafkajs's logs through pino, quiet by default;
 * - here: the client, topics created through the admin client on first use (partitions
 *   `numPartitions`; the broker's auto-creation stays allowed as a fallback), consumer lag, close.
 *
 * A consumer replaced after a long outage waits up to one session timeout for the group to drop
 * its predecessor (kafkajs has no static membership).
 */
import kafkajs from 'kafkajs';
import type { Logger } from '../logger.ts';
import type { MessageBus, Subscription } from './types.ts';
import { lazyClient, within } from './kafka/clients.ts';
import { kafkaConsumers } from './kafka/consumer.ts';
import type { KafkaContext } from './kafka/context.ts';
import { kafkaLogCreator, LEVELS, type KafkaLogLevelName } from './kafka/logs.ts';
import { kafkaProducer } from './kafka/producer.ts';

export type { KafkaLogLevelName } from './kafka/logs.ts';

const { Kafka } = kafkajs;

export type KafkaBusOptions = {
  /** `host:port` seed brokers (KAFKA_BROKERS split on commas). */
  brokers: string[];
  logger: Logger;
  clientId?: string;
  /** kafkajs's own log level (default `error`, reported at pino warn). */
  kafkaLogLevel?: KafkaLogLevelName;
  /** Partitions of topics this bus creates (default 3). */
  numPartitions?: number;
  /** Back-off of kafkajs retries: first and largest pause (defaults 300 ms and 5 s). */
  initialRetryTimeMs?: number;
  maxRetryTimeMs?: number;
  /**
   * Consumer group session timeout (default 15 s) and heartbeat interval (default 3 s).
   * The session bounds how long a group waits for a member that vanished, e.g. the
   * consumer kafkajs replaced after an outage longer than its retries: shorter
   * sessions resume sooner; a handler keeps its session alive through `progress`.
   */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Longest wait of an empty fetch (default 1 s: bounds how long `stop` waits on an idle consumer). */
  maxWaitTimeMs?: number;
  /** First back-off after a failed handler, doubled per consecutive failure up to 10 s (default 200 ms). */
  handlerRetryDelayMs?: number;
};

export const parseBrokers = (list: string) =>
  list
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);

export const createKafkaBus = (options: KafkaBusOptions): MessageBus => {
  const log = options.logger.child({ component: 'bus', bus: 'kafka' });
  const initialRetryTime = options.initialRetryTimeMs ?? 300;
  const maxRetryTime = options.maxRetryTimeMs ?? 5_000;
  const numPartitions = options.numPartitions ?? 3;
  const handlerRetryDelay = options.handlerRetryDelayMs ?? 200;
  const sessionTimeout = options.sessionTimeoutMs ?? 15_000;
  const heartbeatInterval = options.heartbeatIntervalMs ?? 3_000;
  // explicit, complete retry settings: kafkajs switches to tiny test defaults when NODE_ENV=test
  const retry = { initialRetryTime, maxRetryTime, factor: 0.2, multiplier: 2, retries: 10 };

  const kafka = new Kafka({
    clientId: options.clientId ?? 'hcp',
    brokers: options.brokers,
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry,
    logLevel: LEVELS[options.kafkaLogLevel ?? 'error'],
    logCreator: kafkaLogCreator(options.logger),
  });

  let closed = false;
  const subscriptions = new Set<Subscription>();

  // ---- admin (topics, lag) ------------------------------------------------------
  const admin = lazyClient(() => kafka.admin({ retry }));
  const getAdmin = admin.get;

  const ensured = new Map<string, Promise<void>>();
  /** Best effort: the broker's auto-creation covers a failure here. */
  const ensureTopic = (topic: string) => {
    let p = ensured.get(topic);
    if (!p) {
      p = (async () => {
        const a = await getAdmin();
        // look first: creating an existing topic works but kafkajs logs the broker's refusal as an error
        if ((await a.listTopics()).includes(topic)) return;
        await a.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions }] });
      })().catch((error) => {
        ensured.delete(topic);
        log.debug({ err: error, topic }, 'could not create topic; relying on auto-creation');
      });
      ensured.set(topic, p);
    }
    return p;
  };

  const ctx: KafkaContext = {
    kafka,
    log,
    retry,
    settings: { handlerRetryDelay, sessionTimeout, heartbeatInterval, maxWaitTime: options.maxWaitTimeMs ?? 1_000 },
    isClosed: () => closed,
    ensureTopic,
    subscriptions,
  };
  const producer = kafkaProducer(ctx);
  const consume = kafkaConsumers(ctx);

  const lag = async (topic: string, groupId: string) => {
    const a = await getAdmin();
    const [ends, committed] = await Promise.all([a.fetchTopicOffsets(topic), a.fetchOffsets({ groupId, topics: [topic] })]);
    const byPartition = new Map((committed.find((t) => t.topic === topic)?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    let total = 0n;
    for (const end of ends) {
      const low = BigInt(end.low);
      const c = byPartition.get(end.partition) ?? -1n;
      const from = c < low ? low : c;
      total += BigInt(end.high) - from;
    }
    return Number(total);
  };

  return {
    kind: 'kafka',
    publish: producer.publish,
    consume,
    lag,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...subscriptions].map((s) => s.stop()));
      const [p, a] = await Promise.all([producer.current(), admin.current()]);
      await within(
        Promise.allSettled([p?.disconnect(), a?.disconnect()]),
        10_000,
        () => log.warn('producer/admin did not disconnect in time'),
      );
    },
  };
};
