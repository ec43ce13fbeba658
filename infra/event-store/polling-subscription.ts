/**
 * A catch-up-then-live subscription built on `readAll`: read batches after the
 * last delivered position; when caught up, wait for a wake-up (an append in this
 * process, a database notification) or a short poll interval, whichever is first.
 * The poll covers wake-ups that cannot be signalled, e.g. an unrelated transaction
 * that was holding back the PostgreSQL store's visibility horizon.
 */
import type { AllSubscription, ReadAllOptions, RecordedEvent } from './types.ts';
import { resolveAfter, type GlobalPosition } from './position.ts';

export type WakeSignal = {
  /** Resolves on the next wake-up (true) or after `ms` (false); never rejects. */
  wait(ms: number): Promise<boolean>;
  /** Counts wake-ups, so a reader can tell one came while it was not waiting. */
  generation(): number;
};

/** A wake-up broadcast: each `notify` releases every current waiter. */
export const createWakeSignal = (): WakeSignal & { notify(): void } => {
  let waiters: Array<() => void> = [];
  let generation = 0;
  return {
    generation: () => generation,
    notify() {
      generation++;
      const current = waiters;
      waiters = [];
      for (const w of current) w();
    },
    wait(ms) {
      return new Promise<boolean>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== done);
          resolve(false);
        }, ms);
        waiters.push(done);
      });
    },
  };
};

const RETRY_AFTER_WAKE_MS = 5;

export type PollingSubscriptionOptions = {
  readAll: (options: ReadAllOptions) => Promise<RecordedEvent[]>;
  wake: WakeSignal;
  after?: GlobalPosition | 'start';
  batchSize?: number;
  pollMs?: number;
};

export const pollingSubscription = ({
  readAll,
  wake,
  after,
  batchSize = 500,
  pollMs = 100,
}: PollingSubscriptionOptions): AllSubscription => {
  let closed = false;
  const closeSignal = createWakeSignal();
  const iterate = async function* (): AsyncGenerator<RecordedEvent> {
    let position = resolveAfter(after);
    // After a wake-up that found nothing (the new events sit behind a transaction still
    // in flight), look again soon, backing off to the poll interval.
    let retryMs: number | undefined;
    while (!closed) {
      const seen = wake.generation();
      const batch = await readAll({ after: position, maxCount: batchSize });
      for (const event of batch) {
        if (closed) return;
        position = event.position;
        yield event;
      }
      if (batch.length > 0) retryMs = undefined;
      if (batch.length < batchSize && !closed) {
        // a wake-up while reading or yielding counts as one: appends since may be hidden
        if (wake.generation() !== seen) retryMs ??= RETRY_AFTER_WAKE_MS;
        const waitMs = batch.length === 0 && retryMs !== undefined ? retryMs : pollMs;
        const woken = wake.generation() !== seen && batch.length > 0 ? true : await Promise.race([wake.wait(waitMs), closeSignal.wait(waitMs)]);
        if (woken) retryMs = RETRY_AFTER_WAKE_MS;
        else if (retryMs !== undefined) retryMs = retryMs * 2 >= pollMs ? undefined : retryMs * 2;
      }
    }
  };
  const generator = iterate();
  return {
    [Symbol.asyncIterator]: () => generator,
    async close() {
      if (closed) return;
      closed = true;
      closeSignal.notify();
    },
  };
};
