/**
 * The event log for auditors (and admins): every event, in store order, with its hash; a stream's
 * head; and the events appended from now (or from a cursor) on. Read only; customers and analysts
 * see none of it.
 *
 * A filtered page reads at most SCAN_BUDGET events of the log: a rare category answers a short
 * (even empty) page with `hasNextPage` and a cursor past what was read, instead of one request
 * walking millions of events.
 */
import { z } from 'zod';
import { categoryOf, matchesFilter, type ReplayFilter } from '../audit/replay.ts';
import { comparePositions, decodePosition, encodePosition, type GlobalPosition } from '../infra/event-store/position.ts';
import type { EventStore, RecordedEvent } from '../infra/event-store/types.ts';
import { requireRole } from './auth.ts';
import { InputError, parseInput } from './inputs.ts';
import { MAX_PAGE } from './query-cost.ts';
import type { ApiContext, ApiServices } from './resolvers.ts';

export const auditTypeDefs = /* GraphQL */ `
  "One stored event: where it lies in the log and in its stream, what it says, who decided it, and its link in the stream's hash chain."
  type AuditEvent {
    "Position in the log (commit/prepare): the order of all events."
    position: String!
    stream: String!
    category: String!
    "Revision in its stream, from 0 (a decimal string: streams may outgrow 2^53)."
    revision: String!
    id: ID!
    type: String!
    occurredAt: String!
    "SHA-256 of the previous event's hash, stream, revision, id, type, data and metadata."
    hash: String!
    "The event's data, as JSON."
    data: String!
    "Who and why (command, correlation, causation, actor, schema version, time), as JSON."
    metadata: String!
  }
  type AuditEventEdge { cursor: String!, node: AuditEvent! }
  type AuditEventConnection { edges: [AuditEventEdge!]!, nodes: [AuditEvent!]!, pageInfo: PageInfo! }
  "A stream's head: its last revision and hash (what a digest pins)."
  type AuditStream { name: String!, category: String!, revision: String!, hash: String!, lastPosition: String!, lastType: String! }

  extend type Query {
    "Events in store order (one stream: in revision order). Give a stream or a category, or neither for the whole log. Auditors and admins."
    events(stream: String, category: String, types: [String!], after: String, first: Int = 50): AuditEventConnection!
    "A stream's head, or null when no event was ever appended to it. Auditors and admins."
    stream(name: String!): AuditStream
  }
  extend type Subscription {
    "Events as they are appended (of a category, of some types), from now or after a cursor of the log. Auditors and admins."
    eventsAppended(category: String, types: [String!], after: String): AuditEvent!
  }
`;

const AUDIT_ROLES = ['auditor', 'admin'] as const;
/** Events a filtered page reads at most before it answers. */
export const SCAN_BUDGET = 10_000;
const READ_PAGE = 1000;

const streamName = z.string().min(1).max(200).regex(/^[A-Za-z0-9][A-Za-z0-9_.:@-]*$/, 'letters, digits and _ . : @ - only');
const category = z.string().min(1).max(64).regex(/^[A-Za-z0-9_]+$/, 'letters, digits and _ only');
const eventTypes = z.array(z.string().min(1).max(100).regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'an event type name')).max(50);
const first = z.number().int().min(1).max(MAX_PAGE);

/** A cursor is where the page ended: a revision of the stream asked for, or a position in the log. */
type Cursor = { revision: bigint } | { position: GlobalPosition };
const encodeCursor = (c: Cursor) => Buffer.from('revision' in c ? `r:${c.revision}` : `p:${encodePosition(c.position)}`).toString('base64url');
const decodeCursor = (cursor: string, stream: boolean): Cursor => {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const revision = /^r:(\d{1,19})$/.exec(text);
  if (stream && revision) return { revision: BigInt(revision[1]!) };
  if (!stream && /^p:\d{1,20}\/\d{1,20}$/.test(text)) return { position: decodePosition(text.slice(2)) };
  throw new InputError('after', stream ? 'not a cursor of this stream (take one from its pageInfo.endCursor)' : 'not a cursor of the log (take one from pageInfo.endCursor)');
};

const toView = (e: RecordedEvent) => ({
  position: encodePosition(e.position),
  stream: e.streamName,
  category: categoryOf(e.streamName),
  revision: e.revision.toString(),
  id: e.id,
  type: e.type,
  occurredAt: e.metadata.occurredAt,
  hash: e.hash,
  data: JSON.stringify(e.data),
  metadata: JSON.stringify(e.metadata),
});

