/**
 * An immutable map from text keys whose every change copies one of 64 buckets instead of the
 * whole map. A stream's state is folded event by event into a new value each time, and an account
 * holding a reservation per queued workload copied them all at every reservation and release: a
 * customer with a few thousand in the queue spent most of a submission's time copying them.
 */
const BUCKETS = 64;

export type PersistentMap<V> = {
  readonly buckets: ReadonlyArray<ReadonlyMap<string, V> | undefined>;
  readonly size: number;
};

export const emptyMap = <V>(): PersistentMap<V> => ({ buckets: [], size: 0 });

const bucketOf = (key: string) => {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0;
  return (h >>> 0) % BUCKETS;
};

export const getIn = <V>(map: PersistentMap<V>, key: string): V | undefined => map.buckets[bucketOf(key)]?.get(key);

export const setIn = <V>(map: PersistentMap<V>, key: string, value: V): PersistentMap<V> => {
  const b = bucketOf(key);
  const bucket = new Map(map.buckets[b]);
  const size = map.size + (bucket.has(key) ? 0 : 1);
  bucket.set(key, value);
  const buckets = map.buckets.slice();
  buckets[b] = bucket;
  return { buckets, size };
};

export const removeFrom = <V>(map: PersistentMap<V>, key: string): PersistentMap<V> => {
  const b = bucketOf(key);
  if (!map.buckets[b]?.has(key)) return map;
  const bucket = new Map(map.buckets[b]);
  bucket.delete(key);
  const buckets = map.buckets.slice();
  buckets[b] = bucket.size > 0 ? bucket : undefined;
  return { buckets, size: map.size - 1 };
};

/** Every entry (in no particular order). */
export const entriesOf = <V>(map: PersistentMap<V>): Array<[string, V]> => map.buckets.flatMap((bucket) => (bucket ? [...bucket] : []));
