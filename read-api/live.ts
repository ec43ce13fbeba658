/**
 * A live feed for one GraphQL subscription, bounded: changes are coalesced by
 * key (a workload's latest state is loaded when it is delivered), and a
 * subscriber that lets more than `maxPending` distinct keys pile up is closed
 * instead of growing memory without limit. Cleanup runs once, however it ends.
 */
import type { GraphQLResolveInfo } from 'graphql';
import type { ChangeFeed } from '../projections/change-feed.ts';
import type { Change } from '../projections/projection.ts';
import { HcpError } from '../infra/errors.ts';

/** Whether a field resolves for a subscription's delivery (where loads are shared) rather than a query. */
export const inSubscription = (info: Pick<GraphQLResolveInfo, 'operation'>) => info.operation.operation === 'subscription';

export class SubscriberTooSlowError extends HcpError {
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
  /** The key (or keys) of a change this subscriber wants, or undefined to ignore it. */
  select: (change: Change) => string | readonly string[] | undefined;
  /** The current value for a key, or undefined to skip it. */
  load: (key: string) => Promise<T | undefined>;
  maxPending?: number;
}): AsyncIterableIterator<T> => {
  const pending = new Set<string>();
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  let done = false;
  const unsubscribe = feed.subscribe((change) => {
    const selected = select(change);
    if (selected === undefined || done) return;
    for (const key of typeof selected === 'string' ? [selected] : selected) pending.add(key);
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

/**
 * One load per key per change, shared by every subscriber (and every nested field) that wants
 * the key's value: the first to ask after a change loads it, the rest await the same promise,
 * so a change heard by 2,000 subscriptions costs one query, not 2,000. The key's entry is
 * dropped when a change of it is published; `feed` listeners run in the order they subscribed
 * and this one subscribes when the API is built, before any subscriber, so no subscriber can
 * be woken by a change and then read the value from before it. At most `maxKeys` are kept.
 */
export const sharedLoad = <T>(
  feed: ChangeFeed,
  keyOf: (change: Change) => string | undefined,
  load: (key: string) => Promise<T>,
  maxKeys = 10_000,
): ((key: string) => Promise<T>) => {
  const values = new Map<string, Promise<T>>();
  feed.subscribe((change) => {
    const key = keyOf(change);
    if (key !== undefined) values.delete(key);
  });
  return (key) => {
    let value = values.get(key);
    if (!value) {
      value = load(key);
      values.set(key, value);
      if (values.size > maxKeys) values.delete(values.keys().next().value!);
      value.catch(() => values.get(key) === value && values.delete(key));
    }
    return value;
  };
};
