/**
 * The bus's producer: idempotent (acks=all, one request in flight, kafkajs's unlimited retries),
 * so a retry after a lost acknowledgement does not write a message twice within one producer
 * session. A publish waits through a broker outage until the broker stores the messages or the bus
 * is closed; a producer whose state the broker lost is replaced and the send retried.
 */
import kafkajs, { type Producer } from 'kafkajs';
import type { BusMessage } from '../types.ts';
import { backoffMs, lazyClient, sleep, within } from './clients.ts';
import type { KafkaContext } from './context.ts';
import { errorTypes, FATAL_PRODUCER_ERRORS, isOutageError } from './errors.ts';

const { Partitioners } = kafkajs;

export const kafkaProducer = (ctx: KafkaContext) => {
  const { kafka, retry, log, ensureTopic } = ctx;
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
    if (ctx.isClosed()) throw new Error('bus ctx.isClosed()');
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
        if (ctx.isClosed()) throw error;
        if (p && errorTypes(error).some((t) => FATAL_PRODUCER_ERRORS.has(t)) && producerResets++ < 5) {
          log.warn({ err: error, topic, attempt }, 'idempotent producer state lost on the broker; replacing the producer and sending again');
          await replaceProducer(p);
          continue;
        }
        if (!isOutageError(error)) throw error;
        const delay = backoffMs(retry, attempt - 1);
        (attempt === 1 ? log.warn.bind(log) : log.debug.bind(log))({ err: error, topic, attempt, retryInMs: delay }, 'broker unavailable; publish waits and retries');
        await sleep(delay);
      }
    }
  };

  return { publish, current: producer.current };
};
