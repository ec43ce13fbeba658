/**
 * The command pipeline: load the stream's state (the cached fold plus the events
 * appended since, stream-state.ts), decide, append with the expected
 * revision; on a conflict reload and decide again (bounded). A rejection appends
 * nothing. A command id already seen in the stream returns what it appended then
 * (idempotency); event ids derive from the command id, so even a retry after a
 * lost acknowledgement is deduplicated by the store. The cache remembers only each
 * stream's recent command ids; an older one is found in the store by the id of its
 * first event, when the decider refuses it or finds nothing to do, or when the store
 * refuses its ids at the append (PostgreSQL and memory check every id; EventStoreDB only
 * its recent ones, README).
 */
import type { Decider, Rejection } from '../domain/decider.ts';
import { AppendsRefusedError, IdempotencyMismatchError, WrongExpectedRevisionError } from '../infra/event-store/expected-revision.ts';
import type { GlobalPosition } from '../infra/event-store/position.ts';
import type { EventMetadata, EventStore, EventToAppend, RecordedEvent } from '../infra/event-store/types.ts';
import { eventIdFor } from '../infra/ids.ts';
import { asDomain, eventsOfCommand, loadStreamState, rememberAppended, storedEventsOfCommand } from './stream-state.ts';
import { HcpError } from '../infra/errors.ts';

/** Who sent a command, why, and when (from the injected clock). */
export type CommandContext = {
  commandId: string;
  actor: string;
  correlationId: string;
  causationId?: string;
  /** Fingerprint of the caller's request: the command id sent again with another request is refused. */
  requestDigest?: string;
  now: () => Date;
};

export type Handled<Event> =
  | {
      type: 'accepted';
      events: Event[];
      /** Position of the last event this command appended (or appended earlier); undefined when none. */
      position: GlobalPosition | undefined;
      duplicate: boolean;
    }
  | { type: 'rejected'; rejection: Rejection };

export const SCHEMA_VERSION = 1;
// A writer loses a round only to another writer's success, so with n writers on one stream it loses at most
// n - 1 times (once more if its first try trusted a stale cache): 24 attempts do not exhaust under 22
// concurrent writers, however the rounds interleave.
const MAX_ATTEMPTS = 24;

export class ConcurrencyExhaustedError extends HcpError {
  readonly type = 'concurrency_exhausted' as const;
  constructor(readonly streamName: string) {
    super(`stream ${streamName}: still conflicting after ${MAX_ATTEMPTS} attempts`);
  }
}

type AnyEvent = { type: string; data: Record<string, unknown> };

/** A decision's events as the store takes them: ids from the command, who and why in the metadata. */
const eventsToAppend = (context: CommandContext, streamName: string, events: readonly AnyEvent[]) => {
  const metadata: EventMetadata = {
    commandId: context.commandId,
    correlationId: context.correlationId,
    causationId: context.causationId ?? context.commandId,
    actor: context.actor,
    schemaVersion: SCHEMA_VERSION,
    occurredAt: context.now().toISOString(),
    ...(context.requestDigest ? { requestDigest: context.requestDigest } : {}),
  };
  return events.map((e, i) => ({ id: eventIdFor(context.commandId, streamName, i), type: e.type, data: e.data, metadata }));
};

/** What an append made on a fold at `revision` expects the stream to be at. */
const expectedAt = (revision: bigint) => (revision < 0n ? ('no_stream' as const) : revision);

/**
 * A stream's current state: its events folded by the decider (only the new ones are read; see
 * stream-state.ts). With `cached`, what this process knows of it without a read: everything it
 * appended itself, but not what another process appended since.
 */
export const loadState = async <C, E extends AnyEvent, S>(store: EventStore, decider: Decider<C, E, S>, streamName: string, options: { cached?: boolean } = {}): Promise<S> =>
  (await loadStreamState(store, decider, streamName, options)).state;

export const handleCommand = async <C, E extends AnyEvent, S>(
  store: EventStore,
  decider: Decider<C, E, S>,
  streamName: string,
  command: C,
  context: CommandContext,
): Promise<Handled<E>> => {
  /** What a command id handled before answers: its stored events, if the request is the same. */
  const answerOfEarlier = (earlier: RecordedEvent[]): Handled<E> => {
    const first = earlier[0]!.metadata.requestDigest;
    if (context.requestDigest && first && first !== context.requestDigest)
      return { type: 'rejected', rejection: { code: 'already_exists', message: 'this command id was already used for a different request', field: 'commandId' } };
    return { type: 'accepted', events: earlier.map(asDomain<E>), position: earlier.at(-1)!.position, duplicate: true };
  };
  for (let attempt = 1, trustCache = true; ; attempt++) {
    // 1. load: the stream's state (first from the cache alone: a stale one conflicts at the append,
    // and the retry reads the tail), and the command's earlier events if the cache remembers its id
    const { state, revision, commands } = await loadStreamState(store, decider, streamName, { cached: trustCache, assumeNew: trustCache });
    const fromCacheAlone = trustCache;
    trustCache = false;
    const span = commands.get(context.commandId);
    const earlier = span ? await eventsOfCommand(store, streamName, context.commandId, span) : [];
    // (empty only if the events were truncated away since: then the command is decided afresh)
    if (earlier.length > 0) return answerOfEarlier(earlier);

    // 2. decide; a refusal, or nothing to do, may be the repeat of a command the cache has forgotten
    const decision = decider.decide(command, state);
    // no append checks a refusal against the stream: decided on the cache alone, it is decided again on the stream as it is
    if ((decision.type === 'rejected' || decision.events.length === 0) && fromCacheAlone) continue;
    if (decision.type === 'rejected' || decision.events.length === 0) {
      const stored = await storedEventsOfCommand(store, streamName, context.commandId);
      if (stored.length > 0) return answerOfEarlier(stored);
      return decision.type === 'rejected' ? decision : { type: 'accepted', events: [], position: undefined, duplicate: false };
    }

    const toAppend = eventsToAppend(context, streamName, decision.events);
    // 3. append with the expected revision; the store refuses an id it holds already
    try {
      const result = await store.appendToStream(streamName, toAppend, { expectedRevision: expectedAt(revision) });
      if (result.appended) {
        rememberAppended(store, decider, streamName, revision, toAppend);
        return { type: 'accepted', events: decision.events, position: result.position, duplicate: false };
      }
      // the same command id got there first (a concurrent retry, or a repeat the cache has forgotten):
      // what it stored is the answer, checked against this request like any repeat, not what this attempt decided
      const stored = await storedEventsOfCommand(store, streamName, context.commandId);
      if (stored.length > 0) return answerOfEarlier(stored);
      if (attempt >= MAX_ATTEMPTS) throw new ConcurrencyExhaustedError(streamName);
    } catch (error) {
      if (error instanceof IdempotencyMismatchError) {
        // some of this decision's ids are stored: the command was handled before, deciding otherwise then
        const stored = await storedEventsOfCommand(store, streamName, context.commandId);
        if (stored.length > 0) return answerOfEarlier(stored);
        throw error;
      }
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      if (attempt >= MAX_ATTEMPTS) throw new ConcurrencyExhaustedError(streamName);
      // a jittered pause, growing up to 64 ms, lets the competing writers finish before we reload
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(64, 2 ** attempt)));
    }
  }
};

