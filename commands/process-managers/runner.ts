/**
 * Runs a process manager: follows all events from its checkpoint and reacts by
 * issuing commands. Its reactions are idempotent (command ids derive from the
 * events), so saving the checkpoint after reacting gives an exactly-once effect
 * across restarts and redeliveries. Since a redelivery is harmless, the checkpoint is
 * saved at most every `checkpointEveryMs` (and when the manager stops), not after every
 * batch: under load a batch is an event or two, and a save per batch was most of the
 * platform's queries. A manager may also act on time (`tick`, with the
 * platform's clock, every `tickMs`) and once after each batch (`flush`); batches and ticks
 * never overlap.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../infra/clock.ts';
import type { Database } from '../../infra/postgres/database.ts';
import type { EventStore, RecordedEvent } from '../../infra/event-store/types.ts';
import type { GlobalPosition } from '../../infra/event-store/position.ts';
import { advanceCheckpoint, readCheckpoint } from '../../projections/checkpoints.ts';
import { batched } from '../../projections/runner.ts';

export type ProcessManager = {
  name: string;
  react(event: RecordedEvent): Promise<void>;
  /** After each batch of events, before the checkpoint moves past them. */
  flush?(): Promise<void>;
  /** Time moved on (the platform's clock). */
  tick?(nowMs: number): Promise<void>;
};

export const runProcessManager = ({
  db,
  store,
  manager,
  logger,
  clock,
  tickMs = 100,
  checkpointEveryMs = 1000,
}: {
  db: Database;
  store: EventStore;
  manager: ProcessManager;
  logger: Logger;
  clock?: Clock;
  tickMs?: number;
  checkpointEveryMs?: number;
}) => {
  const name = `pm:${manager.name}`;
  const log = logger.child({ processManager: manager.name });
  let stopped = false;
  let close: (() => Promise<void>) | undefined;
  // batches and ticks take turns
  let turn = Promise.resolve();
  const inTurn = (fn: () => Promise<void>) => (turn = turn.then(fn, fn));
  // where the manager has reacted up to, and what of it the saved checkpoint does not say yet
  let unsaved: { position: GlobalPosition; events: number } | undefined;
  let lastSavedMs = 0;
  let saveTimer: NodeJS.Timeout | undefined;
  const save = async () => {
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = undefined;
    const pending = unsaved;
    if (!pending) return;
    unsaved = undefined;
    lastSavedMs = Date.now();
    try {
      await advanceCheckpoint(db, name, pending.position, pending.events);
    } catch (error) {
      // saved with the next batch (or at stop); meanwhile a restart redelivers a little more
      if (!unsaved) unsaved = pending;
      log.warn({ err: error }, 'checkpoint not saved');
    }
  };
  const reacted = async (position: GlobalPosition, events: number) => {
    unsaved = { position, events: (unsaved?.events ?? 0) + events };
    const wait = lastSavedMs + checkpointEveryMs - Date.now();
    if (wait <= 0) await save();
    else saveTimer ??= setTimeout(() => void save(), wait);
  };
  const loop = (async () => {
    let failures = 0;
    while (!stopped) {
      try {
        const subscription = store.subscribeToAll({ after: await readCheckpoint(db, name) });
        close = () => subscription.close();
        for await (const batch of batched(subscription, 200)) {
          await inTurn(async () => {
            for (const event of batch) await manager.react(event);
            await manager.flush?.();
          });
          failures = 0;
          await reacted(batch.at(-1)!.position, batch.length);
        }
      } catch (error) {
        failures++;
        log.error({ err: error, failures }, 'process manager failed; restarting from its checkpoint');
        await new Promise((r) => setTimeout(r, Math.min(5000, 50 * 2 ** failures)));
      }
    }
  })();
  const ticker =
    manager.tick && clock
      ? setInterval(() => {
          void inTurn(() => manager.tick!(clock.now().getTime())).catch((error: unknown) => log.error({ err: error }, 'process manager tick failed'));
        }, tickMs)
      : undefined;
  return {
    async stop() {
      stopped = true;
      if (ticker) clearInterval(ticker);
      await close?.();
      await loop;
      await turn.catch(() => {});
      await save();
    },
  };
};
