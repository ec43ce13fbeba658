/** PostgreSQL event store over `pg` or PGlite (see schema.ts for the ordering scheme). */
import type { Database } from '../../postgres/database.ts';
import { listenToSchema, notifySchema, senderToken } from '../../postgres/listen.ts';
import { migrate } from '../../postgres/migrate.ts';
import {
  AppendsRefusedError,
  IdempotencyMismatchError,
  WrongExpectedRevisionError,
  type ExpectedRevision,
} from '../expected-revision.ts';
import { resolveAfter, START, type GlobalPosition } from '../position.ts';
import { createTailBuffer } from '../tail-buffer.ts';
import { createWakeSignal, pollingSubscription } from '../polling-subscription.ts';
import type { EventMetadata, EventStore, ReadAllOptions, RecordedEvent, StoredEventText } from '../types.ts';
import { EVENT_STORE_SCHEMA } from './schema.ts';

type EventRow = {
  transaction_id: string;
  position: string;
  stream_name: string;
  stream_revision: string;
  event_id: string;
  event_type: string;
  data: Record<string, unknown>;
  metadata: EventMetadata;
  hash: string;
};

// selected as text under their own names: ORDER BY must name the table's columns (e.*), not these
const COLUMNS = `e.transaction_id::text, e.position::text, e.stream_name, e.stream_revision::text, e.event_id::text, e.event_type, e.data, e.metadata, e.hash`;

const APPEND = { name: 'hcp_append', text: `SELECT * FROM hcp_append($1, $2, $3::jsonb)` };
const APPEND_MANY = { name: 'hcp_append_many', text: `SELECT * FROM hcp_append_many($1::jsonb)` };

type AppendRow = { next_revision: string; commit_position: string; prepare_position: string; appended: boolean };
const appendResultOf = (row: AppendRow) => ({
  nextExpectedRevision: BigInt(row.next_revision),
  position: { commit: BigInt(row.commit_position), prepare: BigInt(row.prepare_position) },
  appended: row.appended,
});

/** Events after a position in store order, readable ones only (schema.ts), with these columns. */
const afterPosition = (columns: string) => `SELECT ${columns} FROM hcp_events e
          WHERE (e.transaction_id, e.position) > ($1::text::xid8, $2::bigint)
            AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY e.transaction_id, e.position
          LIMIT $3`;
const afterPositionParams = (after: GlobalPosition, maxCount: number) => [(after.commit < 0n ? 0n : after.commit).toString(), after.prepare.toString(), Math.min(maxCount, MAX_LIMIT)];

const READ_ALL = { name: 'hcp_read_all', text: afterPosition(COLUMNS) };
// data and metadata as jsonb's own text: for a chain verifier, which hashes that text
const READ_ALL_TEXT = { name: 'hcp_read_all_text', text: afterPosition(COLUMNS.replace('e.data, e.metadata', 'e.data::text AS data_text, e.metadata::text AS metadata_text')) };

const HEAD = {
  name: 'hcp_head',
  text: `SELECT e.transaction_id::text, e.position::text FROM hcp_events e
          WHERE e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY e.transaction_id DESC, e.position DESC LIMIT 1`,
};

const READ_FORWARDS = {
  name: 'hcp_read_stream_fw',
  text: `SELECT ${COLUMNS} FROM hcp_events e WHERE e.stream_name = $1 AND e.stream_revision >= $2
          ORDER BY e.stream_revision LIMIT $3`,
};

const READ_BACKWARDS = {
  name: 'hcp_read_stream_bw',
  text: `SELECT ${COLUMNS} FROM hcp_events e WHERE e.stream_name = $1 AND e.stream_revision <= $2
          ORDER BY e.stream_revision DESC LIMIT $3`,
};

const READ_BY_ID = {
  name: 'hcp_read_by_id',
  text: `SELECT ${COLUMNS} FROM hcp_events e WHERE e.event_id = $1::uuid AND e.stream_name = $2`,
};

type TextRow = Omit<EventRow, 'data' | 'metadata'> & { data_text: string; metadata_text: string };

/** What every read gives of an event besides its data and metadata. */
const placed = (row: Omit<EventRow, 'data' | 'metadata'>) => ({
  id: row.event_id,
  type: row.event_type,
  streamName: row.stream_name,
  revision: BigInt(row.stream_revision),
  position: { commit: BigInt(row.transaction_id), prepare: BigInt(row.position) },
  hash: row.hash,
});

