/**
 * A tap on the event store: the wrapped store behaves exactly like the store, and tells a
 * listener, with a performance.now() timestamp, of every event an append actually stored
 * (not of idempotent retries the store ignored). The timestamp is taken when the append has
 * returned in the appending process: the moment the event is committed and its subscribers
 * have been woken.
 */
import type { EventStore, EventToAppend } from '../../infra/event-store/types.ts';

export type Appended = { at: number; streamName: string; event: EventToAppend };
export type AppendListener = (appended: Appended) => void;

export type TappedStore = EventStore & {
  /** Adds a listener; returns its removal. */
  listen(listener: AppendListener): () => void;
};

export const tapStore = (store: EventStore): TappedStore => {
  const listeners = new Set<AppendListener>();
  return {
    kind: store.kind,
    readStream: (streamName, options) => store.readStream(streamName, options),
    readAll: (options) => store.readAll(options),
    readEventById: (streamName, eventId) => store.readEventById(streamName, eventId),
    subscribeToAll: (options) => store.subscribeToAll(options),
    headPosition: () => store.headPosition(),
    close: () => store.close(),
    async appendToStream(streamName, events, options) {
      const result = await store.appendToStream(streamName, events, options);
      if (result.appended && listeners.size > 0) {
        const at = performance.now();
        for (const event of events) for (const l of listeners) l({ at, streamName, event });
      }
      return result;
    },
    listen(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
};
