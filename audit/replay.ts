/**
 * Replay: the events of the store in store order, filtered, a page at a time, so an auditor can
 * page through millions of events without the process ever holding more than one page.
 */
import { comparePositions, encodePosition, type GlobalPosition } from '../infra/event-store/position.ts';
import { pagesAhead } from '../infra/event-store/read-ahead.ts';
import type { EventStore, RecordedEvent, StoredEventText } from '../infra/event-store/types.ts';

/** A stream's category: its name up to the first `-` (`workload-w1` is in `workload`). */
export const categoryOf = (streamName: string): string => {
  const dash = streamName.indexOf('-');
  return dash < 0 ? streamName : streamName.slice(0, dash);
};

export type ReplayFilter = {
  stream?: string;
  category?: string;
  /** Event types to keep; empty or absent keeps every type. */
  types?: readonly string[];
  /** Exclusive: events after this position. */
  after?: GlobalPosition;
  /** Inclusive: events up to this position. */
  until?: GlobalPosition;
  /** Inclusive bounds on the time the event was decided (metadata.occurredAt), epoch ms. */
  fromMs?: number;
  toMs?: number;
  limit?: number;
};

export const REPLAY_PAGE = 1000;
/** Events as stored are smaller to hold and cheaper to pass: fewer, larger pages. */
const CHAIN_PAGE = 5000;

export const matchesFilter = (f: ReplayFilter, e: RecordedEvent): boolean => {
  if (f.stream !== undefined && e.streamName !== f.stream) return false;
  if (f.category !== undefined && categoryOf(e.streamName) !== f.category) return false;
  if (f.types && f.types.length > 0 && !f.types.includes(e.type)) return false;
  if (f.after && comparePositions(e.position, f.after) <= 0) return false;
  if (f.fromMs !== undefined || f.toMs !== undefined) {
    const at = Date.parse(e.metadata.occurredAt);
    if (f.fromMs !== undefined && !(at >= f.fromMs)) return false;
    if (f.toMs !== undefined && !(at <= f.toMs)) return false;
  }
  return true;
};

/** The events that match, in store order (one stream's events in revision order, which is the same). */
export async function* replay(store: EventStore, filter: ReplayFilter = {}): AsyncGenerator<RecordedEvent> {
  const limit = filter.limit ?? Number.POSITIVE_INFINITY;
  let yielded = 0;
  // one stream is read by revision, not through the whole log
  const { stream } = filter;
  const pages =
    stream !== undefined
      ? pagesOf((last) => store.readStream(stream, { fromRevision: last ? last.revision + 1n : 0n, maxCount: REPLAY_PAGE }))
      : pagesOf((last) => store.readAll({ after: last?.position ?? filter.after ?? 'start', maxCount: REPLAY_PAGE }));
  for await (const e of pages) {
    if (filter.until !== undefined && comparePositions(e.position, filter.until) > 0) return;
    if (!matchesFilter(filter, e)) continue;
    yield e;
    if (++yielded >= limit) return;
  }
}

/**
 * The whole log in store order, for a walk of its hash chains: as the store renders it where it
 * can (PostgreSQL, PGlite: data and metadata left as the text the chain hashes, so nothing is
 * parsed or rendered again, several times faster), parsed otherwise.
 */
export async function* logAsStored(store: EventStore): AsyncGenerator<RecordedEvent | StoredEventText> {
  const readText = store.readAllText;
  if (!readText) return yield* replay(store);
  for await (const page of pagesAhead<StoredEventText>((last) => readText({ after: last?.position ?? 'start', maxCount: CHAIN_PAGE }), CHAIN_PAGE)) yield* page;
}

/** The events of pages read one ahead. */
async function* pagesOf(read: (last: RecordedEvent | undefined) => Promise<RecordedEvent[]>): AsyncGenerator<RecordedEvent> {
  for await (const page of pagesAhead(read, REPLAY_PAGE)) yield* page;
}

/** One event as one JSON line: every field and all metadata; bigints as decimal strings. */
export const eventJson = (e: RecordedEvent) => ({
  position: encodePosition(e.position),
  stream: e.streamName,
  revision: e.revision.toString(),
  id: e.id,
  type: e.type,
  hash: e.hash,
  data: e.data,
  metadata: e.metadata,
});

/** One event as readable text: a header line, then its data and metadata indented. */
export const eventText = (e: RecordedEvent): string =>
  `${encodePosition(e.position).padEnd(16)} ${e.metadata.occurredAt}  ${e.streamName}@${e.revision}  ${e.type}\n` +
  `    data      ${JSON.stringify(e.data)}\n` +
  `    metadata  ${JSON.stringify(e.metadata)}\n` +
  `    hash      ${e.hash}\n`;
