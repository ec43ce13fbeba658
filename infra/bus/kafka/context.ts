/** What the parts of the Kafka adapter share: the client, its settings, the bus's state. */
import type { Kafka } from 'kafkajs';
import type { Logger } from '../../logger.ts';
import type { Subscription } from '../types.ts';

export type KafkaContext = {
  kafka: Kafka;
  log: Logger;
  /** kafkajs's retry settings, complete (it switches to tiny test defaults when NODE_ENV=test). */
  retry: { initialRetryTime: number; maxRetryTime: number; factor: number; multiplier: number; retries: number };
  settings: { handlerRetryDelay: number; sessionTimeout: number; heartbeatInterval: number; maxWaitTime: number };
  isClosed(): boolean;
  /** Creates a topic on first use (best effort: the broker's auto-creation covers a failure). */
  ensureTopic(topic: string): Promise<void>;
  /** The bus's open subscriptions, stopped when it closes. */
  subscriptions: Set<Subscription>;
};
