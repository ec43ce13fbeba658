/**
 * An immutable map from text keys whose every change copies two arrays of 32 and one small leaf
 * instead of the whole map (a two-level trie on the key's hash). A stream's state is folded event
 * by event into a new value each time, and an account holding a reservation per queued workload
 * copied them all at every reservation and release. One level of 64 buckets still copied a
 * sixty-fourth: 4 µs a change at 2,000 entries and 21 µs at 10,000, against 1.6 and 3 µs now.
 */
const WIDTH = 32;
const BITS = 5;

type Leaf<V> = ReadonlyMap<string, V>;

export type PersistentMap<V> = {
  readonly buckets: ReadonlyArray<ReadonlyArray<Leaf<V> | undefined> | undefined>;
  readonly size: number;
};

export const emptyMap = <V>(): PersistentMap<V> => ({ buckets: [], size: 0 });

/** The key's hash, mixed so that both levels' bits spread (keys differ mostly in their last characters). */
const hashOf = (key: string) => {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return h ^ (h >>> 16);
};
const outer = (h: number) => h & (WIDTH - 1);
const inner = (h: number) => (h >>> BITS) & (WIDTH - 1);

export const getIn = <V>(map: PersistentMap<V>, key: string): V | undefined => {
  const h = hashOf(key);
  return map.buckets[outer(h)]?.[inner(h)]?.get(key);
};

/** `map` with the leaf at `h` replaced (undefined: emptied), both arrays on its path copied. */
const withLeaf = <V>(map: PersistentMap<V>, h: number, leaf: Leaf<V> | undefined, size: number): PersistentMap<V> => {
  const row = (map.buckets[outer(h)] ?? []).slice();
  row[inner(h)] = leaf;
  const buckets = map.buckets.slice();
  buckets[outer(h)] = row;
  return { buckets, size };
};

export const setIn = <V>(map: PersistentMap<V>, key: string, value: V): PersistentMap<V> => {
  const h = hashOf(key);
  const leaf = new Map(map.buckets[outer(h)]?.[inner(h)]);
  const size = map.size + (leaf.has(key) ? 0 : 1);
  leaf.set(key, value);
  return withLeaf(map, h, leaf, size);
};

export const removeFrom = <V>(map: PersistentMap<V>, key: string): PersistentMap<V> => {
  const h = hashOf(key);
  const old = map.buckets[outer(h)]?.[inner(h)];
  if (!old?.has(key)) return map;
  const leaf = new Map(old);
  leaf.delete(key);
  return withLeaf(map, h, leaf.size > 0 ? leaf : undefined, map.size - 1);
};

/** Every entry (in no particular order). */
export const entriesOf = <V>(map: PersistentMap<V>): Array<[string, V]> => map.buckets.flatMap((row) => (row ?? []).flatMap((leaf) => (leaf ? [...leaf] : [])));
