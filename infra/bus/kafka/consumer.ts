/**
 * The bus's consumers: `eachBatch` without auto-resolve; an offset is resolved only after the
 * handler handled the message (`progress`) or the batch, and kafkajs commits resolved offsets
 * after every batch. A failing handler is not thrown into kafkajs: the batch ends, the partition
 * backs off with heartbeats, and the next fetch starts at the first unhandled message. A consumer
 * kafkajs would not restart is built again after a back-off.
 */
import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { ConsumedMessage, ConsumeOptions, MessageBatch, Subscription } from '../types.ts';
import { backoffMs, headersOf, sleep, within } from './clients.ts';
import type { KafkaContext } from './context.ts';
import { errorTypes, MEMBERSHIP_LOST } from './errors.ts';

export const kafkaConsumers = (ctx: KafkaContext) => {
  const { kafka, retry, log, ensureTopic, subscriptions } = ctx;
  const { handlerRetryDelay, sessionTimeout, heartbeatInterval, maxWaitTime } = ctx.settings;
  const consume = async (consumeOptions: ConsumeOptions): Promise<Subscription> => {
    if (ctx.isClosed()) throw new Error('bus closed');
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
      if (stopped || ctx.isClosed() || restartTimer) return;
      restarts++;
      const delay = backoffMs(retry, restarts);
      clog.warn({ reason, restarts, retryInMs: delay }, 'rebuilding the consumer');
      restartTimer = setTimeout(() => {
        restartTimer = undefined;
        void start();
      }, delay);
    };

    const start = async () => {
      if (stopped || ctx.isClosed()) return;
      const previous = current;
      current = undefined;
      if (previous) await within(previous.disconnect().catch(() => {}), 10_000, () => clog.warn('old consumer did not disconnect in time'));
      await ensureTopic(topic);
      if (stopped || ctx.isClosed()) return;
      const consumer = kafka.consumer({
        groupId,
        retry: { ...retry, restartOnFailure: async () => true },
        allowAutoTopicCreation: true,
        sessionTimeout,
        heartbeatInterval,
        maxWaitTimeInMs: maxWaitTime,
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

  return consume;
};
