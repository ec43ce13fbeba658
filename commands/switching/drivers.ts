/**
 * One driver per key (a resource's switch, a handover) at a time: started by an event or on
 * resume, awaited by `idle`. A driver that stops on an unexpected error (a database blip, a
 * conflict that outlasted its retries) is started again after a growing pause (capped, with
 * jitter) for as long as the process runs, since its steps are idempotent: an outage of the
 * database delays a switch, it does not strand it. After `stop` none
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

export const RETRIES = { firstPauseMs: 50, maxPauseMs: 30_000, loudAfter: 5 };

export const drivers = (log: Logger, what: string, drive: (key: string, correlationId: string) => Promise<void>): Drivers => {
  const driving = new Map<string, Promise<void>>();
  let stopped = false;
  const run = async (key: string, correlationId: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await drive(key, correlationId);
      } catch (error) {
        if (stopped) {
          log.error({ err: error, [what]: key }, `${what} driver stopped; it resumes on restart`);
          return;
        }
        const pauseMs = Math.round(Math.min(RETRIES.maxPauseMs, RETRIES.firstPauseMs * 2 ** Math.min(attempt - 1, 20)) * (0.75 + Math.random() * 0.5));
        (attempt > RETRIES.loudAfter ? log.error : log.warn).call(log, { err: error, [what]: key, attempt, pauseMs }, `${what} driver failed; trying again`);
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
