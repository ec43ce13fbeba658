/** In-memory event store: for unit and property tests and fast local runs. */
import {
  AppendsRefusedError,
  IdempotencyMismatchError,
  matchesExpectedRevision,
  type ExpectedRevision,
  WrongExpectedRevisionError,
} from './expected-revision.ts';
import { chainHashes, GENESIS_HASH } from './chain.ts';
import { comparePositions, resolveAfter } from './position.ts';
import { createWakeSignal, pollingSubscription } from './polling-subscription.ts';
import type { AppendResult, EventStore, EventToAppend, RecordedEvent } from './types.ts';

export const createMemoryEventStore = (): EventStore => {
  const all: RecordedEvent[] = [];
  const streams = new Map<string, RecordedEvent[]>();
  const byId = new Map<string, RecordedEvent>();
  const wake = createWakeSignal();

  const readAll: EventStore['readAll'] = async (options = {}) => {
    const after = resolveAfter(options.after);
    // positions are dense sequence numbers here, so the index is position + 1
    const from = all.findIndex((e) => comparePositions(e.position, after) > 0);
    if (from < 0) return [];
    return all.slice(from, from + (options.maxCount ?? Number.MAX_SAFE_INTEGER)).map(clone);
  };

  /** One stream's append, done at once (nothing awaited: no reader sees part of it); the caller wakes readers. */
  const append = (streamName: string, events: readonly EventToAppend[], options: { expectedRevision?: ExpectedRevision } = {}): AppendResult => {
    const stream = streams.get(streamName) ?? [];
    const current = stream.length === 0 ? undefined : BigInt(stream.length - 1);
    const stored = events.map((e) => byId.get(e.id));
    if (events.length > 0 && stored.every((s) => s !== undefined)) {
      const last = stored[stored.length - 1]!;
      if (stored.some((s) => s!.streamName !== streamName)) throw new IdempotencyMismatchError(streamName, events[0]!.id);
      return { nextExpectedRevision: last.revision, position: last.position, appended: false };
    }
    const partial = stored.findIndex((s) => s !== undefined);
    if (partial >= 0) throw new IdempotencyMismatchError(streamName, events[partial]!.id);
    const expected = options.expectedRevision ?? 'any';
    if (!matchesExpectedRevision(current, expected)) {
      throw new WrongExpectedRevisionError(streamName, expected, current);
    }
    if (events.length === 0) {
      return { nextExpectedRevision: current ?? -1n, position: all.at(-1)?.position ?? resolveAfter('start'), appended: false };
    }
    const first = BigInt(stream.length);
    const hashes = chainHashes(
      stream.at(-1)?.hash ?? GENESIS_HASH,
      events.map((e, i) => ({ ...e, streamName, revision: first + BigInt(i) })),
    );
    for (const [i, e] of events.entries()) {
      const seq = BigInt(all.length);
      const recorded: RecordedEvent = {
        ...structuredClone(e),
        streamName,
        revision: first + BigInt(i),
        position: { commit: seq, prepare: seq },
        hash: hashes[i]!,
      };
      stream.push(recorded);
      all.push(recorded);
      byId.set(e.id, recorded);
    }
    streams.set(streamName, stream);
    const last = stream[stream.length - 1]!;
    return { nextExpectedRevision: last.revision, position: last.position, appended: true };
  };

  return {
    kind: 'memory',
    async appendToStream(streamName, events, options = {}) {
      const result = append(streamName, events, options);
      if (result.appended) wake.notify();
      return result;
    },
    async appendToStreams(appends) {
      // all or none: what the earlier ones appended is taken back when a later one is refused
      const mark = all.length;
      const lengths = new Map(appends.map((a) => [a.streamName, streams.get(a.streamName)?.length]));
      try {
        const results = appends.map((a) => append(a.streamName, a.events, a));
        if (results.some((r) => r.appended)) wake.notify();
        return results;
      } catch (error) {
        for (const e of all.splice(mark)) byId.delete(e.id);
        for (const [name, length] of lengths) {
          if (length === undefined) streams.delete(name);
          else streams.get(name)!.length = length;
        }
        if (error instanceof WrongExpectedRevisionError || error instanceof IdempotencyMismatchError) throw new AppendsRefusedError(appends.map((a) => a.streamName), error.message);
        throw error;
      }
    },
    async readStream(streamName, options = {}) {
      const stream = streams.get(streamName) ?? [];
      const max = options.maxCount ?? Number.MAX_SAFE_INTEGER;
      if (options.direction === 'backwards') {
        const from = options.fromRevision ?? BigInt(stream.length - 1);
        return stream.filter((e) => e.revision <= from).reverse().slice(0, max).map(clone);
      }
      const from = options.fromRevision ?? 0n;
      return stream.filter((e) => e.revision >= from).slice(0, max).map(clone);
    },
    readAll,
    async readEventById(streamName, eventId) {
      const e = byId.get(eventId);
      return e && e.streamName === streamName ? clone(e) : undefined;
    },
    subscribeToAll: (options = {}) => pollingSubscription({ readAll, wake, after: options.after }),
    headPosition: async () => all.at(-1)?.position ?? resolveAfter('start'),
    async close() {},
  };
};

const clone = (e: RecordedEvent): RecordedEvent => structuredClone(e);
