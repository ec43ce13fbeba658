/**
 * Writing behind: answers at once with what the store will record, refuses what the revisions do
 * not allow without appending, reads its own writes, and stops for good when the store disagrees.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createPgliteDatabase, type Database } from '../postgres/database.ts';
import { AppendsRefusedError, WrongExpectedRevisionError } from './expected-revision.ts';
import { createPostgresEventStore, writerStart } from './postgres/store.ts';
import type { AppendResult, EventStore, EventToAppend, StreamAppend } from './types.ts';
import { writeBehind } from './write-behind.ts';

const event = (type = 'Happened'): EventToAppend => ({ id: randomUUID(), type, data: { n: 1 }, metadata: { commandId: 'c', correlationId: 'c', causationId: 'c', actor: 'test', occurredAt: '2024-01-01T00:00:00.000Z', schemaVersion: 1 } });

describe('a store written behind', () => {
  let db: Database;
  let store: EventStore;
  const open = async () => {
    db = await createPgliteDatabase();
    store = await createPostgresEventStore(db);
    await store.appendToStream('a', [event()], { expectedRevision: 'no_stream' });
    return writeBehind(store, await writerStart(db, store));
  };
  afterEach(async () => {
    await store.close();
    await db.close();
  });

  it('answers with the revisions and positions the store then records, in the order made', async () => {
    const behind = await open();
    const answers = [
      await behind.appendToStream('a', [event(), event()], { expectedRevision: 0n }),
      ...(await behind.appendToStreams!([
        { streamName: 'b', events: [event()], expectedRevision: 'no_stream' },
        { streamName: 'a', events: [event()], expectedRevision: 2n },
      ])),
      await behind.appendToStream('b', [event()], { expectedRevision: 0n }),
    ];
    expect(answers.map((a) => a.nextExpectedRevision)).toEqual([2n, 0n, 3n, 1n]);
    // read through it: every append before the read is stored first
    const all = await behind.readAll();
    expect(all.map((e) => `${e.streamName}@${e.revision}`)).toEqual(['a@0', 'a@1', 'a@2', 'b@0', 'a@3', 'b@1']);
    // each answer's position, as stored, is its append's last event's
    const last = (name: string, revision: bigint) => all.find((e) => e.streamName === name && e.revision === revision)!.position;
    expect(answers.map((a) => behind.stored(a.position))).toEqual([last('a', 2n), last('b', 0n), last('a', 3n), last('b', 1n)]);
  });

  it('refuses at once, appending nothing, what the revisions it knows do not allow', async () => {
    const behind = await open();
    await expect(behind.appendToStream('a', [event()], { expectedRevision: 'no_stream' })).rejects.toBeInstanceOf(WrongExpectedRevisionError);
    await expect(
      behind.appendToStreams!([
        { streamName: 'c', events: [event()], expectedRevision: 'no_stream' },
        { streamName: 'a', events: [event()], expectedRevision: 5n },
      ]),
    ).rejects.toBeInstanceOf(AppendsRefusedError);
    expect((await behind.readAll()).length).toBe(1);
    // and goes on: a refusal is the caller's to handle, not a stop
    await behind.appendToStream('a', [event()], { expectedRevision: 0n });
    expect((await behind.readAll()).length).toBe(2);
  });

  it('writes through an append without an exact revision: a repeat of stored events appends nothing', async () => {
    const behind = await open();
    const tick = event('Ticked');
    const first = await behind.appendToStream('ticks', [tick], { expectedRevision: 'any' });
    const again = await behind.appendToStream('ticks', [tick], { expectedRevision: 'any' });
    expect([first.appended, again.appended]).toEqual([true, false]);
    // what it knows moved with the stored one: the next exact append is allowed
    await behind.appendToStream('ticks', [event('Ticked')], { expectedRevision: 0n });
    await behind.flush();
    expect((await store.readStream('ticks')).length).toBe(2);
  });

  it('answers past sequence numbers given out and lost (a transaction killed in a crash)', async () => {
    db = await createPgliteDatabase();
    store = await createPostgresEventStore(db);
    await store.appendToStream('a', [event()], { expectedRevision: 'no_stream' });
    // a refused append's insert is rolled back, its sequence numbers are not
    await store.appendToStream('a', [event(), event()], { expectedRevision: 'no_stream' }).catch(() => {});
    await db.query(`SELECT nextval(pg_get_serial_sequence('hcp_events', 'position'))`);
    const last = await store.headPosition();
    const [{ n } = { n: '0' }] = await db.query<{ n: string }>(`SELECT pg_sequence_last_value(pg_get_serial_sequence('hcp_events', 'position')::regclass)::text AS n`);
    expect(BigInt(n)).toBeGreaterThan(last.prepare);
    const behind = writeBehind(store, { revisions: new Map([['a', 0n]]), last, lastSequence: BigInt(n), lastSequenceNow: async () => BigInt(n) });
    const answer = await behind.appendToStream('a', [event()], { expectedRevision: 0n });
    await behind.flush();
    expect(behind.stored(answer.position)).toEqual((await store.readAll()).at(-1)!.position);
    // told the head's instead, it would have answered a number the store did not give: it stops
    const wrong = writeBehind(store, { revisions: new Map([['a', 1n]]), last: await store.headPosition(), lastSequence: 0n, lastSequenceNow: async () => 0n });
    await db.query(`SELECT nextval(pg_get_serial_sequence('hcp_events', 'position'))`);
    await wrong.appendToStream('a', [event()], { expectedRevision: 1n });
    await expect(wrong.flush()).rejects.toThrow(/otherwise than foreseen/);
  });

  it('stops for good when the store records otherwise than it answered (another writer)', async () => {
    const behind = await open();
    await store.appendToStream('a', [event()], { expectedRevision: 0n }); // another writer, unseen
    await behind.appendToStream('a', [event()], { expectedRevision: 0n }); // answered, then refused by the store
    await expect(behind.flush()).rejects.toThrow();
    await expect(behind.appendToStream('z', [event()], { expectedRevision: 'no_stream' })).rejects.toThrow();
    await expect(behind.readAll()).rejects.toThrow();
  });

  /** An append as generated: to one of four streams, expecting its revision, another, no stream or any. */
  type Op = { many: Array<{ stream: number; count: number; expect: 'right' | 'wrong' | 'no_stream' | 'any' }>; read: boolean };
  const ops = fc.array(
    fc.record({
      many: fc.array(fc.record({ stream: fc.nat(3), count: fc.nat(3), expect: fc.constantFrom('right', 'right', 'right', 'wrong', 'no_stream', 'any') }), { minLength: 1, maxLength: 3 }),
      read: fc.boolean(),
    }) as fc.Arbitrary<Op>,
    { minLength: 1, maxLength: 25 },
  );

  it('answers every append exactly as the store then records it, and refuses exactly what a plain store refuses (property)', async () => {
    db = await createPgliteDatabase();
    store = await createPostgresEventStore(db);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(ops, async (sequence) => {
        run++;
        const name = (n: number) => `p${run}-${n}`;
        const start = await writerStart(db, store);
        const { last } = start;
        const behind = writeBehind(store, start);
        // the reference: each stream's revision, and the events in the order they must be stored
        const revisions = new Map<string, bigint>();
        const expected: string[] = [];
        const answers: Array<{ answer: AppendResult; stream: string; revision: bigint }> = [];
        for (const op of sequence) {
          const appends: StreamAppend[] = op.many.map((m) => {
            const current = revisions.get(name(m.stream));
            const expectedRevision = m.expect === 'right' ? (current ?? 'no_stream') : m.expect === 'wrong' ? (current ?? -1n) + 7n : m.expect;
            return { streamName: name(m.stream), events: Array.from({ length: m.count }, () => event()), expectedRevision };
          });
          // a plain store's verdict: all or none, each on what the ones before it leave
          const planned = new Map(revisions);
          const after: Array<bigint | undefined> = [];
          let allowed = true;
          for (const a of appends) {
            const current = planned.get(a.streamName);
            const e = a.expectedRevision;
            const ok = e === 'any' || (e === 'no_stream' ? current === undefined : e === 'stream_exists' ? current !== undefined : current === e);
            if (!ok) allowed = false;
            if (a.events.length > 0) planned.set(a.streamName, (current ?? -1n) + BigInt(a.events.length));
            after.push(planned.get(a.streamName));
          }
          const answered = await (appends.length === 1 ? behind.appendToStream(appends[0]!.streamName, appends[0]!.events, { expectedRevision: appends[0]!.expectedRevision }).then((r) => [r]) : behind.appendToStreams!(appends)).then(
            (r) => r,
            () => undefined,
          );
          expect(answered !== undefined).toBe(allowed);
          if (answered) {
            for (const [i, a] of appends.entries()) {
              for (const e of a.events) expected.push(e.id);
              expect(answered[i]!.nextExpectedRevision).toBe(after[i] ?? -1n);
              if (answered[i]!.appended) answers.push({ answer: answered[i]!, stream: a.streamName, revision: after[i]! });
            }
            for (const [stream, revision] of planned) revisions.set(stream, revision!);
          }
          if (op.read) expect((await behind.readAll({ after: last })).map((e) => e.id)).toEqual(expected);
        }
        await behind.flush();
        const stored = await store.readAll({ after: last });
        expect(stored.map((e) => e.id)).toEqual(expected);
        // each answer's position, once stored, is its append's last event's
        for (const { answer, stream, revision } of answers) {
          const at = stored.find((e) => e.streamName === stream && e.revision === revision)!;
          expect(behind.stored(answer.position)).toEqual(at.position);
        }
      }),
      { numRuns: 25 },
    );
  }, 120_000);
});
