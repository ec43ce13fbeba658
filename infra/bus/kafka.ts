/**
 * The Kafka adapter of the bus port (kafkajs 2.2.4).
 *
 * - Producer: idempotent (acks=all, one request in flight, kafkajs's unlimited
 *   retries), so a retry after a lost acknowledgement does not write a message twice
 *   within one producer session. `publish` waits through a broker outage, also one
 *   longer than kafkajs's connection retries (back-off capped at `maxRetryTimeMs`),
 *   until the broker stores the messages or the bus is closed. When the broker has
 *   lost the producer's state (UNKNOWN_PRODUCER_ID, OUT_OF_ORDER_SEQUENCE_NUMBER ...),
 *   kafkajs cannot recover that producer: it is replaced and the send retried, which
 *   can duplicate a message (consumers are idempotent anyway).
 * - Topics are created through the admin client on first use (partitions
 *   `numPartitions`); the broker's auto-creation stays allowed as a fallback.
 * - Consumers: `eachBatch` without auto-resolve; an offset is resolved only after the
 *   handler handled the message (`progress`) or the batch, and kafkajs commits
 *   resolved offsets after every batch. A failing handler is *not* thrown into
 *   kafkajs (where it would count against the consumer's retries and, for a
 *   TypeError, crash it for good): the batch ends, the partition backs off with
 *   heartbeats, and the next fetch starts at the first unhandled message.
 * - Outages: kafkajs restarts a crashed consumer when the error is retriable; when it
 *   would not (`restart: false`), this adapter builds a new consumer after a back-off,
 *   so a consumer never stays down and nothing reaches the process as an exception.
 *   A consumer replaced after a long outage waits up to one session timeout for the
 *   group to drop its predecessor (kafkajs has no static membership).
 * - Logs: kafkajs's logs go to pino (child `component: kafkajs`). Quiet by default:
 *   kafkajs level ERROR, reported at pino `warn` (they are failures kafkajs retries),
 *   and its one-line-per-attempt reconnection errors only at `debug`; the bus warns
 *   once itself when publishing waits for the broker or a consumer crashes.
 */
import kafkajs from 'kafkajs';
import type { Consumer, EachBatchPayload, LogEntry, Producer } from 'kafkajs';
import type { Logger } from '../logger.ts';
import type { BusMessage, ConsumedMessage, ConsumeOptions, MessageBatch, MessageBus, Subscription } from './types.ts';

const { Kafka, Partitioners, logLevel: KafkaLogLevel } = kafkajs;

export type KafkaLogLevelName = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

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

const LEVELS: Record<KafkaLogLevelName, number> = {
  nothing: KafkaLogLevel.NOTHING,
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
};

/** kafkajs's reports of each failed (re)connection attempt: one or two a second during an outage. */
const RECONNECT_NOISE = /Connection error|Failed to connect|Connection timeout|Closed connection|ECONNREFUSED|ECONNRESET/;

/**
 * kafkajs → pino. kafkajs ERRORs are mostly transient failures it retries: reported
 * as warnings, and each failed reconnection attempt only at debug (the bus itself
 * warns once that the broker is unavailable).
 */
export const kafkaLogCreator = (logger: Logger) => {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      const { message, timestamp: _t, logger: _l, stack: _s, ...extra } = log as LogEntry['log'] & { stack?: unknown };
      const fields = { namespace, ...extra };
      if (RECONNECT_NOISE.test(message)) child.debug(fields, message);
      else if (level === KafkaLogLevel.ERROR || level === KafkaLogLevel.WARN) child.warn(fields, message);
      else if (level === KafkaLogLevel.INFO) child.info(fields, message);
      else child.debug(fields, message);
    };
};

/** Producer errors after which kafkajs cannot use the producer id again. */
const FATAL_PRODUCER_ERRORS = new Set([
  'UNKNOWN_PRODUCER_ID',
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
  'PRODUCER_FENCED',
]);

/** Heartbeat errors that say this member no longer holds its partitions as it did. */
const MEMBERSHIP_LOST = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID']);

type ErrorLink = { name?: unknown; type?: unknown; retriable?: unknown; cause?: unknown };
/** An error and its causes (kafkajs wraps the original error in retry and non-retriable errors). */
const causes = (error: unknown): ErrorLink[] => {
  const chain: ErrorLink[] = [];
  for (let e = error as ErrorLink | undefined; e && typeof e === 'object' && chain.length < 6; e = e.cause as ErrorLink | undefined) chain.push(e);
  return chain;
};
const errorTypes = (error: unknown) => causes(error).flatMap((e) => (typeof e.type === 'string' ? [e.type] : []));

