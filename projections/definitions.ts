/**
 * Projection definitions that changed since their read models were built. A projection carries
 * its definition's version; its checkpoint records the version that built its tables. When they
 * differ, the platform neither runs the new code on the old tables nor migrates them: queries go
 * on reading the old read model (no longer followed, so it stands still), while the new
 * version is built beside it from the first event, swapped in when caught up, and followed
 * from then on. Process managers that read it wait for the swap.
 */
import type { Logger } from 'pino';
import type { EventStore } from '../infra/event-store/types.ts';
import type { Database, Sql } from '../infra/postgres/database.ts';
import { definitionVersion, type Projection } from './projection.ts';
import type { ProjectionRunner } from './runner.ts';
import { gentleBuild, rebuildBeside } from './versions.ts';

/** Projections whose read models another definition built (a projection never run is not one). */
export const staleProjections = async (db: Sql, projections: readonly Projection[]): Promise<Projection[]> => {
  const rows = await db.query<{ projection: string; version: number }>(`SELECT projection, definition_version AS version FROM hcp_checkpoints WHERE projection = ANY ($1)`, [
    projections.map((p) => p.name),
  ]);
  const built = new Map(rows.map((r) => [r.projection, Number(r.version)]));
  return projections.filter((p) => built.has(p.name) && built.get(p.name) !== definitionVersion(p));
};

/** Builds the new versions beside the old, swaps them in, and has the runner follow them. */
export const rebuildStale = async ({ db, store, stale, runner, logger, signal }: { db: Database; store: EventStore; stale: readonly Projection[]; runner: ProjectionRunner; logger: Logger; signal?: AbortSignal }) => {
  const names = stale.map((p) => p.name);
  const started = Date.now();
  logger.info({ projections: names }, 'projection definitions changed: building their new versions beside the old read models, which keep serving');
  // nobody follows the old tables, so the swap need not wait for them to stand where the new version does
  // beside the API serving from this process and database: the build never holds the event loop
  // or both cores for long (hcp projections rebuild goes faster)
  const applied = await rebuildBeside(db, store, stale, {
    ...gentleBuild(db),
    stalledMs: 0,
    signal,
    onProgress: (n) => n % 100_000 < 1000 && logger.info({ projections: names, applied: n }, 'building new projection versions'),
  });
  for (const name of names) runner.resume(name);
  logger.info({ projections: names, applied, ms: Date.now() - started }, 'new projection versions swapped in and followed');
};
