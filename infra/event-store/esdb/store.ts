/**
 * EventStoreDB event store over @eventstore/db-client 6.x (gRPC). The port was modelled on ESDB,
 * so most of it maps one to one; the comments say where it does not.
 *
 * Positions: since ESDB 20 every event is its own committed record, so an event's $all position is
 * {commit: p, prepare: p} with p its log position, and an append's result position is the log
 * position of its last event (for a fresh and for an idempotent write alike).
 *
 * Hash chain (../chain.ts): ESDB cannot compute it, so the adapter does, from the head of the
 * stream it read, and writes each event's hash into its metadata under `hcpHash` (the hash covers
 * the metadata without it). To keep the chain one line, every append goes to the server with an
 * exact expected revision: an `any` or `stream_exists` append reads the head, chains from it and
 * retries when another writer got there first.
 */
import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  excludeSystemEvents,
  FORWARDS,
  jsonEvent,
  START as ESDB_START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  type AllStreamResolvedEvent,
  type ReadPosition,
  type RecordedEvent as EsdbRecordedEvent,
  type StreamingRead,
} from '@eventstore/db-client';
import {
  IdempotencyMismatchError,
  matchesExpectedRevision,
  WrongExpectedRevisionError,
} from '../expected-revision.ts';
import { chainHashes, GENESIS_HASH } from '../chain.ts';
import { comparePositions, resolveAfter, START, type GlobalPosition } from '../position.ts';
import type { AllSubscription, EventMetadata, EventStore, EventToAppend, RecordedEvent } from '../types.ts';

const PAGE = 500;
/** How far back in a stream an event is looked for by id (ESDB has no index by id). */
export const ESDB_ID_LOOKUP_DEPTH = 1000;
/** How far back from its head a stream is searched for a retried `any`/`stream_exists` append. */
export const ESDB_RETRY_WINDOW = 32;
/** Attempts of an `any`/`stream_exists` append that lose the race for the head to other writers. */
const HEAD_RACE_ATTEMPTS = 20;
/** Where an event's chain hash is kept in its ESDB metadata. */
const HASH_KEY = 'hcpHash';

/** System streams and events ($stats, $metadata, projection links...) are not ours. */
const isUserEvent = (e: { streamId: string; type: string }) => !e.streamId.startsWith('$') && !e.type.startsWith('$');

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

/** Our START ({-1, -1}) is not a valid ESDB position (unsigned); it means ESDB's `start`. */
const toReadPosition = (p: GlobalPosition): ReadPosition =>
  p.commit < 0n ? ESDB_START : { commit: p.commit, prepare: p.prepare };

const toRecorded = (e: EsdbRecordedEvent, commitPosition?: bigint): RecordedEvent => {
  if (!e.isJson || !isObject(e.data) || !isObject(e.metadata)) {
    throw new Error(`event ${e.id} in ${e.streamId} is not JSON with JSON metadata: not written by this store`);
  }
  // stream reads carry the event's position from server 22.6 on; before, the commit position is the same p
  const position = e.position ?? (commitPosition === undefined ? undefined : { commit: commitPosition, prepare: commitPosition });
  if (!position) throw new Error(`event ${e.id} came without a position (EventStoreDB 22.6 or later needed)`);
  const { [HASH_KEY]: hash, ...metadata } = e.metadata;
  return {
    id: e.id,
    type: e.type,
    data: e.data,
    metadata: metadata as EventMetadata,
    streamName: e.streamId,
    revision: e.revision,
    position: { commit: position.commit, prepare: position.prepare },
    // an event written before the chain existed reads with an empty hash, which verify reports
    hash: typeof hash === 'string' ? hash : '',
  };
};

/** Drains a read; a missing stream is reported by an error while iterating, and reads as empty. */
const collect = async <E>(read: StreamingRead<E>): Promise<E[]> => {
  const out: E[] = [];
  try {
    for await (const e of read) out.push(e);
  } catch (error) {
    if (error instanceof StreamNotFoundError) return [];
    throw error;
  }
  return out;
};

