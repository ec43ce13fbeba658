/**
 * One driver per key (a resource's switch, a handover) at a time: started by an event or on
 * resume, awaited by `idle`, and after `stop` none starts and the running ones end after
 * their current step (what is left resumes on the next start).
 */
import type { Logger } from 'pino';

export type Drivers = {
  start(key: string, correlationId: string): void;
  idle(): Promise<void>;
  stop(): void;
  readonly stopped: boolean;
};

export const drivers = (log: Logger, what: string, drive: (key: string, correlationId: string) => Promise<void>): Drivers => {
  const driving = new Map<string, Promise<void>>();
  let stopped = false;
  return {
    start(key, correlationId) {
      if (driving.has(key) || stopped) return;
      const run = drive(key, correlationId)
        .catch((error) => log.error({ err: error, [what]: key }, `${what} driver stopped; it resumes on restart`))
        .finally(() => driving.delete(key));
      driving.set(key, run);
    },
    async idle() {
      while (driving.size > 0) await Promise.all([...driving.values()]);
    },
    stop() {
      stopped = true;
    },
    get stopped() {
      return stopped;
    },
  };
};
