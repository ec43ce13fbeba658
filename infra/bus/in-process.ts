/**
 * The in-process bus: the embedded default (no KAFKA_BROKERS) and the bus of unit
 * and property tests. It keeps Kafka's semantics where handlers can tell:
 * topics are partitioned append-only logs (partition = hash of the key), a group's
 * partitions are shared among its members, offsets are committed per group only
 * after the handler succeeded, and a failed batch is delivered again after a
 * back-off. Nothing persists; a partition keeps its last `retainPerPartition` messages and
 * every message some group has not committed yet, so that a long run's memory is bounded
 * (Kafka's retention, by count instead of time: a group that joins later starts at the
 * oldest message kept).
 *
 * `loseCommit` injects a crash between handling and committing (the batch is
 * delivered again), for tests of at-least-once consumers.
 */
import { createWakeSignal } from '../event-store/polling-subscription.ts';
import { createHash } from 'node:crypto';
import type { Logger } from '../logger.ts';
import type { BusMessage, ConsumedMessage, ConsumeOptions, MessageBatch, MessageBus, Subscription } from './types.ts';

export type InProcessBusOptions = {
  /** Partitions of every topic (default 3). */
  partitions?: number;
  /** Most messages handed to one handler call (default 100). */
  maxBatchSize?: number;
  /** Committed messages a partition keeps (default 100,000). */
  retainPerPartition?: number;
  /** First back-off after a failed batch, doubled per consecutive failure up to 5 s (default 50 ms). */
  retryDelayMs?: number;
  logger?: Logger;
  /** Test hook: true drops the commit of a batch that was handled, as if the consumer died before committing. */
  loseCommit?: (batch: { topic: string; groupId: string; partition: number; firstOffset: number; lastOffset: number }) => boolean;
};

export type InProcessBus = MessageBus & {
  readonly kind: 'in-process';
  /** Every message of a topic, partition by partition (for tests and diagnostics). */
  messages(topic: string): ConsumedMessage[];
  /** Resolves when `groupId` has committed every message of `topic` published so far (or after `timeoutMs`, rejecting). */
  drained(topic: string, groupId: string, timeoutMs?: number): Promise<void>;
};



/** A partition's retained messages: the one at `base + i` is `messages[i]`. */
type Partition = { base: number; messages: ConsumedMessage[] };
type Topic = { name: string; partitions: Partition[] };

const endOf = (p: Partition) => p.base + p.messages.length;

type Member = {
  options: ConsumeOptions;
  stopped: boolean;
  /** Handler calls in progress, so that stop() can wait for them. */
  inFlight: Set<Promise<unknown>>;
};

type Group = {
  id: string;
  topic: Topic;
  committed: number[];
  members: Member[];
  running: boolean[];
  loops: Set<Promise<void>>;
};

export const partitionOf = (key: string, partitions: number) =>
  createHash('md5').update(key).digest().readUInt32BE(0) % partitions;

const MAX_BACKOFF_MS = 5_000;

