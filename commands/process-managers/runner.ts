/**
 * Runs a process manager: follows all events from its checkpoint and reacts by
 * issuing commands. Its reactions are idempotent (command ids derive from the
 * events), so saving the checkpoint after reacting gives an exactly-once effect
 * across restarts and redeliveries.
 */
import type { Logger } from 'pino';
import type { Database } from '../../infra/postgres/database.ts';
import type { EventStore, RecordedEvent } from '../../infra/event-store/types.ts';
import { lockCheckpoint, readCheckpoint, saveCheckpoint } from '../../projections/checkpoints.ts';
import { batched } from '../../projections/runner.ts';

export type ProcessManager = {
  name: string;
  react(event: RecordedEvent): Promise<void>;
};

export const runProcessManager = ({
  db,
  store,
  manager,
  logger,
}: {
  db: Database;
  store: EventStore;
  manager: ProcessManager;
  logger: Logger;
}) => {
  const name = `pm:${manager.name}`;
  const log = logger.child({ processManager: manager.name });
  let stopped = false;
  let close: (() => Promise<void>) | undefined;
  const loop = (async () => {
    let failures = 0;
    while (!stopped) {
      try {
        const subscription = store.subscribeToAll({ after: await readCheckpoint(db, name) });
        close = () => subscription.close();
        for await (const batch of batched(subscription, 200)) {
          for (const event of batch) await manager.react(event);
          failures = 0;
          await db.transaction(async (tx) => {
            await lockCheckpoint(tx, name);
            await saveCheckpoint(tx, name, batch.at(-1)!.position, batch.length);
          });
        }
      } catch (error) {
        failures++;
        log.error({ err: error, failures }, 'process manager failed; restarting from its checkpoint');
        await new Promise((r) => setTimeout(r, Math.min(5000, 50 * 2 ** failures)));
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      await close?.();
      await loop;
    },
  };
};
