/**
 * A store for its sole writer that does not wait for its appends: each is checked against the
 * stream revisions this writer knows (every stream's, taken when it starts writing behind, then
 * moved by its own appends), answered at once, and stored in the background, in the order made,
 * one after another. For a simulation, the store's only writer, whose every step otherwise waited
 * for PostgreSQL's answer: the database then works on the other core while the next step is
 * decided.
 *
 * An answer's position is the one the store will give: the writer is alone, so each event's
 * sequence number is the next one (the PostgreSQL store's `prepare`), and the transaction part is
 * that of the last stored event until the append is stored (`stored` gives the real one). When a
 * stored append's position is not the one foreseen, or the store refuses an append that the
 * revisions allowed (another writer after all), every later call throws: fail-stop, as after a
 * crash, from which a simulation resumes at its last saved place.
 *
 * Reads wait for every append made before them to be stored, so a writer reads its own writes.
 */
import { AppendsRefusedError, matchesExpectedRevision, WrongExpectedRevisionError, type ExpectedRevision } from './expected-revision.ts';
import { comparePositions, type GlobalPosition } from './position.ts';
import type { AppendResult, EventStore, StreamAppend } from './types.ts';
import { partitionPoint } from '../../domain/sorted.ts';

export type WriteBehindStore = EventStore & {
  /** Resolves once every append made so far is stored; throws what stopped the writer, if anything did. */
  flush(): Promise<void>;
  /** The stored position of an answered one (after `flush`); a position from before writing behind is its own. */
  stored(position: GlobalPosition): GlobalPosition;
};

/** Appends sent in one round trip at most (one statement: its size is bounded). */
const MAX_APPENDS_A_TRIP = 500;

const sequentially = async (store: EventStore, appends: readonly StreamAppend[]) => {
  const results: AppendResult[] = [];
  for (const a of appends) results.push(await store.appendToStream(a.streamName, a.events, { expectedRevision: a.expectedRevision }));
  return results;
};

/**
 * `revisions`: every stream's revision in the store now (a stream not named has no events);
 * `last`: the store's last event's position; `lastSequence`: the last sequence number the store
 * gave out (past `last.prepare` when appends were lost, e.g. in a crash), and `lastSequenceNow`
 * the same asked again (after a refused append written through, whose numbers are spent). The
 * writer must be the store's only one from here on.
 */
