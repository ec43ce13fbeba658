/**
 * Structured JSON logs (pino). Secrets never reach a log: authorization headers,
 * connection params and anything named like a key are redacted at the logger.
 */
import pino from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'connectionParams',
  '*.authorization',
  '*.key',
  '*.apiKey',
  '*.password',
  'key',
  'apiKey',
];

export const createLogger = (level: string, destination?: pino.DestinationStream) =>
  pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'hcp' } }, destination);

export type { Logger } from 'pino';
