/**
 * The event store contract against a real EventStoreDB. Runs when ESDB_CONNECTION_STRING is set, e.g.
 *   docker run -d -p 2113:2113 eventstore/eventstore:24.10 --insecure --run-projections=None
 *   ESDB_CONNECTION_STRING='esdb://localhost:2113?tls=false' npx vitest run tests/contract/esdb.test.ts
 * (a secure server needs credentials that may read $all: esdb://admin:changeit@host:2113).
 *
 * The contract wants a fresh, empty store per `open()`. An EventStoreDB server cannot be emptied
 * and may be shared (earlier runs, other developers, system events), so each `open()` gets a scoped
 * view of a real adapter: stream names get a per-open prefix, and readAll/subscribeToAll start at
 * the end of $all as it was at open() and keep only the scope's streams. Appends, reads, revisions,
 * positions, idempotency and conflicts all go through to the adapter unchanged.
 */
import { randomUUID } from 'node:crypto';
import { BACKWARDS, END, EventStoreDBClient } from '@eventstore/db-client';
import { afterAll, describe, it } from 'vitest';
import { createEsdbEventStore } from '../../infra/event-store/esdb/store.ts';
import { comparePositions, START, type GlobalPosition } from '../../infra/event-store/position.ts';
import type { AllSubscription, EventStore, RecordedEvent } from '../../infra/event-store/types.ts';
import { eventStoreContract } from './event-store.contract.ts';

const connectionString = process.env.ESDB_CONNECTION_STRING;

const PAGE = 500;

const scoped = (store: EventStore, prefix: string, origin: GlobalPosition): EventStore => {
  const inScope = (e: RecordedEvent) => e.streamName.startsWith(prefix);
  const unscoped = (e: RecordedEvent): RecordedEvent => ({ ...e, streamName: e.streamName.slice(prefix.length) });
  const from = (after: GlobalPosition | 'start' | undefined) => (after === undefined || after === 'start' ? origin : after);
  return {
    kind: store.kind,
    appendToStream: (streamName, events, options) => store.appendToStream(prefix + streamName, events, options),
    readStream: async (streamName, options) => (await store.readStream(prefix + streamName, options)).map(unscoped),
    readEventById: async (streamName, eventId) => {
      const e = await store.readEventById(prefix + streamName, eventId);
      return e && unscoped(e);
    },
    async readAll({ after, maxCount = Number.MAX_SAFE_INTEGER } = {}) {
      // other writers' events count towards the adapter's maxCount, so page until ours are enough
      const out: RecordedEvent[] = [];
      for (let cursor = from(after); ; ) {
        const page = await store.readAll({ after: cursor, maxCount: PAGE });
        for (const e of page) {
          if (!inScope(e)) continue;
          out.push(unscoped(e));
          if (out.length >= maxCount) return out;
        }
        if (page.length < PAGE) return out;
        cursor = page[page.length - 1]!.position;
      }
    },
    // the adapter's head, or the scope's origin while the scope is empty
    headPosition: async () => {
      const head = await store.headPosition();
      return comparePositions(head, origin) > 0 ? head : origin;
    },
    subscribeToAll(options = {}): AllSubscription {
      const inner = store.subscribeToAll({ after: from(options.after) });
      const iterate = async function* () {
        for await (const e of inner) if (inScope(e)) yield unscoped(e);
      };
      const generator = iterate();
      return { [Symbol.asyncIterator]: () => generator, close: () => inner.close() };
    },
    close: () => store.close(),
  };
};

if (connectionString) {
  // reads the end of $all (system events included) with the plain client: the port has no "head"
  const probe = EventStoreDBClient.connectionString(connectionString);
  afterAll(() => probe.dispose());
  const endOfAll = async (): Promise<GlobalPosition> => {
    // drain the read: leaving a for-await early strands its gRPC call, and dispose() waits for it forever
    let end = START;
    for await (const { event } of probe.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 })) {
      if (event) end = event.position;
    }
    return end;
  };

  eventStoreContract('esdb', async () => {
    const store = await createEsdbEventStore(connectionString);
    const prefix = `hcp${randomUUID().slice(0, 8)}_`;
    const view = scoped(store, prefix, await endOfAll());
    return { store: view, dispose: () => store.close(), nameInStore: (streamName) => prefix + streamName };
  });
} else {
  describe.skip('event store contract: esdb (set ESDB_CONNECTION_STRING to run)', () => {
    it('runs the shared contract against EventStoreDB', () => {});
  });
}
