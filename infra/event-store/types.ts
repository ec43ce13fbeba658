/**
 * The event store port. Three adapters (memory, PostgreSQL/PGlite, EventStoreDB)
 * implement it and pass one contract suite (tests/contract/event-store.contract.ts).
 */
import type { ExpectedRevision } from './expected-revision.ts';
import type { GlobalPosition } from './position.ts';

/** Who and why, on every event (docs/design.md §4 "Logs"). */
export type EventMetadata = {
  commandId: string;
  correlationId: string;
  causationId: string;
  actor: string;
  schemaVersion: number;
  /** ISO time from the injected clock of the process that decided the event. */
  occurredAt: string;
  /** Fingerprint of the caller's request, when a caller sent one (commands/context.ts). */
  requestDigest?: string;
};

export type EventToAppend = {
  /** Deterministic (derived from the command id), so a retried append is a no-op. */
  id: string;
  type: string;
  data: Record<string, unknown>;
  metadata: EventMetadata;
};

export type RecordedEvent = EventToAppend & {
  streamName: string;
  /** 0-based revision of this event in its stream. */
  revision: bigint;
  position: GlobalPosition;
  /** This event's link in its stream's hash chain (chain.ts), computed by the store on append. */
  hash: string;
};

/**
 * An event as stored, its data and metadata left in the text the store renders them as (jsonb's
 * canonical text, which the hash chain covers): what a chain verifier needs, without parsing.
 */
export type StoredEventText = Omit<RecordedEvent, 'data' | 'metadata'> & { dataText: string; metadataText: string };

export type AppendResult = {
  /** Revision of the last event in the stream after the append. */
  nextExpectedRevision: bigint;
  /** Position of the last appended event (or of the already-stored one on an idempotent retry). */
  position: GlobalPosition;
  /** False when every event id was already stored: a retry that added nothing. */
  appended: boolean;
};

export type StreamAppend = { streamName: string; events: readonly EventToAppend[]; expectedRevision?: ExpectedRevision };

export type ReadStreamOptions = {
  direction?: 'forwards' | 'backwards';
  /** Inclusive; defaults to the first (forwards) or last (backwards) event. */
  fromRevision?: bigint;
  maxCount?: number;
};

export type ReadAllOptions = {
  /** Exclusive: events strictly after this position. `start` reads from the beginning. */
  after?: GlobalPosition | 'start';
  maxCount?: number;
};

/** A live, catch-up subscription to all events: yields every committed event once, in store order. */
export type AllSubscription = AsyncIterable<RecordedEvent> & {
  /** Idempotent; ends the iteration. */
  close(): Promise<void>;
};

export type EventStore = {
  readonly kind: 'memory' | 'postgres' | 'esdb';
  appendToStream(
    streamName: string,
    events: readonly EventToAppend[],
    options?: { expectedRevision?: ExpectedRevision },
  ): Promise<AppendResult>;
  /**
   * Appends to several streams at once, all or none (a refusal of any keeps nothing of the others),
   * in the order given; one result per append. Where the store offers it (PostgreSQL, PGlite and
   * memory; EventStoreDB has no transaction across streams). It does not tell a retried append from
   * a conflict: on any refusal, append one stream at a time, where each is told apart.
   */
  appendToStreams?(appends: readonly StreamAppend[]): Promise<AppendResult[]>;
  /** A missing stream reads as an empty array. */
  readStream(streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** readAll with data and metadata unparsed, where the store keeps them as canonical text (PostgreSQL, PGlite). */
  readAllText?(options?: ReadAllOptions): Promise<StoredEventText[]>;
  /**
   * The event of a stream with this id, if the stream holds it. PostgreSQL and memory look it up
   * by its unique id; EventStoreDB has no index by id and looks among the stream's last
   * ESDB_ID_LOOKUP_DEPTH events only.
   */
  readEventById(streamName: string, eventId: string): Promise<RecordedEvent | undefined>;
  subscribeToAll(options?: { after?: GlobalPosition | 'start' }): AllSubscription;
  /** The position of the last readable event (START when there is none): where a subscription to what comes next starts. */
  headPosition(): Promise<GlobalPosition>;
  close(): Promise<void>;
};
