/**
 * One driver per key (a resource's switch, a handover) at a time: started by an event or on
 * resume, awaited by `idle`. A driver that stops on an unexpected error (a database blip, a
 * conflict that outlasted its retries) is started again after a growing pause, a few times,
 * since its steps are idempotent; after that it waits for the next start. After `stop` none
 * starts and the running ones end after their current step (what is left resumes on the
 * next start of the process).
 */
import type { Logger } from 'pino';

export type Drivers = {
  start(key: string, correlationId: string): void;
  idle(): Promise<void>;
  stop(): void;
  readonly stopped: boolean;
};

export const RETRIES = { attempts: 6, firstPauseMs: 50, maxPauseMs: 5_000 };

export const drivers = (log: Logger, what: string, drive: (key: string, correlationId: string) => Promise<void>): Drivers => {
  const driving = new Map<string, Promise<void>>();
  let stopped = false;
  const run = async (key: string, correlationId: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await drive(key, correlationId);
      } catch (error) {
        if (stopped || attempt >= RETRIES.attempts) {
          log.error({ err: error, [what]: key }, `${what} driver stopped; it resumes on restart`);
          return;
        }
        const pauseMs = Math.min(RETRIES.maxPauseMs, RETRIES.firstPauseMs * 2 ** (attempt - 1));
        log.warn({ err: error, [what]: key, attempt, pauseMs }, `${what} driver failed; trying again`);
        await new Promise((r) => setTimeout(r, pauseMs));
      }
    }
  };
  return {
    start(key, correlationId) {
      if (driving.has(key) || stopped) return;
      driving.set(key, run(key, correlationId).finally(() => driving.delete(key)));
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
