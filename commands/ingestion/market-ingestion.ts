/**
 * Market ingestion (docs/design.md §2 "Edge"): consumes `hcp.market.ticks` in the group
 * `hcp-ingestion` and records each tick as exactly one event, PriceTicked,
 * NetworkStatsUpdated or DayAheadPublished, on `marketStream(tick)`.
 *
 * Exactly one event per tick under at-least-once delivery: the event id is
 * `uuidFromName('tick:' + tickId)`, so a redelivered or republished tick is an
 * idempotent append the store ignores. A bounded cache of recent tick ids skips
 * most duplicates without a store round trip; correctness never depends on it
 * (it only remembers ticks the store has confirmed).
 *
 * A message that is not a tick (no value, bad JSON, schema violation, a tick id
 * already recorded on another feed's stream, data the store refuses as such) is
 * logged with the field at fault and
 * published to `hcp.market.ticks.dlq` with the error; then its offset is committed
 * like any other, so it never blocks its partition. Failures of the store or the
 * DLQ are thrown to the bus, which delivers the rest of the batch again later.
 */
import { marketStream, marketTickSchema, type MarketTick } from '../../domain/market/ticks.ts';
import { eachMessage, type ConsumedMessage, type MessageBus, type Subscription } from '../../infra/bus/types.ts';
import { GROUPS, TOPICS } from '../../infra/bus/topics.ts';
import { systemClock, type Clock } from '../../infra/clock.ts';
import { IdempotencyMismatchError } from '../../infra/event-store/expected-revision.ts';
import type { EventStore, EventToAppend } from '../../infra/event-store/types.ts';
import { uuidFromName } from '../../infra/ids.ts';
import type { Logger } from '../../infra/logger.ts';
import { SCHEMA_VERSION } from '../handle.ts';
import { RecentCache } from './recent.ts';
import { isStorableText, STORABLE_TEXT_MESSAGE } from '../../domain/text.ts';

export const INGESTION_ACTOR = 'ingestion';

export type TickRejection = {
  /** `conflict`: the tick id is recorded on another stream; `store`: the store refused the data itself. */
  reason: 'empty' | 'json' | 'schema' | 'conflict' | 'store';
  /**
   * The field at fault: a dotted path (`priceMicroUsd`, `kind`), the names of
   * unknown fields, `(value)` for a message without a value, `(json)` for text that
   * is not JSON, `(root)` for JSON that is not an object.
   */
  field: string;
  message: string;
  /** Every schema issue, for the DLQ record. */
  issues?: Array<{ field: string; message: string }>;
};

export type ParsedTick = { ok: true; tick: MarketTick } | { ok: false; rejection: TickRejection };

const fieldOf = (issue: { path: PropertyKey[]; code: string; keys?: string[] }) => {
  if (issue.code === 'unrecognized_keys' && issue.keys && issue.keys.length > 0) {
    const prefix = issue.path.length > 0 ? `${issue.path.map(String).join('.')}.` : '';
    return issue.keys.map((k) => prefix + k).join(',');
  }
  return issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
};


/** The pure parse and validate step: message value → MarketTick, or why not. */
export const parseTickMessage = (value: string | null | undefined): ParsedTick => {
  if (value === null || value === undefined || value.trim() === '')
    return { ok: false, rejection: { reason: 'empty', field: '(value)', message: 'message has no value' } };
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch (error) {
    return { ok: false, rejection: { reason: 'json', field: '(json)', message: `not JSON: ${(error as Error).message}` } };
  }
  const parsed = marketTickSchema.safeParse(json);
  if (parsed.success) {
    // the one free-text field: PostgreSQL's jsonb refuses NUL and lone surrogates, which would
    // make the message fail on every delivery and block its partition
    if (!isStorableText(parsed.data.tickId))
      return { ok: false, rejection: { reason: 'schema', field: 'tickId', message: STORABLE_TEXT_MESSAGE } };
    return { ok: true, tick: parsed.data };
  }
  const issues = parsed.error.issues.map((i) => ({ field: fieldOf(i as never), message: i.message }));
  const first = issues[0]!;
  return { ok: false, rejection: { reason: 'schema', field: first.field, message: first.message, issues } };
};

