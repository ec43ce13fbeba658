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
