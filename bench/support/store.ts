/** The event store under test, behind the same small shapes as the ceiling (ceiling.ts). */
import type { GlobalPosition } from '../../infra/event-store/position.ts';
import type { EventStore } from '../../infra/event-store/types.ts';
import type { AppendBatch } from './writers.ts';

export const storeAppend =
  (store: EventStore): AppendBatch =>
  async (streamName, lastRevision, events) => {
    await store.appendToStream(streamName, events, { expectedRevision: lastRevision ?? 'no_stream' });
  };

/** readAll in pages; each call returns the next page. */
export const storePageWalk = (store: EventStore, pageSize: number) => {
  let after: GlobalPosition | 'start' = 'start';
  return async () => {
    const page = await store.readAll({ after, maxCount: pageSize });
    after = page.at(-1)?.position ?? after;
    return page.length;
  };
};

export const storeReadStream = async (store: EventStore, streamName: string) => (await store.readStream(streamName)).length;