export const TICK_EVENT_TYPES = { price: 'PriceTicked', network: 'NetworkStatsUpdated', 'day-ahead': 'DayAheadPublished' } as const;

export const tickCommandId = (tickId: string) => `tick:${tickId}`;
export const tickEventId = (tickId: string) => uuidFromName(tickCommandId(tickId));

/**
 * The one event a tick becomes: its data is the tick as validated (so
 * `marketTickSchema` parses it back), its id derives from the tick id alone.
 */
export const tickEvent = (tick: MarketTick, options: { correlationId?: string } = {}): { streamName: string; event: EventToAppend } => {
  const commandId = tickCommandId(tick.tickId);
  return {
    streamName: marketStream(tick),
    event: {
      id: tickEventId(tick.tickId),
      type: TICK_EVENT_TYPES[tick.kind],
      data: { ...tick },
      metadata: {
        commandId,
        correlationId: options.correlationId ?? commandId,
        causationId: commandId,
        actor: INGESTION_ACTOR,
        schemaVersion: SCHEMA_VERSION,
        occurredAt: tick.at,
      },
    },
  };
};

/** The bus message of a tick, as simulators and feeds publish it: keyed by stream, so a feed stays in order. */
export const tickMessage = (tick: MarketTick, headers?: Record<string, string>) => ({
  key: marketStream(tick),
  value: JSON.stringify(tick),
  ...(headers ? { headers } : {}),
});

/** What the dead-letter topic holds for a rejected message. */
export type DeadLetter = {
  error: TickRejection;
  source: { topic: string; partition: number; offset: string; key: string | null };
  /** The original value (cut at 64 KiB). */
  value: string | null;
  failedAt: string;
};

/** Bytes of the original value and key a dead letter keeps; with the bounded rejection, a record stays far below Kafka's 1 MB default. */
const MAX_DLQ_VALUE = 64 * 1024;
const MAX_DLQ_KEY = 1024;
const MAX_FIELD = 256;
const MAX_MESSAGE = 512;
const MAX_ISSUES = 20;
const CORRELATION_HEADER = 'correlation-id';

/** The first `max` bytes of a text in UTF-8 (a character cut in two is dropped). */
const cutToBytes = (text: string, max: number) => {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= max ? text : bytes.subarray(0, max).toString('utf8').replace(/\uFFFD$/, '');
};

/** A rejection as a dead letter carries it: a message with 40,000 unknown keys names the first few. */
const boundedRejection = (r: TickRejection): TickRejection => ({
  reason: r.reason,
  field: cutToBytes(r.field, MAX_FIELD),
  message: cutToBytes(r.message, MAX_MESSAGE),
  ...(r.issues ? { issues: r.issues.slice(0, MAX_ISSUES).map((i) => ({ field: cutToBytes(i.field, MAX_FIELD), message: cutToBytes(i.message, MAX_MESSAGE) })) } : {}),
});

export type IngestionStats = {
  received: number;
  appended: number;
  /** Ticks the store already held (redeliveries, republished ticks). */
  duplicates: number;
  /** Duplicates skipped by the recent-tick cache, without a store round trip. */
  skippedRecent: number;
  deadLettered: number;
};

export type MarketIngestionOptions = {
  bus: MessageBus;
  store: EventStore;
  logger: Logger;
  clock?: Clock;
  topic?: string;
  dlqTopic?: string;
  groupId?: string;
  /** Capacity of the recent-tick cache (default 10,000; 0 disables it). */
  recentTicks?: number;
};

export type MarketIngestion = {
  readonly subscription: Subscription;
  stats(): IngestionStats;
  stop(): Promise<void>;
};

