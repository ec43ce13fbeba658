/**
 * Tamper evidence: every stream is a hash chain. An event's hash is the SHA-256 of one canonical
 * text of [previous hash, stream, revision, event id, type, data, metadata]; the first event of a
 * stream chains from the empty string. Editing, deleting or inserting an event breaks the chain
 * at that revision, and a digest of the heads kept elsewhere catches a chain recomputed whole.
 *
 * The canonical text is PostgreSQL's own rendering of `jsonb` (`jsonb::text`), so the store
 * computes the hash inside its append statement (`hcp_event_hash`, postgres/schema.ts) and an
 * auditor recomputes the very same bytes here from the events as read, with no database.
 * That rendering sorts an object's keys by their length in UTF-8 bytes and then bytewise,
 * writes `", "` and `": "` between items, and prints numbers in plain decimal notation.
 */
import { hash } from 'node:crypto';

/** What the first event of a stream chains from. */
export const GENESIS_HASH = '';

export type Chained = {
  streamName: string;
  revision: bigint;
  id: string;
  type: string;
  data: unknown;
  metadata: unknown;
};

export const eventHash = (previousHash: string, e: Chained): string =>
  hash('sha256', jsonbText([previousHash, e.streamName, Number(e.revision), e.id, e.type, e.data, e.metadata]), 'hex');

/**
 * The same hash from data and metadata as the store renders them (jsonb text, unparsed): the array
 * around them is written here exactly as jsonbText would, so nothing is parsed or rendered again.
 */
export const eventHashOfText = (previousHash: string, e: Omit<Chained, 'data' | 'metadata'> & { dataText: string; metadataText: string }): string =>
  hash(
    'sha256',
    `[${JSON.stringify(previousHash)}, ${JSON.stringify(e.streamName)}, ${e.revision.toString()}, ${JSON.stringify(e.id)}, ${JSON.stringify(e.type)}, ${e.dataText}, ${e.metadataText}]`,
    'hex',
  );

/** The hashes of events appended together, each chained from the one before. */
export const chainHashes = (previousHash: string, events: readonly Chained[]): string[] => {
  const out: string[] = [];
  let previous = previousHash;
  for (const e of events) out.push((previous = eventHash(previous, e)));
  return out;
};

/**
 * `value` as PostgreSQL renders it as jsonb text, for any value that JSON.stringify accepts (and
 * treated as JSON.stringify would: `toJSON` is called, undefined object members are left out,
 * undefined array items and non-finite numbers are null).
 */
export const jsonbText = (value: unknown): string => render(value) ?? 'null';

const render = (value: unknown): string | undefined => {
  const v = hasToJson(value) ? value.toJSON() : value;
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? plainNumber(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      throw new TypeError('a bigint has no JSON form');
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) return `[${v.map((item) => render(item) ?? 'null').join(', ')}]`;
      let out = '{';
      for (const [key, prefix] of membersInOrder(v as Record<string, unknown>)) {
        const text = render((v as Record<string, unknown>)[key]);
        if (text !== undefined) out += out.length === 1 ? prefix + text : `, ${prefix}${text}`;
      }
      return `${out}}`;
    }
    default:
      return undefined; // undefined, functions and symbols, as JSON.stringify
  }
};

/**
 * An object's own keys in jsonb's order, each with its `"key": ` text. Events of a type share
 * their objects' shapes, so the order is worked out once per shape (a bounded memo), not sorted
 * again for every object of every event.
 */
const shapes = new Map<string, ReadonlyArray<readonly [string, string]>>();
const membersInOrder = (v: Record<string, unknown>) => {
  const keys = Object.keys(v);
  // JSON text names a list of keys unambiguously (a joined string would take {} for {"": …})
  const shape = JSON.stringify(keys);
  let members = shapes.get(shape);
  if (members === undefined) {
    if (shapes.size > 10_000) shapes.clear();
    members = keys.sort(compareKeys).map((key) => [key, `${JSON.stringify(key)}: `] as const);
    shapes.set(shape, members);
  }
  return members;
};

/** jsonb's key order: by length in UTF-8 bytes, then bytewise; ASCII keys (nearly all) without a Buffer. */
const ASCII = /^[\x00-\x7f]*$/;
const compareKeys = (a: string, b: string): number => {
  if (ASCII.test(a) && ASCII.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  const [x, y] = [Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')];
  return x.length - y.length || Buffer.compare(x, y);
};

const hasToJson = (v: unknown): v is { toJSON(): unknown } =>
  typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function';

/** A number in plain decimal notation, as PostgreSQL's numeric prints the shortest JSON form (1e+21, 1e-7). */
const plainNumber = (n: number): string => {
  const shortest = String(n); // "-0" prints as "0", as in JSON
  const e = shortest.indexOf('e');
  if (e < 0) return shortest;
  const sign = shortest.startsWith('-') ? '-' : '';
  const mantissa = shortest.slice(sign.length, e);
  const exponent = Number(shortest.slice(e + 1));
  const point = mantissa.indexOf('.');
  const digits = mantissa.replace('.', '');
  const at = (point < 0 ? mantissa.length : point) + exponent;
  if (at <= 0) return `${sign}0.${'0'.repeat(-at)}${digits}`;
  if (at >= digits.length) return `${sign}${digits}${'0'.repeat(at - digits.length)}`;
  return `${sign}${digits.slice(0, at)}.${digits.slice(at)}`;
};
