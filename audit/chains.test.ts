/**
 * The chain walk names exactly what was tampered with, for any log and any one tampering
 * (property, fixed seed): an edit, a deletion, a duplicate, and an edit whose stream was re-hashed
 * to hide it, which only a digest taken before catches.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryEventStore } from '../infra/event-store/memory.ts';
import { eventHash, GENESIS_HASH } from '../infra/event-store/chain.ts';
import type { RecordedEvent } from '../infra/event-store/types.ts';
import { testEvents } from '../tests/support/events.ts';
import { walkChains, type ChainBreak } from './chains.ts';
import { digestCheck, digestOf } from './digest.ts';

const walk = (events: readonly RecordedEvent[]) => {
  const w = walkChains();
  const breaks: ChainBreak[] = events.flatMap((e) => w.add(e));
  return { w, breaks };
};

const logOf = async (appends: readonly { stream: number; count: number }[]) => {
  const store = createMemoryEventStore();
  for (const a of appends) await store.appendToStream(`s-${a.stream}`, testEvents(a.count));
  return store.readAll();
};

const appendsArb = fc.array(fc.record({ stream: fc.nat({ max: 3 }), count: fc.integer({ min: 1, max: 3 }) }), { minLength: 2, maxLength: 12 });

describe('chain walk (property)', () => {
  it('an intact log has no break, and an edit, a deletion or a duplicate is named at its stream and revision', async () => {
    await fc.assert(
      fc.asyncProperty(appendsArb, fc.nat(), fc.constantFrom('edit', 'delete', 'duplicate'), async (appends, pick, how) => {
        const log = await logOf(appends);
        expect(walk(log).breaks).toEqual([]);
        const i = pick % log.length;
        const victim = log[i]!;
        const tampered = [...log];
        if (how === 'edit') tampered[i] = { ...victim, data: { ...victim.data, n: -1 } };
        if (how === 'delete') tampered.splice(i, 1);
        if (how === 'duplicate') tampered.push(victim);
        const found = walk(tampered).breaks.map((b) => [b.kind, b.stream, b.revision]);
        if (how === 'edit') expect(found).toEqual([['hash-mismatch', victim.streamName, victim.revision]]);
        if (how === 'duplicate') expect(found).toEqual([['out-of-order', victim.streamName, victim.revision]]);
        if (how === 'delete') {
          const next = log.slice(i + 1).find((e) => e.streamName === victim.streamName);
          // the last event of a stream leaves no trace in the chain: that is what a digest is for
          expect(found).toEqual(next ? [['gap', victim.streamName, next.revision]] : []);
        }
      }),
      { numRuns: 100, seed: 7 },
    );
  });

  it('an edit hidden by re-hashing its stream passes the chains but not a digest taken before', async () => {
    await fc.assert(
      fc.asyncProperty(appendsArb, fc.nat(), async (appends, pick) => {
        const log = await logOf(appends);
        const before = walk(log).w;
        const digest = digestOf(before, log.at(-1), 'memory', '2024-01-01T00:00:00Z');
        const victim = log[pick % log.length]!;
        let previous = GENESIS_HASH;
        const forged = log.map((e) => {
          if (e.streamName !== victim.streamName) return e;
          const data = e === victim ? { ...e.data, n: -1 } : e.data;
          const hash = eventHash(previous, { ...e, data });
          previous = hash;
          return { ...e, data, hash };
        });
        const after = walkChains();
        const check = digestCheck(digest);
        const breaks = forged.flatMap((e) => {
          const b = after.add(e);
          check.see(e, after);
          return b;
        });
        expect(breaks).toEqual([]);
        const differences = check.finish(after).map((d) => d.kind);
        expect(differences).toContain('head-changed');
        expect(differences).toContain('log-changed');
      }),
      { numRuns: 60, seed: 8 },
    );
  });
});