// filled in place rather than spread: a rebuild or a chain walk makes a million of these, and a
// spread copy made the walk half as fast
const toRecorded = (row: EventRow): RecordedEvent => {
  const e = placed(row) as RecordedEvent;
  e.data = row.data;
  e.metadata = row.metadata;
  return e;
};
const toStoredText = (row: TextRow): StoredEventText => {
  const e = placed(row) as StoredEventText;
  e.dataText = row.data_text;
  e.metadataText = row.metadata_text;
  return e;
};

/**
 * Given to hcp_append instead of an expected revision, which it never meets: the function then only
 * looks the ids up, answering a repeat as such or raising HC002, and never appends (see below).
 */
const IDS_ONLY = 'ids-only';

const isStoredIdViolation = (e: { code?: string; constraint?: string; message?: string }) =>
  e.code === '23505' && (e.constraint === 'hcp_events_event_id' || /hcp_events_event_id/.test(e.message ?? ''));

const expectedText = (e: ExpectedRevision) => (typeof e === 'bigint' ? e.toString() : e);

const MAX_LIMIT = 1_000_000;

export const migrateEventStore = (db: Database) => migrate(db, 'hcp_event_store', EVENT_STORE_SCHEMA);

/**
 * What a sole writer needs to answer appends before they are stored (../write-behind.ts): every
 * stream's revision, the last event's position, and the last sequence number given out (past the
 * last event's when appends were rolled back or lost in a crash; 0 before any).
 */
export const writerStart = async (db: Database, store: EventStore) => {
  const streams = await db.query<{ stream_name: string; revision: string }>(`SELECT stream_name, revision::text AS revision FROM hcp_streams WHERE revision >= 0`);
  const lastSequenceNow = async () => {
    const [given] = await db.query<{ n: string | null }>(`SELECT pg_sequence_last_value(pg_get_serial_sequence('hcp_events', 'position')::regclass)::text AS n`);
    return BigInt(given?.n ?? '0');
  };
  return {
    revisions: new Map(streams.map((r) => [r.stream_name, BigInt(r.revision)])),
    last: await store.headPosition(),
    lastSequence: await lastSequenceNow(),
    lastSequenceNow,
  };
};

export const APPENDED_CHANNEL = 'hcp_appended';
/** How often a listening store says it is here, and how long after the last word from another it is still told of appends. */
const HERE_EVERY_MS = 5_000;
const OTHERS_FORGOTTEN_MS = 3 * HERE_EVERY_MS;

