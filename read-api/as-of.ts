/**
 * The `asOf` argument of the analysts' queries: read a version of the read models built as of a
 * moment (`hcp projections rebuild all --as-of …`) instead of the live ones, read-only, at the
 * platform time that version stands at. Staff only; a version that does not exist, is still
 * building or lacks a read model is refused by name, never answered from the live tables.
 */
import type { Sql } from '../infra/postgres/database.ts';
import { asOfTarget, parseAsOf, VersionError } from '../projections/versions.ts';
import { requireRole, STAFF_ROLES, type Principal } from './auth.ts';
import { InputError } from './inputs.ts';
import type { ApiServices } from './resolvers.ts';

export const AS_OF_DOC = `"Staff: read a version of the read models built as of a moment or position (hcp projections rebuild all --as-of …), by that moment, that position or the version's name."`;

export type AsOfView = { readModels: Sql; atMs: number; version: string };

/** `tables`: the read-model tables the query reads, all of which the version must hold. */
export const asOfView = async (services: ApiServices, principal: Principal, asOf: string | null | undefined, tables: readonly string[]): Promise<AsOfView | undefined> => {
  if (asOf == null) return undefined;
  requireRole(principal, ...STAFF_ROLES);
  if (typeof asOf !== 'string' || asOf.length > 80) throw new InputError('asOf', 'expected a version name, a position (commit/prepare) or an ISO time');
  let name: string;
  try {
    name = asOfTarget(asOf).name;
  } catch (error) {
    if (error instanceof VersionError) throw new InputError('asOf', error.message);
    throw error;
  }
  const version = await services.versions?.find(name);
  if (!version || version.kind !== 'as-of')
    throw new InputError('asOf', `no read models as of ${asOf}: build them with "hcp projections rebuild all --as-of ${asOf}" (hcp projections list shows those built)`);
  if (version.status !== 'ready') throw new InputError('asOf', `${name} is still being built`);
  const readModels = services.versions!.sql(name);
  const held = new Set((await readModels.query<{ t: string }>(`SELECT c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()`)).map((r) => r.t));
  if (tables.some((t) => !held.has(t))) throw new InputError('asOf', `${name} holds only ${version.projections.join(', ')}; build every read model with "hcp projections rebuild all --as-of ${asOf}"`);
  // as of a moment: that moment; as of a position: when its last event occurred
  const built = version.asOf ? parseAsOf(version.asOf) : undefined;
  const atMs = built?.kind === 'time' ? built.ms : Date.parse(version.lastOccurredAt ?? '1970-01-01T00:00:00Z');
  return { readModels, atMs, version: name };
};