export const createInProcessBus = (options: InProcessBusOptions = {}): InProcessBus => {
  const partitions = options.partitions ?? 3;
  const maxBatchSize = options.maxBatchSize ?? 100;
  const retryDelayMs = options.retryDelayMs ?? 50;
  const retain = options.retainPerPartition ?? 100_000;
  const log = options.logger;
  const topics = new Map<string, Topic>();
  const groups = new Map<string, Group>();
  /** Published messages, new members, stops, close: loops re-check their state. */
  const changed = createWakeSignal();
  let closed = false;

  const topicOf = (name: string) => {
    let t = topics.get(name);
    if (!t) {
      t = { name, partitions: Array.from({ length: partitions }, () => ({ base: 0, messages: [] })) };
      topics.set(name, t);
    }
    return t;
  };

  const groupOf = (topic: string, groupId: string) => {
    const key = `${groupId}\u0000${topic}`;
    let g = groups.get(key);
    if (!g) {
      g = { id: groupId, topic: topicOf(topic), committed: Array(partitions).fill(0), members: [], running: Array(partitions).fill(false), loops: new Set() };
      groups.set(key, g);
    }
    return g;
  };

  const ownerOf = (g: Group, p: number) => (g.members.length === 0 ? undefined : g.members[p % g.members.length]);

  const runPartition = async (g: Group, p: number) => {
    // consecutive failures at one position: the back-off grows only while no progress is made
    let failures = 0;
    let failedAt = -1;
    try {
      for (;;) {
        // yield to the event loop between batches: handlers that settle in microtasks only
        // (the memory store, PGlite) must not starve timers and I/O, as a busy consumer would
        await new Promise((r) => setImmediate(r));
        const owner = ownerOf(g, p);
        if (closed || !owner) return;
        const log_ = g.topic.partitions[p]!;
        // a group behind what is kept (it joined after older messages went) starts at the oldest kept
        const from = Math.max(g.committed[p]!, log_.base);
        if (from >= endOf(log_)) {
          await changed.wait(1_000);
          continue;
        }
        const messages = log_.messages.slice(from - log_.base, from - log_.base + maxBatchSize).map((m) => ({ ...m, headers: { ...m.headers } }));
        const end = from + messages.length;
        let progressed = from;
        const isActive = () => !closed && !owner.stopped && ownerOf(g, p) === owner;
        const batch: MessageBatch = {
          topic: g.topic.name,
          partition: p,
          messages,
          progress(offset) {
            const next = Number(offset) + 1;
            if (next > progressed && next <= end) progressed = next;
          },
          isActive,
        };
        const call = Promise.resolve().then(() => owner.options.handle(batch));
        owner.inFlight.add(call);
        try {
          await call;
          const upTo = isActive() ? end : progressed;
          const lost = options.loseCommit?.({ topic: g.topic.name, groupId: g.id, partition: p, firstOffset: from, lastOffset: end - 1 }) ?? false;
          if (!lost) g.committed[p] = Math.max(g.committed[p]!, upTo);
          trim(g.topic, p);
          failures = 0;
        } catch (error) {
          g.committed[p] = Math.max(g.committed[p]!, progressed);
          failures = failedAt === g.committed[p] ? failures + 1 : 1;
          failedAt = g.committed[p]!;
          const delay = Math.min(retryDelayMs * 2 ** (failures - 1), MAX_BACKOFF_MS);
          log?.warn(
            { err: error, topic: g.topic.name, partition: p, groupId: g.id, offset: String(g.committed[p]), retryInMs: delay },
            'bus handler failed; the batch will be delivered again',
          );
          // the whole back-off (publishes wake the signal too, and would turn an outage into a busy loop); stop and close end it
          const until = Date.now() + delay;
          while (Date.now() < until && !closed && !owner.stopped) await changed.wait(until - Date.now());
        } finally {
          owner.inFlight.delete(call);
        }
      }
    } finally {
      g.running[p] = false;
    }
  };

  const startLoops = (g: Group) => {
    for (let p = 0; p < partitions; p++) {
      if (g.running[p]) continue;
      g.running[p] = true;
      const loop = runPartition(g, p).catch((error) => log?.error({ err: error, groupId: g.id, partition: p }, 'bus partition loop failed'));
      g.loops.add(loop);
      void loop.finally(() => g.loops.delete(loop));
    }
  };

  const lagOf = (g: Group | undefined, topic: Topic) =>
    topic.partitions.reduce((sum, part, p) => sum + endOf(part) - Math.max(g?.committed[p] ?? 0, part.base), 0);

  /** Drops a partition's oldest messages beyond `retain`, never one a group of the topic still has to commit. */
  const trim = (topic: Topic, p: number) => {
    const part = topic.partitions[p]!;
    if (part.messages.length <= retain) return;
    const committed = [...groups.values()].filter((g) => g.topic === topic).map((g) => g.committed[p]!);
    const keepFrom = Math.min(endOf(part) - retain, ...committed);
    // in chunks, so that dropping costs O(1) per message
    if (keepFrom - part.base >= Math.min(1_000, retain)) {
      part.messages.splice(0, keepFrom - part.base);
      part.base = keepFrom;
    }
  };

  return {
    kind: 'in-process',
    async publish(topicName, messages: readonly BusMessage[]) {
      if (closed) throw new Error('bus closed');
      const topic = topicOf(topicName);
      for (const m of messages) {
        const p = partitionOf(m.key, partitions);
        const part = topic.partitions[p]!;
        part.messages.push({ topic: topicName, partition: p, offset: String(endOf(part)), key: m.key, value: m.value, headers: { ...m.headers } });
      }
      // a topic no group reads (a dead-letter topic) keeps its last `retain` messages
      if (![...groups.values()].some((g) => g.topic === topic)) for (let p = 0; p < partitions; p++) trim(topic, p);
      if (messages.length > 0) changed.notify();
    },
    async consume(consumeOptions): Promise<Subscription> {
      if (closed) throw new Error('bus closed');
      const g = groupOf(consumeOptions.topic, consumeOptions.groupId);
      if (consumeOptions.fromBeginning === false && g.members.length === 0 && g.committed.every((c) => c === 0)) {
        g.committed = g.topic.partitions.map(endOf);
      }
      const member: Member = { options: consumeOptions, stopped: false, inFlight: new Set() };
      g.members.push(member);
      startLoops(g);
      changed.notify();
      return {
        ready: Promise.resolve(),
        async stop() {
          if (member.stopped) return;
          member.stopped = true;
          g.members = g.members.filter((m) => m !== member);
          changed.notify();
          await Promise.allSettled([...member.inFlight]);
        },
      };
    },
    async lag(topic, groupId) {
      return lagOf(groups.get(`${groupId}\u0000${topic}`), topicOf(topic));
    },
    messages: (topic) => topicOf(topic).partitions.flatMap((part) => part.messages),
    async drained(topic, groupId, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (lagOf(groups.get(`${groupId}\u0000${topic}`), topicOf(topic)) > 0) {
        if (Date.now() > deadline) throw new Error(`group ${groupId} did not drain ${topic} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 2));
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      changed.notify();
      await Promise.allSettled([...groups.values()].flatMap((g) => [...g.loops]));
    },
  };
};