type Args = { stream?: string | null; category?: string | null; types?: string[] | null; after?: string | null; first?: number | null };

const filterOf = (args: Args): ReplayFilter => {
  if (args.stream != null && args.category != null) throw new InputError('category', 'give a stream or a category, not both');
  return {
    ...(args.stream != null ? { stream: parseInput(streamName, args.stream, 'stream') } : {}),
    ...(args.category != null ? { category: parseInput(category, args.category, 'category') } : {}),
    ...(args.types != null ? { types: parseInput(eventTypes, args.types, 'types') } : {}),
  };
};

/** One page: up to `first` matching events, reading no more than SCAN_BUDGET. */
export const eventsPage = async (store: EventStore, args: Args) => {
  const filter = filterOf(args);
  const size = parseInput(first, args.first ?? 50, 'first');
  const oneStream = filter.stream !== undefined;
  const after = args.after == null ? undefined : decodeCursor(args.after, oneStream);
  const nodes: RecordedEvent[] = [];
  let scanned = 0;
  let last: Cursor | undefined = after;
  let more = false;
  scan: for (;;) {
    const page = oneStream
      ? await store.readStream(filter.stream!, { fromRevision: last && 'revision' in last ? last.revision + 1n : 0n, maxCount: READ_PAGE })
      : await store.readAll({ after: last && 'position' in last ? last.position : 'start', maxCount: READ_PAGE });
    for (const e of page) {
      if (nodes.length === size || scanned === SCAN_BUDGET) {
        more = true;
        break scan;
      }
      scanned++;
      last = oneStream ? { revision: e.revision } : { position: e.position };
      if (matchesFilter(filter, e)) nodes.push(e);
    }
    if (page.length < READ_PAGE) break;
  }
  const cursorOf = (e: RecordedEvent) => encodeCursor(oneStream ? { revision: e.revision } : { position: e.position });
  return {
    nodes: nodes.map(toView),
    edges: nodes.map((e) => ({ cursor: cursorOf(e), node: toView(e) })),
    // past everything read, matched or not, so the next page goes on where this one stopped
    pageInfo: { hasNextPage: more, endCursor: last ? encodeCursor(last) : null },
  };
};

/** The events appended after `after`, filtered, for as long as the subscriber listens. */
const appendedAfter = (store: EventStore, filter: ReplayFilter, after: GlobalPosition): AsyncIterableIterator<ReturnType<typeof toView>> => {
  const subscription = store.subscribeToAll({ after });
  const source = subscription[Symbol.asyncIterator]();
  const iterator: AsyncIterableIterator<ReturnType<typeof toView>> = {
    [Symbol.asyncIterator]: () => iterator,
    async next() {
      for (;;) {
        const next = await source.next();
        if (next.done) return { done: true, value: undefined };
        if (comparePositions(next.value.position, after) > 0 && matchesFilter(filter, next.value)) return { done: false, value: toView(next.value) };
      }
    },
    async return() {
      await subscription.close();
      return { done: true, value: undefined };
    },
  };
  return iterator;
};

export const createAuditResolvers = ({ deps }: ApiServices) => ({
  Query: {
    events: async (_: unknown, args: Args, ctx: ApiContext) => {
      requireRole(ctx.principal, ...AUDIT_ROLES);
      return eventsPage(deps.store, args);
    },
    stream: async (_: unknown, args: { name: string }, ctx: ApiContext) => {
      requireRole(ctx.principal, ...AUDIT_ROLES);
      const name = parseInput(streamName, args.name, 'name');
      const [head] = await deps.store.readStream(name, { direction: 'backwards', maxCount: 1 });
      return head
        ? { name, category: categoryOf(name), revision: head.revision.toString(), hash: head.hash, lastPosition: encodePosition(head.position), lastType: head.type }
        : null;
    },
  },
  Subscription: {
    eventsAppended: {
      subscribe: async (_: unknown, args: Omit<Args, 'stream' | 'first'>, ctx: ApiContext) => {
        requireRole(ctx.principal, ...AUDIT_ROLES);
        const filter = filterOf(args);
        const cursor = args.after == null ? undefined : decodeCursor(args.after, false);
        const after = cursor && 'position' in cursor ? cursor.position : await deps.store.headPosition();
        return appendedAfter(deps.store, filter, after);
      },
      resolve: (payload: unknown) => payload,
    },
  },
});
