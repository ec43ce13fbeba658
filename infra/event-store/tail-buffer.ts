/**
 * The recent tail of the global order, read once and shared: a process runs a dozen subscribers
 * (each projection, each process manager), and each reading every event from the database
 * multiplied the reads (and their JSON parsing) a dozen times. The buffer holds a contiguous
 * run of what the store returned (successive reads from its end only ever extend it, since the
 * store hands out the order as a growing prefix), serves a reader inside that run from memory,
 * and reads on from its end when a reader wants more. A reader behind the run reads the database
 * itself. Events are shared between readers: they must not change them.
 *
 * When a read from the end found the store caught up, readers arriving within FRESH_MS after it,
 * with no append in this process since (`generation`), are told the same without a query: a
 * burst of woken subscribers costs one read (another process's appends wait for the next poll).
 */
import { comparePositions, type GlobalPosition } from './position.ts';
import type { RecordedEvent } from './types.ts';

export const TAIL_BUFFER_EVENTS = 50_000;
const FRESH_MS = 20;

export const createTailBuffer = (
  read: (after: GlobalPosition, maxCount: number) => Promise<RecordedEvent[]>,
  generation: () => number = () => 0,
  capacity = TAIL_BUFFER_EVENTS,
) => {
  let events: RecordedEvent[] = [];
  /** When a read from the end last found nothing more, and at which append generation. */
  let caughtUp: { atMs: number; generation: number } | undefined;
  /** The position just before events[0] (what the read that started the run was after). */
  let from: GlobalPosition | undefined;
  let extending: Promise<void> | undefined;

  /** Index of the first buffered event after `after`, or -1 when `after` is not inside the run. */
  const indexAfter = (after: GlobalPosition) => {
    if (from === undefined || comparePositions(after, from) < 0) return -1;
    if (comparePositions(after, from) === 0) return 0;
    let [lo, hi] = [0, events.length - 1];
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = comparePositions(events[mid]!.position, after);
      if (c === 0) return mid + 1;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1; // not a position of the run (another order's, or a gap): the database decides
  };

  const extend = (maxCount: number) =>
    (extending ??= (async () => {
      try {
        const end = events.length > 0 ? events.at(-1)!.position : from!;
        const seen = generation();
        const more = await read(end, maxCount);
        caughtUp = more.length < maxCount ? { atMs: Date.now(), generation: seen } : undefined;
        for (const e of more) events.push(e);
        // dropped in chunks of a quarter of the capacity: dropping the overflow at every read
        // copied the whole buffer each time (most of a long simulation's CPU)
        if (events.length > capacity + (capacity >> 2)) {
          const drop = events.length - capacity;
          from = events[drop - 1]!.position;
          events = events.slice(drop);
        }
      } finally {
        extending = undefined;
      }
    })());

  return {
    async read(after: GlobalPosition, maxCount: number): Promise<RecordedEvent[]> {
      let i = indexAfter(after);
      if (i < 0) {
        const fresh = await read(after, maxCount);
        // a reader ahead of the run (or the first one) starts a new run
        if (from === undefined || (events.length > 0 && comparePositions(after, events.at(-1)!.position) > 0)) [from, events] = [after, fresh.slice()];
        return fresh;
      }
      const fresh = caughtUp !== undefined && caughtUp.generation === generation() && Date.now() - caughtUp.atMs < FRESH_MS;
      if (i + maxCount > events.length && !fresh) {
        await extend(Math.max(maxCount, 500));
        i = indexAfter(after);
        if (i < 0) return read(after, maxCount);
      }
      return events.slice(i, i + maxCount);
    },
  };
};
