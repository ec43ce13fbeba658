/** What command handlers need from the running platform. */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../domain/canonical-json.ts';
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

/**
 * The caller of a command, as the API authenticated it. `requestDigest` fingerprints what the
 * caller asked (requestDigest below), so that its command id sent again with a different
 * request is refused instead of answered with the first request's result.
 */
export type Caller = { commandId: string; correlationId: string; actor: string; requestDigest?: string };

/**
 * A command id an API caller chose, in a namespace of its own: `api/` and then the id, which
 * may not hold a `/`. The platform's own steps derive theirs otherwise (`open-workload:<w>`,
 * `release-quota:<w>`, `recommend:…`, `handover:…`), so nothing a caller sends can be taken
 * for a step the platform has still to take.
 */
export const callerCommandId = (id: string) => `api/${id}`;

/** A fingerprint of a request: the same for the same fields and values in any key order; null counts as absent. */
export const requestDigest = (request: unknown): string =>
  createHash('sha256')
    .update(canonicalJson(JSON.parse(JSON.stringify(request, (_, v: unknown) => (v === null ? undefined : v)) ?? 'null')))
    .digest('base64url')
    .slice(0, 22);

export const contextFor = (deps: CommandDeps, caller: Caller, commandId = caller.commandId, causationId?: string) => ({
  commandId,
  actor: caller.actor,
  correlationId: caller.correlationId,
  ...(causationId ? { causationId } : {}),
  // steps a command leads to have ids of their own; only the caller's own command carries its request
  ...(caller.requestDigest && commandId === caller.commandId ? { requestDigest: caller.requestDigest } : {}),
  now: () => deps.clock.now(),
});

/** The accepted outcome, or the rejection thrown as an error for the API to report. */
export const accepted = <E>(handled: Handled<E>) => {
  if (handled.type === 'rejected') throw new CommandRejectedError(handled.rejection);
  return handled;
};
