/**
 * The message bus port (docs/design.md §2 "Edge"): keyed string messages on named topics,
 * consumed by consumer groups with at-least-once delivery. Two adapters implement it:
 * in-process (the embedded default, no KAFKA_BROKERS) and Kafka (kafkajs).
 *
 * Delivery contract, the same on both adapters:
 * - messages with the same key keep their order (they share a partition);
 * - a group's offsets are committed only for messages whose handler succeeded
 *   (the whole batch when `handle` resolves, or up to `batch.progress(offset)`);
 *   anything else is delivered again, to this or another member, after a pause;
 * - so a message can arrive more than once (redelivery, or a producer retry):
 *   handlers must be idempotent;
 * - a broker outage never throws out of the bus: publishing waits and retries,
 *   consumers reconnect and resume from their group's committed offsets.
 */

export type BusMessage = {
  /** Partitioning key: messages with one key stay in order. */
  key: string;
  value: string;
  headers?: Record<string, string>;
};

export type ConsumedMessage = {
  topic: string;
  partition: number;
  /** Decimal string, as Kafka reports offsets (int64). */
  offset: string;
  key: string | null;
  /** Null for a message without a value (a Kafka tombstone). */
  value: string | null;
  headers: Record<string, string>;
};

export type MessageBatch = {
  topic: string;
  partition: number;
  /** In offset order; never empty. */
  messages: ConsumedMessage[];
  /**
   * Marks every message of this batch up to and including `offset` as handled, so
   * a failure later in the batch redelivers only what follows it.
   */
  progress(offset: string): void;
  /** False once the subscription is stopping or the partition was taken away: end the batch early. */
  isActive(): boolean;
};

export type ConsumeOptions = {
  topic: string;
  groupId: string;
  /**
   * Handles one partition's batch. Resolving commits the whole batch, unless the
   * batch was no longer active (`isActive()` false: stopping, or the partition was
   * reassigned), when only what `progress` marked is committed. Throwing commits
   * what `progress` marked and redelivers the rest after a back-off.
   */
  handle(batch: MessageBatch): Promise<void>;
  /** Where a group without committed offsets starts: the beginning (default) or new messages only. */
  fromBeginning?: boolean;
};

export type Subscription = {
  /** Resolves once the consumer has first joined its group (at once in-process; also on stop, so nobody waits forever). */
  readonly ready: Promise<void>;
  /** Stops consuming: waits for the batch in hand, commits what was handled, leaves the group. Idempotent. */
  stop(): Promise<void>;
};

export type MessageBus = {
  readonly kind: 'in-process' | 'kafka';
  /** Resolves once every message is stored (acknowledged by the broker); retries through outages. */
  publish(topic: string, messages: readonly BusMessage[]): Promise<void>;
  consume(options: ConsumeOptions): Promise<Subscription>;
  /** Messages of `topic` not yet committed by `groupId` (all of them for an unknown group). */
  lag(topic: string, groupId: string): Promise<number>;
  /** Stops every subscription and disconnects. Idempotent. */
  close(): Promise<void>;
};

/** A per-message handler as a batch handler: messages in order, progress marked after each. */
export const eachMessage =
  (handle: (message: ConsumedMessage) => Promise<void>) =>
  async (batch: MessageBatch): Promise<void> => {
    for (const message of batch.messages) {
      if (!batch.isActive()) return;
      await handle(message);
      batch.progress(message.offset);
    }
  };
