import type { EventToAppend } from '../../infra/event-store/types.ts';
import { benchEvents } from './events.ts';
import type { Sample } from './stats.ts';

/** Appends `events` to `streamName` whose last revision is `lastRevision` (undefined: no stream yet). */
export type AppendBatch = (streamName: string, lastRevision: bigint | undefined, events: EventToAppend[]) => Promise<void>;

export const STREAMS_PER_WRITER = 100;

/**
 * `writers` concurrent writers, each appending `batchSize` events per call to streams of its
 * own, in turn over STREAMS_PER_WRITER of them, with the exact revision it tracks itself.
 * The revisions outlive a run, so only the first (warm-up) run creates streams.
 */
export const createWriters = (name: string, writers: number, batchSize: number, append: AppendBatch) => {
  const states = Array.from({ length: writers }, () => ({
    turn: 0,
    lastRevisions: new Array<bigint | undefined>(STREAMS_PER_WRITER).fill(undefined),
  }));

  const runFor = async (milliseconds: number): Promise<Sample> => {
    const latenciesMs: number[] = [];
    const start = performance.now();
    const deadline = start + milliseconds;
    await Promise.all(
      states.map(async (state, writer) => {
        while (performance.now() < deadline) {
          const slot = state.turn++ % STREAMS_PER_WRITER;
          const streamName = `${name}-w${writer}-s${slot}`;
          const last = state.lastRevisions[slot];
          const next = (last ?? -1n) + 1n;
          const events = benchEvents(streamName, next, batchSize);
          const t0 = performance.now();
          await append(streamName, last, events);
          latenciesMs.push(performance.now() - t0);
          state.lastRevisions[slot] = next + BigInt(batchSize - 1);
        }
      }),
    );
    // until the last writer's append returns, not the deadline: every counted event is committed
    const seconds = (performance.now() - start) / 1000;
    return { events: latenciesMs.length * batchSize, ops: latenciesMs.length, seconds, latenciesMs };
  };

  return { runFor };
};

/** What a conflict told the writer: the stream's actual last revision (undefined: no stream). */
export type Conflict = { lastRevision: bigint | undefined };
/** Maps an append's error to the conflict it reports, or undefined when it is not a conflict. */
export type ConflictOf = (error: unknown, streamName: string) => Promise<Conflict | undefined>;

/**
 * `writers` concurrent writers appending `batchSize` events to `streams` streams they all
 * share, each stream in turn, with the revision each writer last saw: a writer that loses a
 * race learns the actual revision from the conflict and tries again on the same stream until it
 * wins. Latency runs from the first attempt to the append that won; `conflicts` counts the lost.
 */
export const createContendedWriters = (name: string, writers: number, streams: number, batchSize: number, append: AppendBatch, conflictOf: ConflictOf) => {
  const known = Array.from({ length: writers }, () => new Array<bigint | undefined>(streams).fill(undefined));
  const turns = Array.from({ length: writers }, (_, w) => w);
  let conflicts = 0;

  const runFor = async (milliseconds: number): Promise<Sample & { conflicts: number }> => {
    const latenciesMs: number[] = [];
    const before = conflicts;
    const start = performance.now();
    const deadline = start + milliseconds;
    await Promise.all(
      known.map(async (lastRevisions, writer) => {
        while (performance.now() < deadline) {
          const slot = turns[writer]!++ % streams;
          const streamName = `${name}-shared-${slot}`;
          const t0 = performance.now();
          for (;;) {
            const last = lastRevisions[slot];
            const next = (last ?? -1n) + 1n;
            try {
              await append(streamName, last, benchEvents(streamName, next, batchSize));
              lastRevisions[slot] = next + BigInt(batchSize - 1);
              break;
            } catch (error) {
              const conflict = await conflictOf(error, streamName);
              if (!conflict) throw error;
              conflicts++;
              lastRevisions[slot] = conflict.lastRevision;
            }
          }
          latenciesMs.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    return { events: latenciesMs.length * batchSize, ops: latenciesMs.length, seconds, latenciesMs, conflicts: conflicts - before };
  };

  return { runFor };
};
