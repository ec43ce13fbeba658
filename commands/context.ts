/** What command handlers need from the running platform. */
import type { Clock } from '../infra/clock.ts';
import type { EventStore } from '../infra/event-store/types.ts';
import type { IdGenerator } from '../infra/ids.ts';
import type { Sql } from '../infra/postgres/database.ts';
import type { Handled } from './handle.ts';
import { CommandRejectedError } from './errors.ts';

export type CommandDeps = {
  store: EventStore;
  /** Read models, for look-ups that commands need (which stream holds an API key). */
  readModels: Sql;
  clock: Clock;
  ids: IdGenerator;
};

/** The caller of a command, as the API authenticated it. */
export type Caller = { commandId: string; correlationId: string; actor: string };

export const contextFor = (deps: CommandDeps, caller: Caller, commandId = caller.commandId, causationId?: string) => ({
  commandId,
  actor: caller.actor,
  correlationId: caller.correlationId,
  ...(causationId ? { causationId } : {}),
  now: () => deps.clock.now(),
});

/** The accepted outcome, or the rejection thrown as an error for the API to report. */
export const accepted = <E>(handled: Handled<E>) => {
  if (handled.type === 'rejected') throw new CommandRejectedError(handled.rejection);
  return handled;
};
