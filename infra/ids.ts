import { createHash, randomBytes, randomUUID } from 'node:crypto';

/** A name-based UUID (version 5 layout, SHA-1): the same name always gives the same id. */
export const uuidFromName = (name: string): string => {
  const h = createHash('sha1').update('hcp:').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
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