export const writeBehind = (
  store: EventStore,
  { revisions, last, lastSequence, lastSequenceNow }: { revisions: ReadonlyMap<string, bigint>; last: GlobalPosition; lastSequence: bigint; lastSequenceNow: () => Promise<bigint> },
): WriteBehindStore => {
  const appendToStreams = store.appendToStreams;
  const known = new Map(revisions);
  const from = last;
  /** The sequence number of the last event answered for. */
  let sequence = lastSequence > last.prepare ? lastSequence : last.prepare;
  /**
   * The transaction part of the stored positions, once stored: sequence numbers up to `upTo` (and
   * past the entry before) were committed in `commit`. One entry per transaction, not per append:
   * a batch is one commit, and a designed-scale day answers a million appends.
   */
  const storedCommits: Array<{ upTo: bigint; commit: bigint }> = [];
  const storedCommit = (prepare: bigint, commit: bigint) => {
    const lastStored = storedCommits.at(-1);
    if (lastStored?.commit === commit) lastStored.upTo = prepare;
    else storedCommits.push({ upTo: prepare, commit });
  };
  const commitOf = (prepare: bigint) => storedCommits[partitionPoint(storedCommits, (s) => s.upTo < prepare)]?.commit;
  let stopped: unknown;
  let tail: Promise<void> = Promise.resolve();

  const check = () => {
    if (stopped !== undefined) throw stopped;
  };
  const revisionOf = (streamName: string) => known.get(streamName);
  const answer = (streamName: string, count: number): AppendResult => {
    const next = (revisionOf(streamName) ?? -1n) + BigInt(count);
    if (count > 0) known.set(streamName, next);
    sequence += BigInt(count);
    return { nextExpectedRevision: next, position: { commit: from.commit, prepare: sequence }, appended: count > 0 };
  };
  /**
   * What is answered and not yet sent, sent together when the last round trip is back: the writer's
   * steps run on answers that are already there, so between two chances to send, many pile up, and
   * one statement and one commit stores them all (in order, all or none).
   */
  let pending: Array<{ append: StreamAppend; answered: AppendResult }> = [];
  let sending = false;
  const send = async () => {
    while (pending.length > 0 && stopped === undefined) {
      const batch = pending.slice(0, MAX_APPENDS_A_TRIP);
      pending = pending.slice(batch.length);
      try {
        const appends = batch.map((b) => b.append);
        const results = appendToStreams ? await appendToStreams(appends) : await sequentially(store, appends);
        results.forEach((r, i) => {
          const foreseen = batch[i]!.answered;
          if (r.appended !== foreseen.appended || r.nextExpectedRevision !== foreseen.nextExpectedRevision || (r.appended && r.position.prepare !== foreseen.position.prepare))
            throw new Error(`an append was stored otherwise than foreseen (at ${r.position.prepare}, foreseen ${foreseen.position.prepare}; revision ${r.nextExpectedRevision}, foreseen ${foreseen.nextExpectedRevision}): is another process writing?`);
          if (r.appended) storedCommit(r.position.prepare, r.position.commit);
        });
      } catch (error) {
        stopped = error;
      }
    }
    sending = false; // in the same turn as the last look at `pending`: nothing is left behind
  };
  /** Stores in the background, after everything before it; the store must agree with the answers given. */
  const behind = (appends: readonly StreamAppend[], answered: readonly AppendResult[]) => {
    appends.forEach((append, i) => pending.push({ append, answered: answered[i]! }));
    if (sending) return;
    sending = true;
    tail = send();
  };
  /** An append written through, under way: nothing is answered before it is stored (its numbers are not known before). */
  let through: Promise<unknown> | undefined;
  const afterThrough = async () => {
    while (through) await through.catch(() => {});
  };
  const writeThrough = async <T>(append: () => Promise<T>): Promise<T> => {
    await flushed();
    const stored = append().catch(async (error: unknown) => {
      // refused part way (several streams): the numbers its first streams took are spent
      const spent = await lastSequenceNow();
      if (spent > sequence) sequence = spent;
      throw error;
    });
    through = stored;
    try {
      return await stored;
    } finally {
      through = undefined;
    }
  };
  const refuse = (a: StreamAppend, current = revisionOf(a.streamName)) => {
    const expected: ExpectedRevision = a.expectedRevision ?? 'any';
    return matchesExpectedRevision(current, expected) ? undefined : new WrongExpectedRevisionError(a.streamName, expected, current);
  };
  const exact = (expected: ExpectedRevision | undefined) => expected === 'no_stream' || typeof expected === 'bigint';
  /** An append written through, once stored: what this writer knows moves on with it. */
  const throughStored = (streamName: string, r: AppendResult) => {
    known.set(streamName, r.nextExpectedRevision);
    sequence = r.position.prepare;
    storedCommit(r.position.prepare, r.position.commit);
  };
  /** A stored position told like the answers (`stored` gives it back), so that positions compare in the order made. */
  const onBehindsLine = (r: AppendResult): AppendResult => (r.appended ? { ...r, position: { commit: from.commit, prepare: r.position.prepare } } : r);
  const flushed = async () => {
    await afterThrough();
    // what is sent meanwhile is sent by the same run of `send`: its end is everything's
    while (sending) await tail;
    check();
  };

  /**
   * Appends, all or none, each on the revision the ones before it leave (a stream may be named
   * twice): answered and written behind when every expectation is exact, else written through
   * (`write`: the store's own call). One refused alone is refused as the store would.
   */
  const appendAll = async (appends: readonly StreamAppend[], write: () => Promise<AppendResult[]>): Promise<AppendResult[]> => {
    await afterThrough();
    check();
    if (appends.some((a) => !exact(a.expectedRevision)))
      return writeThrough(async () => {
        const results = await write();
        results.forEach((r, i) => r.appended && throughStored(appends[i]!.streamName, r));
        return results.map(onBehindsLine);
      });
    const planned = new Map<string, bigint | undefined>();
    for (const a of appends) {
      const current = planned.has(a.streamName) ? planned.get(a.streamName) : revisionOf(a.streamName);
      const refusal = refuse(a, current);
      if (refusal) throw appends.length === 1 ? refusal : new AppendsRefusedError(appends.map((x) => x.streamName), refusal.message);
      planned.set(a.streamName, a.events.length > 0 ? (current ?? -1n) + BigInt(a.events.length) : current);
    }
    const answered = appends.map((a) => answer(a.streamName, a.events.length));
    behind(appends, answered);
    return answered;
  };

  return {
    ...store,
    async appendToStream(streamName, events, options = {}) {
      const [result] = await appendAll([{ streamName, events, expectedRevision: options.expectedRevision ?? 'any' }], async () => [await store.appendToStream(streamName, events, options)]);
      return result!;
    },
    ...(appendToStreams ? { appendToStreams: (appends: readonly StreamAppend[]) => appendAll(appends, () => appendToStreams(appends)) } : {}),
    readStream: async (...args) => (await flushed(), store.readStream(...args)),
    readAll: async (...args) => (await flushed(), store.readAll(...args)),
    ...(store.readAllText ? { readAllText: async (...args: Parameters<NonNullable<EventStore['readAllText']>>) => (await flushed(), store.readAllText!(...args)) } : {}),
    readEventById: async (...args) => (await flushed(), store.readEventById(...args)),
    headPosition: async () => (await flushed(), store.headPosition()),
    flush: flushed,
    stored(position) {
      if (comparePositions(position, from) <= 0 || position.commit !== from.commit) return position;
      const commit = commitOf(position.prepare);
      if (commit === undefined) throw new Error(`position ${position.prepare} is not stored yet: flush first`);
      return { commit, prepare: position.prepare };
    },
    async close() {
      await tail;
      await store.close();
    },
  };
};
