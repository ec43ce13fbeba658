/**
 * Structured JSON logs (pino). Secrets never reach a log: authorization headers,
 * connection params and anything named like a key are redacted at the logger.
 *
 * Lines to stdout are written in blocks of up to LOG_BLOCK_BYTES, and at the latest FLUSH_MS after
 * they were logged: a busy API instance logs a line per request, and a write per line cost it a
 * good share of its time. The process flushes what it holds when it exits; a SIGKILL loses at most
 * the last FLUSH_MS of lines.
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

const LOG_BLOCK_BYTES = 4096;
const FLUSH_MS = 100;

/** One per process, shared by every logger in it. */
let stdout: pino.DestinationStream | undefined;
const stdoutInBlocks = () => {
  if (stdout) return stdout;
  // pino flushes this stream when the process exits
  const stream = pino.destination({ dest: 1, minLength: LOG_BLOCK_BYTES, sync: false });
  let held = false;
  setInterval(() => {
    if (held) stream.flush();
    held = false;
  }, FLUSH_MS).unref();
  return (stdout = {
    write(line: string) {
      held = true;
      stream.write(line);
    },
  });
};

export const createLogger = (level: string, destination?: pino.DestinationStream) =>
  pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'hcp' } }, destination ?? stdoutInBlocks());

export type { Logger } from 'pino';
