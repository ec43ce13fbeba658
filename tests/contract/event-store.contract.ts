/**
 * The one contract every event store adapter passes (docs/design.md §2).
 * Call `eventStoreContract(name, open)` from a test file; `open` gives a fresh, empty store.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  IdempotencyMismatchError,
  WrongExpectedRevisionError,
} from '../../infra/event-store/expected-revision.ts';
import { comparePositions, encodePosition } from '../../infra/event-store/position.ts';
import type { EventStore, RecordedEvent, StoredEventText } from '../../infra/event-store/types.ts';
import { testEvents } from '../support/events.ts';
import { walkChains } from '../../audit/chains.ts';
import { eventHash, GENESIS_HASH } from '../../infra/event-store/chain.ts';

export type OpenStore = () => Promise<{
  store: EventStore;
  dispose: () => Promise<void>;
  /** The name the adapter itself knows a stream by, where a test view renames streams (the chain hashes that name). */
  nameInStore?: (streamName: string) => string;
}>;

const stream = (category = 'test') => `${category}-${randomUUID().slice(0, 8)}`;

export const eventStoreContract = (name: string, open: OpenStore) =>
  describe(`event store contract: ${name}`, () => {
    let disposers: Array<() => Promise<void>> = [];
    let nameOf = (streamName: string) => streamName;
    const fresh = async () => {
      const { store, dispose, nameInStore } = await open();
      disposers.push(dispose);
      nameOf = nameInStore ?? ((streamName) => streamName);
      return store;
    };
    /** What a walk over these events (in store order) finds broken in their chains. */
    const chainBreaks = (events: readonly RecordedEvent[]) => {
      const walk = walkChains();
      return events.flatMap((e) => walk.add({ ...e, streamName: nameOf(e.streamName) }));
    };
    afterEach(async () => {
      for (const d of disposers.reverse()) await d();
      disposers = [];
    });

    describe('expected revision', () => {
      it('no_stream: succeeds on a new stream, conflicts once it exists', async () => {
        const store = await fresh();
        const s = stream();
        const r = await store.appendToStream(s, testEvents(2), { expectedRevision: 'no_stream' });
        expect(r.nextExpectedRevision).toBe(1n);
        expect(r.appended).toBe(true);
        const err = await store
          .appendToStream(s, testEvents(1), { expectedRevision: 'no_stream' })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WrongExpectedRevisionError);
        expect((err as WrongExpectedRevisionError).actual).toBe(1n);
      });

      it('stream_exists: conflicts on a new stream, succeeds once it exists', async () => {
        const store = await fresh();
        const s = stream();
        const err = await store
          .appendToStream(s, testEvents(1), { expectedRevision: 'stream_exists' })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WrongExpectedRevisionError);
        expect((err as WrongExpectedRevisionError).actual).toBeUndefined();
        expect(await store.readStream(s)).toEqual([]);
        await store.appendToStream(s, testEvents(1));
        const r = await store.appendToStream(s, testEvents(1), { expectedRevision: 'stream_exists' });
        expect(r.nextExpectedRevision).toBe(1n);
      });

      it('exact revision: succeeds when it matches, conflicts and reports the actual revision otherwise', async () => {
        const store = await fresh();
        const s = stream();
        await store.appendToStream(s, testEvents(3), { expectedRevision: 'no_stream' });
        const r = await store.appendToStream(s, testEvents(1), { expectedRevision: 2n });
        expect(r.nextExpectedRevision).toBe(3n);
        for (const wrong of [0n, 2n, 4n]) {
          const err = await store.appendToStream(s, testEvents(1), { expectedRevision: wrong }).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(WrongExpectedRevisionError);
          expect((err as WrongExpectedRevisionError).actual).toBe(3n);
        }
        const onMissing = await store
          .appendToStream(stream(), testEvents(1), { expectedRevision: 0n })
          .catch((e: unknown) => e);
        expect(onMissing).toBeInstanceOf(WrongExpectedRevisionError);
        expect((await store.readStream(s)).length).toBe(4);
      });

      it('any: appends whatever the stream holds', async () => {
        const store = await fresh();
        const s = stream();
        await store.appendToStream(s, testEvents(1), { expectedRevision: 'any' });
        const r = await store.appendToStream(s, testEvents(2), { expectedRevision: 'any' });
        expect(r.nextExpectedRevision).toBe(2n);
      });

      it('a conflicting append keeps nothing, not even a part', async () => {
        const store = await fresh();
        const s = stream();
        await store.appendToStream(s, testEvents(1));
        await store.appendToStream(s, testEvents(5), { expectedRevision: 7n }).catch(() => {});
        expect((await store.readStream(s)).length).toBe(1);
        expect((await store.readAll()).length).toBe(1);
      });
    });

    describe('appending to several streams at once (where the store offers it)', () => {
      it('appends each, in the order given, and answers for each', async () => {
        const store = await fresh();
        if (!store.appendToStreams) return;
        const [a, b] = [stream(), stream()];
        await store.appendToStream(a, testEvents(2));
        const results = await store.appendToStreams([
          { streamName: a, events: testEvents(1), expectedRevision: 1n },
          { streamName: b, events: testEvents(3), expectedRevision: 'no_stream' },
        ]);
        expect(results.map((r) => [r.nextExpectedRevision, r.appended])).toEqual([
          [2n, true],
          [2n, true],
        ]);
        expect(comparePositions(results[0]!.position, results[1]!.position)).toBeLessThan(0);
        const all = await store.readAll();
        expect(all.map((e) => nameOf(e.streamName) === nameOf(a) ? 'a' : 'b')).toEqual(['a', 'a', 'a', 'b', 'b', 'b']);
        expect(encodePosition(all.at(-1)!.position)).toBe(encodePosition(results[1]!.position));
        expect(chainBreaks(all)).toEqual([]);
      });

      it('keeps nothing of any when one is refused: a wrong revision, or an id stored already', async () => {
        const store = await fresh();
        if (!store.appendToStreams) return;
        const [a, b] = [stream(), stream()];
        const held = testEvents(1);
        await store.appendToStream(b, held);
        for (const second of [
          { streamName: b, events: testEvents(1), expectedRevision: 5n },
          { streamName: b, events: [...held, ...testEvents(1)], expectedRevision: 0n },
        ]) {
          const refused = await store.appendToStreams([{ streamName: a, events: testEvents(2), expectedRevision: 'no_stream' }, second]).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect((refused as { type?: string })?.type).toBe('appends_refused');
          expect(await store.readStream(a)).toEqual([]);
          expect((await store.readAll()).length).toBe(1);
        }
        // and the stream refused with the others takes a plain append afterwards
        await store.appendToStream(a, testEvents(1), { expectedRevision: 'no_stream' });
        expect((await store.readAll()).length).toBe(2);
      });
    });

    describe('idempotent append', () => {
      it('a retried append with the same event ids adds nothing and is not a conflict', async () => {
        const store = await fresh();
        const s = stream();
        const events = testEvents(3);
        const first = await store.appendToStream(s, events, { expectedRevision: 'no_stream' });
        const retry = await store.appendToStream(s, events, { expectedRevision: 'no_stream' });
        expect(retry.appended).toBe(false);
        expect(retry.nextExpectedRevision).toBe(first.nextExpectedRevision);
        expect(comparePositions(retry.position, first.position)).toBe(0);
        expect((await store.readStream(s)).length).toBe(3);
      });

      it('a retry after later appends still adds nothing', async () => {
        const store = await fresh();
        const s = stream();
        const events = testEvents(2);
        await store.appendToStream(s, events);
        await store.appendToStream(s, testEvents(2));
        const retry = await store.appendToStream(s, events, { expectedRevision: 'no_stream' });
        expect(retry.appended).toBe(false);
        expect(retry.nextExpectedRevision).toBe(1n);
        expect((await store.readStream(s)).length).toBe(4);
      });

      it('stored ids are found even when the expected revision holds', async () => {
        const store = await fresh();
        const s = stream();
        const events = testEvents(2);
        const first = await store.appendToStream(s, events, { expectedRevision: 'no_stream' });
        const later = await store.appendToStream(s, testEvents(1), { expectedRevision: 1n });
        // expecting the stream as it is now: the revision check passes, the ids are the repeat
        const repeat = await store.appendToStream(s, events, { expectedRevision: later.nextExpectedRevision });
        expect(repeat.appended).toBe(false);
        expect(repeat.nextExpectedRevision).toBe(1n);
        expect(comparePositions(repeat.position, first.position)).toBe(0);
        await expect(store.appendToStream(s, [events[0]!, ...testEvents(1)], { expectedRevision: later.nextExpectedRevision })).rejects.toBeInstanceOf(IdempotencyMismatchError);
        await expect(store.appendToStream(stream(), events, { expectedRevision: 'no_stream' })).rejects.toBeInstanceOf(IdempotencyMismatchError);
        expect((await store.readStream(s)).length).toBe(3);
      });

      it('an append that reuses only some stored ids is refused whole', async () => {
        const store = await fresh();
        const s = stream();
        const stored = testEvents(2);
        await store.appendToStream(s, stored);
        const mixed = [stored[1]!, ...testEvents(1)];
        await expect(store.appendToStream(s, mixed)).rejects.toBeInstanceOf(IdempotencyMismatchError);
        expect((await store.readStream(s)).length).toBe(2);
      });
    });

    describe('hash chain', () => {
      it('every event carries the hash of its stream chain, recomputable from the events as read', async () => {
        const store = await fresh();
        const [a, b] = [stream(), stream()];
        // a store shared with earlier tests may hold more than one page: read from here on
        const before = await store.headPosition();
        await store.appendToStream(a, testEvents(2), { expectedRevision: 'no_stream' });
        await store.appendToStream(b, testEvents(1));
        await store.appendToStream(a, testEvents(3), { expectedRevision: 1n });
        await store.appendToStream(a, testEvents(1), { expectedRevision: 'stream_exists' });
        const all = await store.readAll({ after: before });
        expect(all.filter((e) => e.streamName === a)).toHaveLength(6);
        expect(all.every((e) => /^[0-9a-f]{64}$/.test(e.hash))).toBe(true);
        expect(chainBreaks(all)).toEqual([]);
        const streamA = await store.readStream(a);
        expect(streamA.map((e) => e.hash)).toEqual(all.filter((e) => e.streamName === a).map((e) => e.hash));
        expect(streamA[0]!.hash).toBe(eventHash(GENESIS_HASH, { ...streamA[0]!, streamName: nameOf(a) }));
        expect(new Set(streamA.map((e) => e.hash)).size).toBe(6);
      });

      it('a retried append leaves the chain as it was', async () => {
        const store = await fresh();
        const s = stream();
        const events = testEvents(2);
        await store.appendToStream(s, events, { expectedRevision: 'no_stream' });
        const before = (await store.readStream(s)).map((e) => e.hash);
        await store.appendToStream(s, events, { expectedRevision: 'no_stream' });
        await store.appendToStream(s, events);
        await store.appendToStream(s, testEvents(1));
        const after = await store.readStream(s);
        expect(after.slice(0, 2).map((e) => e.hash)).toEqual(before);
        expect(chainBreaks(after)).toEqual([]);
      });

      it('the store hashes any JSON the way the auditor recomputes it (property)', async () => {
        const store = await fresh();
        const s = stream();
        // PostgreSQL's jsonb refuses NUL and lone surrogates: the store cannot hold them at all
        const storable = (t: string) => !/\p{Surrogate}|\u0000|\\u0000/u.test(t);
        const text = fc.string({ unit: 'binary', maxLength: 12 }).filter(storable);
        const json = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }).filter((v) => storable(JSON.stringify(v)));
        await fc.assert(
          fc.asyncProperty(fc.dictionary(text, json, { maxKeys: 6 }), async (data) => {
            const [event] = testEvents(1);
            await store.appendToStream(s, [{ ...event!, data }]);
            const [stored] = await store.readStream(s, { direction: 'backwards', maxCount: 1 });
            expect(chainBreaks(await store.readStream(s))).toEqual([]);
            expect(stored!.id).toBe(event!.id);
            // and hashing the stored text unparsed, as a verifier on this store does, gives the same chain
            if (store.readAllText) {
              // the log is read up to the oldest transaction still open on the server, which may be another's
              let mine: StoredEventText[] = [];
              for (let tries = 0; !mine.some((e) => e.id === event!.id) && tries < 200; tries++) {
                if (tries > 0) await new Promise((r) => setTimeout(r, 25));
                mine = (await store.readAllText()).filter((e) => e.streamName === nameOf(s));
              }
              const walk = walkChains();
              expect(mine.flatMap((e) => walk.add(e))).toEqual([]);
              expect(mine.at(-1)!.hash).toBe(stored!.hash);
            }
          }),
          { numRuns: 60, seed: 11 },
        );
      });
    });

    describe('reading', () => {
      it('reads a stream forwards and backwards, from a revision, with a count', async () => {
        const store = await fresh();
        const s = stream();
        await store.appendToStream(s, testEvents(5, 'fw'));
        await store.appendToStream(stream(), testEvents(2));
        const fw = await store.readStream(s);
        expect(fw.map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n, 4n]);
        expect(fw.map((e) => e.data.n)).toEqual([0, 1, 2, 3, 4]);
        expect(fw[0]!.metadata).toMatchObject({ commandId: 'fw', actor: 'test', schemaVersion: 1 });
        expect((await store.readStream(s, { fromRevision: 3n })).map((e) => e.revision)).toEqual([3n, 4n]);
        expect(await store.readStream(s, { fromRevision: 5n })).toEqual([]); // the tail after the last event: nothing, no error
        expect((await store.readStream(s, { maxCount: 2 })).map((e) => e.revision)).toEqual([0n, 1n]);
        const bw = await store.readStream(s, { direction: 'backwards' });
        expect(bw.map((e) => e.revision)).toEqual([4n, 3n, 2n, 1n, 0n]);
        const bwFrom = await store.readStream(s, { direction: 'backwards', fromRevision: 2n, maxCount: 2 });
        expect(bwFrom.map((e) => e.revision)).toEqual([2n, 1n]);
        expect(await store.readStream(stream('missing'))).toEqual([]);
      });

      it('reads an event of a stream by its id, and nothing for another stream or an unknown id', async () => {
        const store = await fresh();
        const [s, other] = [stream(), stream()];
        const events = testEvents(3, `by-id-${randomUUID()}`);
        await store.appendToStream(s, events);
        await store.appendToStream(other, testEvents(1));
        const found = await store.readEventById(s, events[1]!.id);
        expect(found).toMatchObject({ id: events[1]!.id, streamName: s, revision: 1n, type: 'TestHappened', data: { n: 1 } });
        expect(await store.readEventById(other, events[1]!.id)).toBeUndefined();
        expect(await store.readEventById(s, randomUUID())).toBeUndefined();
        expect(await store.readEventById(s, 'not-a-uuid')).toBeUndefined();
      });

      it('reads all from a position, in one consistent order', async () => {
        const store = await fresh();
        const a = stream();
        const b = stream();
        await store.appendToStream(a, testEvents(2));
        await store.appendToStream(b, testEvents(3));
        await store.appendToStream(a, testEvents(1));
        const all = await store.readAll();
        expect(all.map((e) => e.streamName)).toEqual([a, a, b, b, b, a]);
        for (let i = 1; i < all.length; i++) expect(comparePositions(all[i - 1]!.position, all[i]!.position)).toBe(-1);
        const rest = await store.readAll({ after: all[2]!.position });
        expect(rest.map((e) => e.id)).toEqual(all.slice(3).map((e) => e.id));
        expect((await store.readAll({ after: all[1]!.position, maxCount: 2 })).map((e) => e.id)).toEqual(
          all.slice(2, 4).map((e) => e.id),
        );
        expect(await store.readAll({ after: all[5]!.position })).toEqual([]);
      });
    });

    describe('subscription to all', () => {
      it('catches up from the start, then follows live appends', async () => {
        const store = await fresh();
        const s = stream();
        await store.appendToStream(s, testEvents(3));
        const sub = store.subscribeToAll({ after: 'start' });
        const seen: RecordedEvent[] = [];
        const done = (async () => {
          for await (const e of sub) {
            seen.push(e);
            if (seen.length === 6) break;
          }
        })();
        await new Promise((r) => setTimeout(r, 50));
        await store.appendToStream(s, testEvents(2));
        await store.appendToStream(stream(), testEvents(1));
        await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 10_000))]);
        await sub.close();
        expect(seen.map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n, 4n, 0n]);
      });

      it('starts at the head: only what is appended after it', async () => {
        const store = await fresh();
        const s = stream();
        const empty = await store.headPosition();
        await store.appendToStream(s, testEvents(3));
        const head = await store.headPosition();
        expect(comparePositions(head, empty)).toBe(1);
        expect(comparePositions(head, (await store.readAll()).at(-1)!.position)).toBeGreaterThanOrEqual(0);
        expect(await store.readAll({ after: head })).toEqual([]);
        const sub = store.subscribeToAll({ after: head });
        await store.appendToStream(s, testEvents(1));
        const next = await sub[Symbol.asyncIterator]().next();
        await sub.close();
        expect(next.value!.revision).toBe(3n);
      });

      it('starts after a given position', async () => {
        const store = await fresh();
        await store.appendToStream(stream(), testEvents(4));
        const [, second] = await store.readAll();
        const sub = store.subscribeToAll({ after: second!.position });
        const first = await sub[Symbol.asyncIterator]().next();
        await sub.close();
        expect(first.done).toBe(false);
        expect(first.value!.revision).toBe(2n);
      });

      it('close is idempotent and ends the iteration', async () => {
        const store = await fresh();
        const sub = store.subscribeToAll();
        const it = sub[Symbol.asyncIterator]();
        const next = it.next();
        await sub.close();
        await sub.close();
        expect((await next).done).toBe(true);
      });
    });

    describe('concurrent writers (property)', () => {
      it('a live subscriber sees every committed event exactly once, in the order readAll gives', async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.array(
              fc.record({ streamIndex: fc.nat({ max: 4 }), size: fc.integer({ min: 1, max: 4 }), exact: fc.boolean() }),
              { minLength: 10, maxLength: 40, size: 'medium' },
            ),
            fc.integer({ min: 1, max: 8 }),
            async (appends, writers) => {
              const { store, dispose } = await open();
              try {
              const streams = Array.from({ length: 5 }, () => stream('conc'));
              const expectedIds = new Set<string>();
              const queue = [...appends];
              const subscriber = store.subscribeToAll({ after: 'start' });
              const seen: RecordedEvent[] = [];
              const reading = (async () => {
                for await (const e of subscriber) seen.push(e);
              })();
              const writer = async () => {
                for (let job = queue.shift(); job; job = queue.shift()) {
                  const s = streams[job.streamIndex]!;
                  const events = testEvents(job.size);
                  for (let attempt = 0; ; attempt++) {
                    // exact-revision writers race each other and retry on conflict: no update is lost
                    const current = (await store.readStream(s, { direction: 'backwards', maxCount: 1 }))[0]?.revision;
                    try {
                      await store.appendToStream(s, events, {
                        expectedRevision: job.exact ? (current ?? 'no_stream') : 'any',
                      });
                      break;
                    } catch (e) {
                      if (!(e instanceof WrongExpectedRevisionError) || attempt > 50) throw e;
                    }
                  }
                  for (const e of events) expectedIds.add(e.id);
                }
              };
              await Promise.all(Array.from({ length: writers }, writer));
              const deadline = Date.now() + 15_000;
              while (seen.length < expectedIds.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
              await new Promise((r) => setTimeout(r, 30));
              await subscriber.close();
              await reading;
              const ids = seen.map((e) => e.id);
              expect(new Set(ids).size).toBe(ids.length);
              expect(new Set(ids)).toEqual(expectedIds);
              for (let i = 1; i < seen.length; i++) {
                expect(comparePositions(seen[i - 1]!.position, seen[i]!.position), encodePosition(seen[i]!.position)).toBe(-1);
              }
              expect(ids).toEqual((await store.readAll()).map((e) => e.id));
              for (const s of streams) {
                const revisions = (await store.readStream(s)).map((e) => e.revision);
                expect(revisions).toEqual(revisions.map((_, i) => BigInt(i)));
              }
              // racing writers still leave each stream one unbroken chain
              expect(chainBreaks(await store.readAll())).toEqual([]);
              } finally {
                await dispose();
              }
            },
          ),
          { numRuns: 15 },
        );
      });
    });
  });