/** The per-message step (exported for tests that drive it without a bus). */
export const createTickHandler = (options: Omit<MarketIngestionOptions, 'bus' | 'groupId'> & { publish: MessageBus['publish'] }) => {
  const { store, publish } = options;
  const log = options.logger.child({ component: 'market-ingestion' });
  const clock = options.clock ?? systemClock;
  const dlqTopic = options.dlqTopic ?? TOPICS.marketTicksDlq;
  const recent = new RecentCache<string, string>(options.recentTicks ?? 10_000);
  const stats: IngestionStats = { received: 0, appended: 0, duplicates: 0, skippedRecent: 0, deadLettered: 0 };

  const deadLetter = async (m: ConsumedMessage, unbounded: TickRejection) => {
    // what a message says of itself is bounded here, so that its dead letter always fits the
    // broker's record limit: one that did not would be refused on every delivery and hold the partition
    const rejection = boundedRejection(unbounded);
    log.warn(
      { topic: m.topic, partition: m.partition, offset: m.offset, reason: rejection.reason, field: rejection.field, error: rejection.message },
      'rejected market message sent to the dead-letter topic',
    );
    const record: DeadLetter = {
      error: rejection,
      source: { topic: m.topic, partition: m.partition, offset: m.offset, key: m.key === null ? null : cutToBytes(m.key, MAX_DLQ_KEY) },
      value: m.value === null ? null : cutToBytes(m.value, MAX_DLQ_VALUE),
      failedAt: clock.now().toISOString(),
    };
    await publish(dlqTopic, [
      {
        key: record.source.key ?? `${m.topic}/${m.partition}/${m.offset}`,
        value: JSON.stringify(record),
        headers: { 'hcp-error-reason': rejection.reason, 'hcp-error-field': rejection.field, 'hcp-source': `${m.topic}/${m.partition}/${m.offset}` },
      },
    ]);
    stats.deadLettered++;
  };

  const handle = async (m: ConsumedMessage) => {
    stats.received++;
    const parsed = parseTickMessage(m.value);
    if (!parsed.ok) return deadLetter(m, parsed.rejection);
    const tick = parsed.tick;
    // an optional header the store could not keep is ignored, not allowed to refuse a good tick
    const correlation = m.headers[CORRELATION_HEADER];
    const { streamName, event } = tickEvent(tick, correlation && correlation.length <= 256 && isStorableText(correlation) ? { correlationId: correlation } : {});
    if (recent.get(tick.tickId) === streamName) {
      stats.skippedRecent++;
      return;
    }
    try {
      const result = await store.appendToStream(streamName, [event], { expectedRevision: 'any' });
      if (result.appended) stats.appended++;
      else stats.duplicates++;
      recent.set(tick.tickId, streamName);
    } catch (error) {
      if (error instanceof IdempotencyMismatchError)
        // the same tick id, recorded earlier on another feed: a producer bug, not a redelivery
        return deadLetter(m, {
          reason: 'conflict',
          field: 'tickId',
          message: `tick id ${tick.tickId} is already recorded on another stream than ${streamName}`,
        });
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('22'))
        // a PostgreSQL data exception: this message fails the same way on every delivery
        return deadLetter(m, { reason: 'store', field: '(event)', message: `the store refused the event: ${(error as Error).message}` });
      throw error; // unavailable or overloaded: the bus delivers it again
    }
  };

  return { handle, stats: () => ({ ...stats }) };
};

export const startMarketIngestion = async (options: MarketIngestionOptions): Promise<MarketIngestion> => {
  const { bus } = options;
  const handler = createTickHandler({ ...options, publish: (topic, messages) => bus.publish(topic, messages) });
  const subscription = await bus.consume({
    topic: options.topic ?? TOPICS.marketTicks,
    groupId: options.groupId ?? GROUPS.ingestion,
    fromBeginning: true,
    handle: eachMessage(handler.handle),
  });
  return { subscription, stats: handler.stats, stop: () => subscription.stop() };
};