/** Errors of a broker that is down, restarting or moving leadership: sending again later will work. */
const OUTAGE_ERRORS = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSBrokerNotFound',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
  'KafkaJSLockTimeout',
  'KafkaJSNoBrokerAvailableError',
]);
export const isOutageError = (error: unknown) =>
  causes(error).some((e) => e.retriable === true || (typeof e.name === 'string' && OUTAGE_ERRORS.has(e.name)));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves with `promise`, or after `ms` with undefined (and logs): shutting down must not hang on a dead broker. */
const within = async <T>(promise: Promise<T>, ms: number, onTimeout: () => void): Promise<T | undefined> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve(undefined);
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
};

const headersOf = (headers: Record<string, unknown> | undefined): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    const one = Array.isArray(v) ? v[0] : v;
    if (one !== undefined && one !== null) out[k] = Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
  }
  return out;
};

/**
 * A client connected on first use and shared after; a failed connect is tried again
 * on the next use, and a broken client can be forgotten so the next use makes a new one.
 */
const lazyClient = <C extends { connect(): Promise<void> }>(create: () => C) => {
  let client: Promise<C> | undefined;
  return {
    get: (): Promise<C> =>
      (client ??= (async () => {
        const c = create();
        await c.connect();
        return c;
      })().catch((error) => {
        client = undefined;
        throw error;
      })),
    /** The connected client, if there is one (never throws). */
    current: async (): Promise<C | undefined> => client?.catch(() => undefined),
    async forget(broken: C) {
      if (client && (await client.catch(() => undefined)) === broken) client = undefined;
    },
  };
};

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

  // ---- producer --------------------------------------------------------------------
  const producer = lazyClient(() =>
    kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { ...retry, retries: Number.MAX_SAFE_INTEGER },
    }),
  );
  const getProducer = producer.get;

  const replaceProducer = async (broken: Producer) => {
    await producer.forget(broken);
    await within(broken.disconnect().catch(() => {}), 5_000, () => {});
  };

  /**
   * Sends until the broker has stored the messages: through an outage longer than
   * kafkajs's own retries (its connection errors surface then) it keeps trying,
   * until the bus is closed. Errors that are not about availability (an invalid
   * topic, a message too large) are thrown at once.
   */
  const publish = async (topic: string, messages: readonly BusMessage[]) => {
    if (closed) throw new Error('bus closed');
    if (messages.length === 0) return;
    await ensureTopic(topic);
    const record = { topic, acks: -1, messages: messages.map((m) => ({ key: m.key, value: m.value, ...(m.headers ? { headers: m.headers } : {}) })) };
    let producerResets = 0;
    for (let attempt = 1; ; attempt++) {
      let p: Producer | undefined;
      try {
        p = await getProducer();
        await p.send(record);
        if (attempt > 1) log.info({ topic, attempt }, 'published after the broker came back');
        return;
      } catch (error) {
        if (closed) throw error;
        if (p && errorTypes(error).some((t) => FATAL_PRODUCER_ERRORS.has(t)) && producerResets++ < 5) {
          log.warn({ err: error, topic, attempt }, 'idempotent producer state lost on the broker; replacing the producer and sending again');
          await replaceProducer(p);
          continue;
        }
        if (!isOutageError(error)) throw error;
        const delay = Math.min(initialRetryTime * 2 ** Math.min(attempt - 1, 10), maxRetryTime);
        (attempt === 1 ? log.warn.bind(log) : log.debug.bind(log))({ err: error, topic, attempt, retryInMs: delay }, 'broker unavailable; publish waits and retries');
        await sleep(delay);
      }
    }
  };

  // ---- consumers -------------------------------------------------------------------
  const consume = async (consumeOptions: ConsumeOptions): Promise<Subscription> => {
    if (closed) throw new Error('bus closed');
    const { topic, groupId, handle } = consumeOptions;
    const clog = log.child({ topic, groupId });

    let stopped = false;
    let current: Consumer | undefined;
    let restartTimer: NodeJS.Timeout | undefined;
    let restarts = 0;
    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    /** Consecutive handler failures per partition at one position (the first unhandled offset), for the back-off. */
    const failures = new Map<number, { at: string; count: number }>();

    const eachBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) => {
      if (batch.messages.length === 0) return;
      // a heartbeat refused because the group is rebalancing (or has moved on without us) means the
      // partition may be someone else's already: the handler is told to stop at the next message
      let lostMembership = false;
      const isActive = () => !stopped && !lostMembership && isRunning() && !isStale();
      const beat = () =>
        heartbeat().catch((error: unknown) => {
          if (errorTypes(error).some((t) => MEMBERSHIP_LOST.has(t))) lostMembership = true;
        });
      const messages: ConsumedMessage[] = batch.messages.map((m) => ({
        topic: batch.topic,
        partition: batch.partition,
        offset: m.offset,
        key: m.key ? m.key.toString('utf8') : null,
        value: m.value ? m.value.toString('utf8') : null,
        headers: headersOf(m.headers),
      }));
      const offsets = new Set(messages.map((m) => m.offset));
      // a long batch keeps the membership alive: kafkajs only heartbeats between batches by itself
      // (its heartbeat() is throttled to the heartbeat interval, so calling it often is cheap)
      let lastBeat = Date.now();
      let handled: string | undefined;
      const view: MessageBatch = {
        topic: batch.topic,
        partition: batch.partition,
        messages,
        progress(offset) {
          if (offsets.has(offset)) {
            resolveOffset(offset);
            if (handled === undefined || BigInt(offset) > BigInt(handled)) handled = offset;
          }
          if (Date.now() - lastBeat >= heartbeatInterval) {
            lastBeat = Date.now();
            void beat();
          }
        },
        isActive,
      };
      try {
        await handle(view);
        // the last message's offset: kafkajs maps it to the batch's end (past control records)
        if (isActive()) resolveOffset(messages[messages.length - 1]!.offset);
        failures.delete(batch.partition);
      } catch (error) {
        // the back-off grows only while the handler keeps failing at the same message
        const at = handled === undefined ? messages[0]!.offset : (BigInt(handled) + 1n).toString();
        const previous = failures.get(batch.partition);
        const n = previous?.at === at ? previous.count + 1 : 1;
        failures.set(batch.partition, { at, count: n });
        const delay = Math.min(handlerRetryDelay * 2 ** (n - 1), 10_000);
        clog.warn(
          { err: error, partition: batch.partition, offset: at, failures: n, retryInMs: delay },
          'bus handler failed; the unhandled rest of the batch will be delivered again',
        );
        // back off with heartbeats so the group keeps us; the next fetch starts after the last resolved offset
        const until = Date.now() + delay;
        try {
          while (isActive() && Date.now() < until) {
            await sleep(Math.min(500, until - Date.now()));
            await beat();
          }
        } catch {
          // rebalancing or the coordinator moved: kafkajs rejoins on the next fetch
        }
      }
    };

    const scheduleRestart = (reason: string) => {
      if (stopped || closed || restartTimer) return;
      restarts++;
      const delay = Math.min(initialRetryTime * 2 ** Math.min(restarts, 10), maxRetryTime);
      clog.warn({ reason, restarts, retryInMs: delay }, 'rebuilding the consumer');
      restartTimer = setTimeout(() => {
        restartTimer = undefined;
        void start();
      }, delay);
    };

    const start = async () => {
      if (stopped || closed) return;
      const previous = current;
      current = undefined;
      if (previous) await within(previous.disconnect().catch(() => {}), 10_000, () => clog.warn('old consumer did not disconnect in time'));
      await ensureTopic(topic);
      if (stopped || closed) return;
      const consumer = kafka.consumer({
        groupId,
        retry: { ...retry, restartOnFailure: async () => true },
        allowAutoTopicCreation: true,
        sessionTimeout,
        heartbeatInterval,
        maxWaitTimeInMs: options.maxWaitTimeMs ?? 1_000,
      });
      current = consumer;
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        restarts = 0;
        clog.debug({ memberAssignment: payload.memberAssignment }, 'joined consumer group');
        markReady();
      });
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        clog.warn({ err: payload.error, restart: payload.restart }, 'consumer crashed');
        if (!payload.restart && current === consumer) scheduleRestart(`crash: ${payload.error.message}`);
      });
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: [topic], fromBeginning: consumeOptions.fromBeginning ?? true });
        if (current !== consumer) {
          // stopped meanwhile, possibly before the connection was up
          await within(consumer.disconnect().catch(() => {}), 10_000, () => {});
          return;
        }
        await consumer.run({ eachBatchAutoResolve: false, autoCommit: true, partitionsConsumedConcurrently: 1, eachBatch });
      } catch (error) {
        clog.warn({ err: error }, 'consumer could not start');
        if (current === consumer) scheduleRestart(`start: ${(error as Error).message}`);
      }
    };

    void start();

    const subscription: Subscription = {
      ready,
      async stop() {
        if (stopped) return;
        stopped = true;
        subscriptions.delete(subscription);
        clearTimeout(restartTimer);
        markReady();
        const c = current;
        current = undefined;
        if (c) await within(c.disconnect().catch(() => {}), 15_000, () => clog.warn('consumer did not disconnect in time'));
      },
    };
    subscriptions.add(subscription);
    return subscription;
  };

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
    publish,
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
