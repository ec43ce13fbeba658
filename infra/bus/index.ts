/**
 * The bus the configuration asks for: Kafka when KAFKA_BROKERS is set, otherwise
 * the in-process bus (docs/design.md §2, "Backends and defaults").
 */
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { createInProcessBus, type InProcessBusOptions } from './in-process.ts';
import { createKafkaBus, parseBrokers, type KafkaBusOptions } from './kafka.ts';
import type { MessageBus } from './types.ts';

export type { BusMessage, ConsumedMessage, ConsumeOptions, MessageBatch, MessageBus, Subscription } from './types.ts';
export { eachMessage } from './types.ts';
export { GROUPS, TOPICS } from './topics.ts';
export { createInProcessBus, type InProcessBus, type InProcessBusOptions } from './in-process.ts';
export { createKafkaBus, parseBrokers, type KafkaBusOptions } from './kafka.ts';

export const createMessageBus = (
  config: Pick<Config, 'KAFKA_BROKERS'> & Partial<Pick<Config, 'HCP_BUS_NAMESPACE'>>,
  logger: Logger,
  overrides: { kafka?: Partial<Omit<KafkaBusOptions, 'brokers' | 'logger'>>; inProcess?: InProcessBusOptions } = {},
): MessageBus => {
  const bus = config.KAFKA_BROKERS
    ? createKafkaBus({ brokers: parseBrokers(config.KAFKA_BROKERS), logger, ...overrides.kafka })
    : createInProcessBus({ logger, ...overrides.inProcess });
  return config.HCP_BUS_NAMESPACE ? namespaced(bus, config.HCP_BUS_NAMESPACE) : bus;
};

/**
 * Topics and consumer groups under a prefix (`<ns>.hcp.market.ticks`, group `<ns>-hcp-ingestion`),
 * so platforms sharing one Kafka cluster (staging beside production, parallel test runs) never
 * consume each other's messages.
 */
export const namespaced = (bus: MessageBus, ns: string): MessageBus => ({
  kind: bus.kind,
  publish: (topic, messages) => bus.publish(`${ns}.${topic}`, messages),
  consume: (options) => bus.consume({ ...options, topic: `${ns}.${options.topic}`, groupId: `${ns}-${options.groupId}` }),
  lag: (topic, groupId) => bus.lag(`${ns}.${topic}`, `${ns}-${groupId}`),
  close: () => bus.close(),
});
