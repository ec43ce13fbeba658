/**
 * The command pipeline: load and fold the stream, decide, append with the expected
 * revision; on a conflict reload and decide again (bounded). A rejection appends
 * nothing. A command id already seen in the stream returns what it appended then
 * (idempotency); event ids derive from the command id, so even a retry after a
 * lost acknowledgement is deduplicated by the store.
 */
import { fold, type Decider, type Rejection } from '../domain/decider.ts';
import { WrongExpectedRevisionError } from '../infra/event-store/expected-revision.ts';
import type { GlobalPosition } from '../infra/event-store/position.ts';
import type { EventMetadata, EventStore, RecordedEvent } from '../infra/event-store/types.ts';
import { eventIdFor } from '../infra/ids.ts';

/** Who sent a command, why, and when (from the injected clock). */
export type CommandContext = {
  commandId: string;
  actor: string;
  correlationId: string;
  causationId?: string;
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
const MAX_ATTEMPTS = 8;

export class ConcurrencyExhaustedError extends Error {
  readonly type = 'concurrency_exhausted' as const;
  constructor(readonly streamName: string) {
    super(`stream ${streamName}: still conflicting after ${MAX_ATTEMPTS} attempts`);
  }
}

type AnyEvent = { type: string; data: Record<string, unknown> };
const asDomain = <E>(e: RecordedEvent) => ({ type: e.type, data: e.data }) as E;

/** A stream's current state: its events folded by the decider. */
export const loadState = async <C, E extends AnyEvent, S>(store: EventStore, decider: Decider<C, E, S>, streamName: string): Promise<S> =>
  fold(decider, (await store.readStream(streamName)).map(asDomain<E>));

export const handleCommand = async <C, E extends AnyEvent, S>(
  store: EventStore,
  decider: Decider<C, E, S>,
  streamName: string,
  command: C,
  context: CommandContext,
): Promise<Handled<E>> => {
  for (let attempt = 1; ; attempt++) {
    const recorded = await store.readStream(streamName);
    const earlier = recorded.filter((e) => e.metadata.commandId === context.commandId);
    if (earlier.length > 0)
      return { type: 'accepted', events: earlier.map(asDomain<E>), position: earlier.at(-1)!.position, duplicate: true };

    const state = fold(decider, recorded.map(asDomain<E>));
    const decision = decider.decide(command, state);
    if (decision.type === 'rejected') return decision;
    if (decision.events.length === 0) return { type: 'accepted', events: [], position: undefined, duplicate: false };

    const metadata: EventMetadata = {
      commandId: context.commandId,
      correlationId: context.correlationId,
      causationId: context.causationId ?? context.commandId,
      actor: context.actor,
      schemaVersion: SCHEMA_VERSION,
      occurredAt: context.now().toISOString(),
    };
    const toAppend = decision.events.map((e, i) => ({
      id: eventIdFor(context.commandId, streamName, i),
      type: e.type,
      data: e.data,
      metadata,
    }));
    const expectedRevision = recorded.length === 0 ? ('no_stream' as const) : recorded.at(-1)!.revision;
    try {
      const result = await store.appendToStream(streamName, toAppend, { expectedRevision });
      return { type: 'accepted', events: decision.events, position: result.position, duplicate: !result.appended };
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      if (attempt >= MAX_ATTEMPTS) throw new ConcurrencyExhaustedError(streamName);
      // a short, jittered pause lets the competing writer finish before we reload
      await new Promise((r) => setTimeout(r, Math.random() * 2 * attempt));
    }
  }
};
