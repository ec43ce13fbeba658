import { createHash, hash, randomBytes, randomUUID } from 'node:crypto';

const VARIANT = '89ab';

/**
 * A name-based UUID (version 5 layout, SHA-1): the same name always gives the same id. Every event
 * gets one, so it is the one-shot `hash` and the layout's bits set in the hex (a hasher object per
 * id was 2-3 % of a simulated day).
 */
export const uuidFromName = (name: string): string => {
  const x = hash('sha1', `hcp:${name}`);
  // the version nibble is 5; the variant's two high bits are 10 (so the digit is 8, 9, a or b)
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-5${x.slice(13, 16)}-${VARIANT[parseInt(x[16]!, 16) & 3]}${x.slice(17, 20)}-${x.slice(20, 32)}`;
};

/** Event ids for a command's events: deterministic, so a retried append is deduplicated. */
export const eventIdFor = (commandId: string, streamName: string, index: number) =>
  uuidFromName(`${commandId}|${streamName}|${index}`);

/** Ids and randomness come in through this port, so tests and simulations are deterministic. */
export type IdGenerator = {
  id(prefix: string): string;
  secret(bytes: number): string;
};

export const randomIds: IdGenerator = {
  id: (prefix) => `${prefix}-${randomUUID().slice(0, 8)}${randomUUID().slice(24)}`,
  secret: (bytes) => randomBytes(bytes).toString('base64url'),
};

/** Deterministic ids for tests: a counter, and secrets derived from it. */
export const sequentialIds = (seed = 'test'): IdGenerator => {
  let n = 0;
  return {
    id: (prefix) => `${prefix}-${seed}${(++n).toString().padStart(6, '0')}`,
    secret: (bytes) => createHash('sha256').update(`${seed}:${++n}`).digest().subarray(0, bytes).toString('base64url'),
  };
};
