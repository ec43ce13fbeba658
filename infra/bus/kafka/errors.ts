/** What kafkajs's errors mean for the bus: an outage to wait through, a producer to replace, a membership lost. */

/** Producer errors after which kafkajs cannot use the producer id again. */
export const FATAL_PRODUCER_ERRORS = new Set([
  'UNKNOWN_PRODUCER_ID',
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
  'PRODUCER_FENCED',
]);

/** Heartbeat errors that say this member no longer holds its partitions as it did. */
export const MEMBERSHIP_LOST = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID']);

type ErrorLink = { name?: unknown; type?: unknown; retriable?: unknown; cause?: unknown };
/** An error and its causes (kafkajs wraps the original error in retry and non-retriable errors). */
const causes = (error: unknown): ErrorLink[] => {
  const chain: ErrorLink[] = [];
  for (let e = error as ErrorLink | undefined; e && typeof e === 'object' && chain.length < 6; e = e.cause as ErrorLink | undefined) chain.push(e);
  return chain;
};
export const errorTypes = (error: unknown) => causes(error).flatMap((e) => (typeof e.type === 'string' ? [e.type] : []));

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
