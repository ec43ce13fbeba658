/**
 * Walks the events in store order and recomputes every stream's hash chain from the events
 * alone (infra/event-store/chain.ts), trusting no hash the store kept except as the thing checked.
 * It also folds the whole log into one hash, so a digest exported earlier (digest.ts) pins both
 * every stream's head and the order of the log as it stood then.
 */
import { hash } from 'node:crypto';
import { eventHash, eventHashOfText, GENESIS_HASH } from '../infra/event-store/chain.ts';
import { encodePosition } from '../infra/event-store/position.ts';
import type { RecordedEvent, StoredEventText } from '../infra/event-store/types.ts';

export type ChainBreak =
  /** The stored hash is not the hash of the event as stored, chained from the event before it. */
  | { kind: 'hash-mismatch'; stream: string; revision: bigint; position: string; stored: string; recomputed: string }
  /** Revisions missing between two events of a stream (deleted, or a stream that does not start at 0). */
  | { kind: 'gap'; stream: string; revision: bigint; position: string; missingFrom: bigint; missingTo: bigint }
  /** A revision seen again, or after a later one: inserted, duplicated or moved. */
  | { kind: 'out-of-order'; stream: string; revision: bigint; position: string; after: bigint };

export type StreamHead = { revision: bigint; hash: string };

/** The hash of the log so far: each event's hash folded onto the one before, in store order. */
export const foldLog = (logHash: string, e: Pick<RecordedEvent, 'hash'>): string => hash('sha256', logHash + e.hash, 'hex');

/** An event to check: parsed, or as the store renders it (hashed without parsing, the faster walk). */
export type Walked = RecordedEvent | StoredEventText;

export type ChainWalk = {
  /** Checks the next event in store order; returns what it breaks (usually nothing). */
  add(e: Walked): readonly ChainBreak[];
  readonly heads: ReadonlyMap<string, StreamHead>;
  readonly events: number;
  readonly logHash: string;
};

/** What nearly every event breaks: shared, so the common case allocates nothing. */
const NO_BREAKS: readonly ChainBreak[] = Object.freeze([]);

export const walkChains = (): ChainWalk => {
  const heads = new Map<string, StreamHead>();
  let events = 0;
  let logHash = GENESIS_HASH;
  return {
    add(e) {
      events++;
      logHash = foldLog(logHash, e);
      const stream = e.streamName;
      const head = heads.get(stream);
      const expected = head ? head.revision + 1n : 0n;
      if (e.revision < expected) {
        // the head stays where the stream's order left it
        return [{ kind: 'out-of-order', stream, revision: e.revision, position: encodePosition(e.position), after: head?.revision ?? -1n }];
      }
      let breaks: readonly ChainBreak[] = NO_BREAKS;
      if (e.revision > expected) {
        breaks = [{ kind: 'gap', stream, revision: e.revision, position: encodePosition(e.position), missingFrom: expected, missingTo: e.revision - 1n }];
      } else {
        const previous = head?.hash ?? GENESIS_HASH;
        const recomputed = 'dataText' in e ? eventHashOfText(previous, e) : eventHash(previous, e);
        if (recomputed !== e.hash) breaks = [{ kind: 'hash-mismatch', stream, revision: e.revision, position: encodePosition(e.position), stored: e.hash, recomputed }];
      }
      // chain on from the stored hash: one edited event is one break, not a break in every event after it
      if (head) {
        head.revision = e.revision;
        head.hash = e.hash;
      } else heads.set(stream, { revision: e.revision, hash: e.hash });
      return breaks;
    },
    heads,
    get events() {
      return events;
    },
    get logHash() {
      return logHash;
    },
  };
};

export const describeBreak = (b: ChainBreak): string => {
  const at = `${b.stream}@${b.revision} (position ${b.position})`;
  switch (b.kind) {
    case 'hash-mismatch':
      return `${at}: stored hash ${b.stored.slice(0, 12)}… is not the event's hash ${b.recomputed.slice(0, 12)}… (the event, or the one before it, was changed)`;
    case 'gap':
      return `${at}: revisions ${b.missingFrom}..${b.missingTo} are missing (deleted?)`;
    case 'out-of-order':
      return `${at}: comes after revision ${b.after} of its stream (inserted or duplicated?)`;
  }
};
