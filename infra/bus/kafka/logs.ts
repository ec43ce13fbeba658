/**
 * kafkajs's logs through pino (child `component: kafkajs`). Quiet by default: kafkajs level ERROR,
 * reported at pino `warn` (they are failures kafkajs retries), and its one-line-per-attempt
 * reconnection errors only at `debug`.
 */
import kafkajs from 'kafkajs';
import type { LogEntry } from 'kafkajs';
import type { Logger } from '../../logger.ts';

const { logLevel: KafkaLogLevel } = kafkajs;

export type KafkaLogLevelName = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

export const LEVELS: Record<KafkaLogLevelName, number> = {
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