/**
 * A command for handleTogether, on its stream: each its own decider's (the list mixes them, hence
 * `any`). One that `follows` is made from the events decided before it in the list (undefined:
 * nothing to do together), e.g. a workload opened from the reservation decided on its customer.
 */
export type CommandOnStream = {
  decider: Decider<any, any, any>;
  streamName: string;
  context: CommandContext;
  /** May decide nothing (then left out of the append and of the answers), on a stream a command before it appends to. */
  optional?: true;
} & ({ command: unknown } | { follows: (decidedBefore: readonly AnyEvent[]) => unknown });

/**
 * Several commands, appended in one round trip and all or none, when that is plainly possible:
 * the store offers it, and each command, decided on its stream's cached state (as the commands
 * before it in the list on the same stream left it), is new to it and appends something. A
 * stream's commands go in one append, in their order. Otherwise, or when the store refuses them
 * (a stale cache, an id stored already), nothing is appended and the answer is undefined: the
 * caller then handles each with handleCommand, which tells every case apart. What it saves is a
 * round trip and a commit per command after the first; what it adds is that the streams change
 * together. Each answer's position is that of its stream's last event in the append.
 */
export const handleTogether = async (store: EventStore, commands: readonly CommandOnStream[]): Promise<Array<Extract<Handled<AnyEvent>, { type: 'accepted' }>> | undefined> => {
  if (!store.appendToStreams) return undefined;
  // 1. load (the cache alone) and decide, each stream's commands on the state the earlier ones leave
  // each stream's command ids and every event decided so far kept as they grow: a round's placements
  // come as one long list, and looking through all before each command made it quadratic
  const streams = new Map<string, { decider: CommandOnStream['decider']; revision: bigint; state: unknown; seen: ReadonlyMap<string, unknown>; toAppend: EventToAppend[]; ids: Set<string> }>();
  const decided: Array<{ streamName: string; events: AnyEvent[] }> = [];
  const decidedEvents: AnyEvent[] = [];
  for (const c of commands) {
    let stream = streams.get(c.streamName);
    if (!stream) {
      const { state, revision, commands: seen } = await loadStreamState(store, c.decider, c.streamName, { cached: true, assumeNew: true });
      streams.set(c.streamName, (stream = { decider: c.decider, revision, state, seen, toAppend: [], ids: new Set() }));
    } else if (stream.decider !== c.decider) return undefined;
    // a repeat (handleCommand answers it), or one id twice in the list
    if (stream.seen.has(c.context.commandId) || stream.ids.has(c.context.commandId)) return undefined;
    const command = 'follows' in c ? c.follows(decidedEvents) : c.command;
    if (command === undefined) return undefined;
    const decision = c.decider.decide(command, stream.state);
    if (decision.type === 'rejected') return undefined;
    if (decision.events.length === 0) {
      if (c.optional && stream.toAppend.length > 0) continue;
      return undefined;
    }
    stream.state = (decision.events as AnyEvent[]).reduce(c.decider.evolve, stream.state);
    stream.toAppend.push(...eventsToAppend(c.context, c.streamName, decision.events));
    stream.ids.add(c.context.commandId);
    decided.push({ streamName: c.streamName, events: decision.events as AnyEvent[] });
    decidedEvents.push(...(decision.events as AnyEvent[]));
  }
  // 2. append them all, or none: a stream's events at once, streams in the order first named
  const names = [...streams.keys()];
  let results;
  try {
    results = await store.appendToStreams(names.map((name) => ({ streamName: name, events: streams.get(name)!.toAppend, expectedRevision: expectedAt(streams.get(name)!.revision) })));
  } catch (error) {
    if (error instanceof AppendsRefusedError) return undefined;
    throw error;
  }
  // 3. a retry the cache had forgotten appends nothing: handleCommand finds what it stored
  if (results.some((r) => !r.appended)) return undefined;
  for (const [name, s] of streams) rememberAppended(store, s.decider, name, s.revision, s.toAppend);
  const positions = new Map(names.map((name, i) => [name, results[i]!.position]));
  return decided.map((d) => ({ type: 'accepted' as const, events: d.events, position: positions.get(d.streamName)!, duplicate: false }));
};