export const createEsdbEventStore = async (connectionString: string): Promise<EventStore> => {
  const client = EventStoreDBClient.connectionString(connectionString);

  const readStream: EventStore['readStream'] = async (streamName, options = {}) => {
    const backwards = options.direction === 'backwards';
    const read = client.readStream(streamName, {
      direction: backwards ? BACKWARDS : FORWARDS,
      fromRevision: options.fromRevision ?? (backwards ? END : ESDB_START),
      maxCount: options.maxCount,
    });
    return (await collect(read)).flatMap((r) => (r.event ? [toRecorded(r.event, r.commitPosition)] : []));
  };

  /**
   * ESDB accepts a retry silently (same ids, success), so `appended` needs to know what was there
   * before. For an exact or no_stream expectation ESDB guarantees idempotency by comparing the
   * events at revisions expected+1..expected+n with the append's ids: we read that same window.
   * An any/stream_exists append looks for its ids among the stream's last ESDB_RETRY_WINDOW events
   * instead (see appendToStream): a retry further back than that is not recognised.
   */
  const isRetry = async (streamName: string, expected: bigint | 'no_stream', events: readonly EventToAppend[]) => {
    const fromRevision = expected === 'no_stream' ? 0n : expected + 1n;
    const stored = await collect(client.readStream(streamName, { fromRevision, maxCount: events.length }));
    const same = events.map((e, i) => stored[i]?.event?.id.toLowerCase() === e.id.toLowerCase());
    if (same.every(Boolean)) return true;
    const reused = same.indexOf(true);
    if (reused >= 0) throw new IdempotencyMismatchError(streamName, events[reused]!.id);
    return false;
  };

  const readAll: EventStore['readAll'] = async (options = {}) => {
    const max = options.maxCount ?? Number.MAX_SAFE_INTEGER;
    let cursor = resolveAfter(options.after);
    const out: RecordedEvent[] = [];
    while (out.length < max) {
      // fromPosition is inclusive, and pages count system events too: page on, skipping the cursor itself
      const page = await collect(client.readAll({ fromPosition: toReadPosition(cursor), maxCount: PAGE }));
      for (const { event } of page) {
        if (!event || comparePositions(event.position, cursor) <= 0) continue;
        cursor = event.position;
        if (isUserEvent(event)) out.push(toRecorded(event));
        if (out.length === max) break;
      }
      if (page.length < PAGE) break;
    }
    return out;
  };

  const subscribeToAll = (options: { after?: GlobalPosition | 'start' } = {}): AllSubscription => {
    const after = resolveAfter(options.after);
    // The server starts strictly after fromPosition (it reads the event there and goes on from the
    // next one); the position check below keeps that true whatever the server version.
    const subscription = client.subscribeToAll({ fromPosition: toReadPosition(after), filter: excludeSystemEvents() });
    let closing: Promise<void> | undefined;
    let failure: Error | undefined;
    // an error while nobody iterates would otherwise crash the process; the iterator rethrows it
    subscription.on('error', (error: Error) => {
      failure ??= error;
    });
    const close = () =>
      (closing ??= (async () => {
        await subscription.unsubscribe().catch(() => {}); // cancels the gRPC call (not reported as an error)
        subscription.destroy(); // settles a pending next() even if the call was never set up
      })());
    const iterate = async function* (): AsyncGenerator<RecordedEvent> {
      const source = subscription[Symbol.asyncIterator]();
      try {
        for (;;) {
          let next: IteratorResult<AllStreamResolvedEvent>;
          try {
            next = await source.next();
          } catch (error) {
            if (closing) return;
            throw error;
          }
          if (next.done) {
            if (failure && !closing) throw failure;
            return;
          }
          const { event } = next.value;
          if (!event || !isUserEvent(event) || comparePositions(event.position, after) <= 0) continue;
          yield toRecorded(event);
        }
      } finally {
        await close();
      }
    };
    const generator = iterate();
    return { [Symbol.asyncIterator]: () => generator, close };
  };

  /** Appends after `head` (the event at the expected revision, if any), each event carrying its chain hash. */
  const appendAt = async (
    streamName: string,
    expected: bigint | 'no_stream',
    head: RecordedEvent | undefined,
    events: readonly EventToAppend[],
    appended: boolean,
  ) => {
    const first = head ? head.revision + 1n : 0n;
    const hashes = chainHashes(
      head?.hash ?? GENESIS_HASH,
      events.map((e, i) => ({ ...e, streamName, revision: first + BigInt(i) })),
    );
    try {
      // a retry goes to the server too: it confirms the retry and answers with the stored position
      const result = await client.appendToStream(
        streamName,
        events.map(({ id, type, data, metadata }, i) => jsonEvent({ id, type, data, metadata: { ...metadata, [HASH_KEY]: hashes[i]! } })),
        { expectedRevision: expected },
      );
      const position =
        result.position ??
        (await readStream(streamName, { fromRevision: result.nextExpectedRevision, maxCount: 1 }))[0]?.position ??
        START;
      return {
        nextExpectedRevision: result.nextExpectedRevision,
        position: { commit: position.commit, prepare: position.prepare },
        appended,
      };
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError)) throw error;
      const actual = typeof error.actualVersion === 'bigint' && error.actualVersion >= 0n ? error.actualVersion : undefined;
      throw new WrongExpectedRevisionError(streamName, expected, actual);
    }
  };

  // fail at start-up on a wrong connection string or an unreachable server, not at the first command
  await collect(client.readStream('hcp-connection-check', { maxCount: 1 }));

  return {
    kind: 'esdb',
    async appendToStream(streamName, events, options = {}) {
      const expected = options.expectedRevision ?? 'any';
      if (events.length === 0) {
        // an empty append writes nothing; check the expectation here rather than rely on the server's answer
        const [last] = await readStream(streamName, { direction: 'backwards', maxCount: 1 });
        if (!matchesExpectedRevision(last?.revision, expected)) {
          throw new WrongExpectedRevisionError(streamName, expected, last?.revision);
        }
        return { nextExpectedRevision: last?.revision ?? -1n, position: last?.position ?? START, appended: false };
      }
      if (typeof expected === 'bigint' || expected === 'no_stream') {
        const retry = await isRetry(streamName, expected, events);
        const [head] = expected === 'no_stream' ? [] : await readStream(streamName, { fromRevision: expected, maxCount: 1 });
        return appendAt(streamName, expected, head, events, !retry);
      }
      for (let attempt = 1; ; attempt++) {
        const recent = await readStream(streamName, { direction: 'backwards', maxCount: ESDB_RETRY_WINDOW });
        const stored = events.map((e) => recent.find((r) => r.id.toLowerCase() === e.id.toLowerCase()));
        if (stored.every(Boolean)) {
          const last = stored.at(-1)!;
          return { nextExpectedRevision: last.revision, position: last.position, appended: false };
        }
        const reused = stored.findIndex(Boolean);
        if (reused >= 0) throw new IdempotencyMismatchError(streamName, events[reused]!.id);
        const head = recent[0];
        if (expected === 'stream_exists' && !head) throw new WrongExpectedRevisionError(streamName, expected, undefined);
        try {
          return await appendAt(streamName, head?.revision ?? 'no_stream', head, events, true);
        } catch (error) {
          // another writer moved the head between the read and the append: chain from the new head
          if (!(error instanceof WrongExpectedRevisionError) || attempt >= HEAD_RACE_ATTEMPTS) throw error;
        }
      }
    },
    readStream,
    readAll,
    async readEventById(streamName, eventId) {
      const recent = await readStream(streamName, { direction: 'backwards', maxCount: ESDB_ID_LOOKUP_DEPTH });
      return recent.find((e) => e.id.toLowerCase() === eventId.toLowerCase());
    },
    subscribeToAll,
    async headPosition() {
      // the last record of $all, system or not: a valid place to go on from either way
      const [last] = await collect(client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }));
      return last?.event ? { commit: last.event.position.commit, prepare: last.event.position.prepare } : START;
    },
    async close() {
      await client.dispose();
    },
  };
};
