/**
 * A live feed for one GraphQL subscription, bounded: changes are coalesced by
 * key (a workload's latest state is loaded when it is delivered), and a
 * subscriber that lets more than `maxPending` distinct keys pile up is closed
 * instead of growing memory without limit. Cleanup runs once, however it ends.
 */
import type { ChangeFeed } from '../projections/change-feed.ts';
import type { Change } from '../projections/projection.ts';

export class SubscriberTooSlowError extends Error {
  readonly type = 'subscriber_too_slow' as const;
  constructor(maxPending: number) {
    super(`subscription closed: more than ${maxPending} undelivered updates`);
  }
}

export const liveFeed = <T>({
  feed,
  select,
  load,
  maxPending = 1000,
}: {
  feed: ChangeFeed;
  /** The key of a change this subscriber wants, or undefined to ignore it. */
  select: (change: Change) => string | undefined;
  /** The current value for a key, or undefined to skip it. */
  load: (key: string) => Promise<T | undefined>;
  maxPending?: number;
}): AsyncIterableIterator<T> => {
  const pending = new Set<string>();
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  let done = false;
  const unsubscribe = feed.subscribe((change) => {
    const key = select(change);
    if (key === undefined || done) return;
    pending.add(key);
    if (pending.size > maxPending) failure = new SubscriberTooSlowError(maxPending);
    wake?.();
  });
  const finish = () => {
    if (done) return;
    done = true;
    unsubscribe();
    pending.clear();
    wake?.();
  };
  const iterator: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]: () => iterator,
    async next() {
      for (;;) {
        if (failure) {
          const error = failure;
          failure = undefined; // told once; after that the iteration is simply over
          finish();
          throw error;
        }
        if (done) return { done: true, value: undefined };
        const key = pending.values().next().value;
        if (key !== undefined) {
          pending.delete(key);
          const value = await load(key);
          if (value !== undefined) return { done: false, value };
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
    async return() {
      finish();
      return { done: true, value: undefined };
    },
    async throw(error) {
      finish();
      throw error;
    },
  };
  return iterator;
};
