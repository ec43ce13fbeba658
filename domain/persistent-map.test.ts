/**
 * The persistent map behaves as a map, and a change never shows in the values it was made from:
 * random sets and removes against a plain Map, every earlier version checked again at the end.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emptyMap, entriesOf, getIn, removeFrom, setIn, type PersistentMap } from './persistent-map.ts';

const sorted = (entries: Array<[string, number]>) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

describe('persistent map', () => {
  it('answers as a Map does, and leaves every earlier version as it was', () => {
    const op = fc.record({ remove: fc.boolean(), key: fc.string({ maxLength: 3 }), value: fc.integer() });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        let map: PersistentMap<number> = emptyMap();
        const reference = new Map<string, number>();
        const versions: Array<[PersistentMap<number>, Array<[string, number]>]> = [];
        for (const o of ops) {
          if (o.remove) {
            map = removeFrom(map, o.key);
            reference.delete(o.key);
          } else {
            map = setIn(map, o.key, o.value);
            reference.set(o.key, o.value);
          }
          expect(getIn(map, o.key)).toBe(reference.get(o.key));
          expect(map.size).toBe(reference.size);
          versions.push([map, sorted([...reference])]);
        }
        for (const [version, entries] of versions) expect(sorted(entriesOf(version))).toEqual(entries);
      }),
    );
  });
});
