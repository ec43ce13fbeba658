/**
 * Folded stream states kept between commands, so a command reads only the events
 * appended since the last one instead of its whole stream (a resource's stream grows by
 * about eight events per switch; without this, a switch's latency grew with its history).
 *
 * Nothing here can go stale: every load reads the stream's tail after the cached
 * revision, whoever appended it (another process included), and folds it on. What is
 * kept per stream: the state, its revision, and the revisions the stream's most recent
 * command ids appended (at most MAX_COMMANDS_PER_STREAM: older ones the pipeline looks up
 * in the store by event id), bounded by an LRU over streams. Keyed by store and decider,
 * since two deciders may fold the same stream differently.
 */
import { fold, type Decider } from '../domain/decider.ts';
import type { EventStore, EventToAppend, RecordedEvent } from '../infra/event-store/types.ts';
import { eventIdFor } from '../infra/ids.ts';

type AnyEvent = { type: string; data: Record<string, unknown> };

export type StreamState<S> = {
  state: S;
  /** Revision of the last event folded; -1n: no stream. */
  revision: bigint;
  /** Revisions of the events each command id appended (first, last). */
  commands: Map<string, { first: bigint; last: bigint }>;
};

/** Streams kept per store and decider; the least recently used is dropped beyond this. */
export const MAX_CACHED_STREAMS = 10_000;
/** Command ids remembered per stream, the most recent ones (a resource's stream gains about eight per switch). */
export const MAX_COMMANDS_PER_STREAM = 64;

const caches = new WeakMap<EventStore, WeakMap<object, Map<string, StreamState<unknown>>>>();

const cacheOf = (store: EventStore, decider: object) => {
  let byDecider = caches.get(store);
  if (!byDecider) caches.set(store, (byDecider = new WeakMap()));
  let streams = byDecider.get(decider);
  if (!streams) byDecider.set(decider, (streams = new Map()));
  return streams;
};

/** What folding needs of a stored event: an event just appended is folded before it is read back. */
type Folded = EventToAppend & { revision: bigint };

export const asDomain = <E>(e: Pick<RecordedEvent, 'type' | 'data'>) => ({ type: e.type, data: e.data }) as E;

const foldOn = <C, E extends AnyEvent, S>(decider: Decider<C, E, S>, from: StreamState<S>, events: readonly Folded[]): StreamState<S> => {
  if (events.length === 0) return from;
  // shared with earlier snapshots of this stream, and only ever told true facts: an id it
  // learns was appended; not copied, so a long stream costs no copy per command
  const commands = from.commands;
  for (const e of events) {
    const seen = commands.get(e.metadata.commandId);
    commands.delete(e.metadata.commandId); // re-inserted last: Map order is the order of their last events
    commands.set(e.metadata.commandId, { first: seen?.first ?? e.revision, last: e.revision });
    if (commands.size > MAX_COMMANDS_PER_STREAM) commands.delete(commands.keys().next().value!);
  }
  return { state: events.map(asDomain<E>).reduce(decider.evolve, from.state), revision: events.at(-1)!.revision, commands };
};

/**
 * The stream's state now: the cached fold plus whatever was appended since. With `cached`, the
 * cached fold as it is, without reading the tail (a command then appends with the cached revision
 * as its expectation, so a stale cache costs a conflict and a reload, never a lost update).
 */
export const loadStreamState = async <C, E extends AnyEvent, S>(
  store: EventStore,
  decider: Decider<C, E, S>,
  streamName: string,
  { cached: trustCache = false, assumeNew = false }: { cached?: boolean; assumeNew?: boolean } = {},
): Promise<StreamState<S>> => {
  const streams = cacheOf(store, decider);
  const cached = streams.get(streamName) as StreamState<S> | undefined;
  if (trustCache && cached) {
    streams.delete(streamName);
    streams.set(streamName, cached);
    return cached;
  }
  // for a command: a stream this process has not seen is taken to be new (most are: a workload's,
  // a month's); its append expects no stream, so an older one conflicts and the retry reads it
  if (trustCache && assumeNew) return { state: fold(decider, []), revision: -1n, commands: new Map() };
  const base: StreamState<S> = cached ?? { state: fold(decider, []), revision: -1n, commands: new Map() };
  const tail = await store.readStream(streamName, base.revision < 0n ? {} : { fromRevision: base.revision + 1n });
  const next = foldOn(decider, base, tail);
  streams.delete(streamName); // re-inserted last: Map order is the LRU order
  streams.set(streamName, next);
  if (streams.size > MAX_CACHED_STREAMS) streams.delete(streams.keys().next().value!);
  return next;
};

/**
 * Folds what this process just appended into the cached state (when the cache is at the revision
 * the append expected), so the next command on the stream needs no read to see it.
 */
export const rememberAppended = <C, E extends AnyEvent, S>(store: EventStore, decider: Decider<C, E, S>, streamName: string, after: bigint, appended: readonly EventToAppend[]) => {
  const streams = cacheOf(store, decider);
  const cached = streams.get(streamName) as StreamState<S> | undefined;
  const base: StreamState<S> | undefined = cached ?? (after < 0n ? { state: fold(decider, []), revision: -1n, commands: new Map() } : undefined);
  if (!base || base.revision !== after) return;
  const recorded = appended.map((e, i) => ({ ...e, revision: after + 1n + BigInt(i) }));
  streams.delete(streamName);
  streams.set(streamName, foldOn(decider, base, recorded));
};

/** The events a command appended earlier, read back by their revisions. */
export const eventsOfCommand = async (store: EventStore, streamName: string, commandId: string, span: { first: bigint; last: bigint }): Promise<RecordedEvent[]> =>
  (await store.readStream(streamName, { fromRevision: span.first, maxCount: Number(span.last - span.first) + 1 })).filter((e) => e.metadata.commandId === commandId);

/** Events a command appends at once, at most: how far a command's events are read after its first. */
const MAX_EVENTS_PER_COMMAND = 1000;

/** The events a command appended earlier, found in the store by the id of its first event (for a command the cache no longer remembers). */
export const storedEventsOfCommand = async (store: EventStore, streamName: string, commandId: string): Promise<RecordedEvent[]> => {
  const first = await store.readEventById(streamName, eventIdFor(commandId, streamName, 0));
  if (!first || first.metadata.commandId !== commandId) return [];
  const following = await store.readStream(streamName, { fromRevision: first.revision, maxCount: MAX_EVENTS_PER_COMMAND });
  const end = following.findIndex((e) => e.metadata.commandId !== commandId);
  return end < 0 ? following : following.slice(0, end);
};