export const createPostgresEventStore = async (
  db: Database,
  {
    closeDatabase = false,
    acrossProcesses,
  }: {
    closeDatabase?: boolean;
    /**
     * On a server: tell other processes of this one's appends, and hear theirs (LISTEN), so their
     * subscriptions read at once instead of at their next poll; warnings go to `warn`.
     */
    acrossProcesses?: { warn: (message: string, error?: unknown) => void };
  } = {},
): Promise<EventStore> => {
  await migrateEventStore(db);
  const wake = createWakeSignal();
  const across = acrossProcesses && db.session ? acrossProcesses : undefined;
  // Another process is told of appends only while one is heard on the channel: each store that
  // listens says it is `here` when it starts listening and every HERE_EVERY_MS, and an append or
  // a `here` from another sender counts. Alone on a schema (the quick start, one `hcp start`)
  // a store then sends nothing, and never hears its own appends back from the server: its readers
  // were woken when it appended (bench:submit: notifications and the reads they set off were a
  // tenth of the server's CPU).
  const me = senderToken();
  let othersHeardAt = -Infinity;
  const othersListen = () => performance.now() - othersHeardAt < OTHERS_FORGOTTEN_MS;
  const sayHere = () =>
    !across
      ? Promise.resolve()
      : notifySchema(db, APPENDED_CHANNEL, me, 'here').then(
          () => {},
          (error: unknown) => across.warn('could not tell other processes this one listens', error),
        );
  const listener = across
    ? await listenToSchema(db, APPENDED_CHANNEL, {
        onNotified: ({ sender, kind }) => {
          if (sender === me) return;
          othersHeardAt = performance.now();
          if (kind !== 'here') wake.notify();
        },
        onListening: sayHere,
        retryMs: 1000,
        warn: across.warn,
      })
    : undefined;
  const hereTimer = listener ? setInterval(() => void sayHere(), HERE_EVERY_MS) : undefined;
  hereTimer?.unref();
  // Sent after the append has committed, never inside it: NOTIFY serializes the commits of every
  // transaction that sends one (16 writers appended at a third of their speed). One notification is
  // in flight at a time, and one more follows if appends committed meanwhile.
  let telling: Promise<void> | undefined;
  let tellAgain = false;
  const tellOthers = () => {
    if (!across || !othersListen()) return;
    if (telling) {
      tellAgain = true;
      return;
    }
    telling = notifySchema(db, APPENDED_CHANNEL, me, 'appended')
      .then(
        () => {},
        (error: unknown) => across.warn('could not tell other processes of an append (they read it at their next poll)', error),
      )
      .finally(() => {
        telling = undefined;
        if (tellAgain) {
          tellAgain = false;
          tellOthers();
        }
      });
  };

  const readFromDatabase = async (after: GlobalPosition, maxCount: number) =>
    (
      await db.query<EventRow>(READ_ALL, afterPositionParams(after, maxCount))
    ).map(toRecorded);
  const tail = createTailBuffer(readFromDatabase, () => wake.generation());
  const readAll = (options: ReadAllOptions = {}) => tail.read(resolveAfter(options.after), options.maxCount ?? MAX_LIMIT);

  return {
    kind: 'postgres',
    async appendToStream(streamName, events, options = {}) {
      const expected = options.expectedRevision ?? 'any';
      const append = async (expectation: string) => {
        const [row] = await db.query<AppendRow>(APPEND, [streamName, expectation, JSON.stringify(events)]);
        if (!row) throw new Error('hcp_append returned no row');
        if (row.appended) {
          wake.notify();
          tellOthers();
        }
        return appendResultOf(row);
      };
      const refusal = (error: unknown) => {
        const e = error as { code?: string; detail?: string };
        if (e.code === 'HC001') {
          const actual = BigInt(e.detail ?? '-1');
          return new WrongExpectedRevisionError(streamName, expected, actual < 0n ? undefined : actual);
        }
        if (e.code === 'HC002') return new IdempotencyMismatchError(streamName, e.detail ?? '?');
        return error;
      };
      try {
        return await append(expectedText(expected));
      } catch (error) {
        if (!isStoredIdViolation(error as { code?: string }) || events.length === 0) throw refusal(error);
        // the expected revision held, but an id is stored (a retry the cache forgot, or an id
        // reused): the function's own look-up says which, asked with an expectation nothing meets
        try {
          return await append(IDS_ONLY);
        } catch (again) {
          throw (again as { code?: string }).code === 'HC002' ? refusal(again) : error;
        }
      }
    },
    async appendToStreams(appends) {
      const rows = await db
        .query<AppendRow>(APPEND_MANY, [JSON.stringify(appends.map((a) => ({ stream: a.streamName, expected: expectedText(a.expectedRevision ?? 'any'), events: a.events })))])
        .catch((error: unknown) => {
          // a revision or an id refused (or two such appends deadlocked on each other's streams)
          const e = error as { code?: string; message?: string };
          if (e.code === 'HC001' || e.code === 'HC002' || e.code === '40P01' || isStoredIdViolation(e))
            throw new AppendsRefusedError(appends.map((a) => a.streamName), e.message ?? String(e.code));
          throw error;
        });
      if (rows.length !== appends.length) throw new Error(`hcp_append_many returned ${rows.length} rows for ${appends.length} appends`);
      if (rows.some((r) => r.appended)) {
        wake.notify();
        tellOthers();
      }
      return rows.map(appendResultOf);
    },
    async readStream(streamName, options = {}) {
      const limit = Math.min(options.maxCount ?? MAX_LIMIT, MAX_LIMIT);
      const rows =
        options.direction === 'backwards'
          ? await db.query<EventRow>(READ_BACKWARDS, [streamName, (options.fromRevision ?? 2n ** 62n).toString(), limit])
          : await db.query<EventRow>(READ_FORWARDS, [streamName, (options.fromRevision ?? 0n).toString(), limit]);
      return rows.map(toRecorded);
    },
    readAll,
    async readAllText(options = {}) {
      return (await db.query<TextRow>(READ_ALL_TEXT, afterPositionParams(resolveAfter(options.after), options.maxCount ?? MAX_LIMIT))).map(toStoredText);
    },
    async readEventById(streamName, eventId) {
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(eventId)) return undefined;
      const [row] = await db.query<EventRow>(READ_BY_ID, [eventId, streamName]);
      return row ? toRecorded(row) : undefined;
    },
    subscribeToAll: (options = {}) => pollingSubscription({ readAll, wake, after: options.after }),
    async headPosition() {
      const [row] = await db.query<{ transaction_id: string; position: string }>(HEAD);
      return row ? { commit: BigInt(row.transaction_id), prepare: BigInt(row.position) } : START;
    },
    async close() {
      clearInterval(hereTimer);
      await listener?.stop();
      await telling;
      if (closeDatabase) await db.close();
    },
  };
};
