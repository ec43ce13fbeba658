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
  /** Resolves on the next wake-up or after `ms`; never rejects. */
  wait(ms: number): Promise<void>;
};

/** A wake-up broadcast: each `notify` releases every current waiter. */
export const createWakeSignal = (): WakeSignal & { notify(): void } => {
  let waiters: Array<() => void> = [];
  return {
    notify() {
      const current = waiters;
      waiters = [];
      for (const w of current) w();
    },
    wait(ms) {
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== done);
          resolve();
        }, ms);
        waiters.push(done);
      });
    },
  };
};

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
    while (!closed) {
      const batch = await readAll({ after: position, maxCount: batchSize });
      for (const event of batch) {
        if (closed) return;
        position = event.position;
        yield event;
      }
      if (batch.length < batchSize && !closed) {
        await Promise.race([wake.wait(pollMs), closeSignal.wait(pollMs)]);
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
