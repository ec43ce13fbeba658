/**
 * Read-model versions on a log a simulated platform wrote: a version built as of any position
 * holds exactly what the projection runner builds incrementally, in batches of any size, when it
 * stops at that position (property, fixed seed); as of a moment it is the longest prefix that
 * occurred by then; a rebuild beside the live models swaps in exactly what a clean build gives.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECTIONS } from '../cli/platform.ts';
import { runSimulation } from '../cli/simulate.ts';
import { createPostgresEventStore } from '../infra/event-store/postgres/store.ts';
import type { EventStore, RecordedEvent } from '../infra/event-store/types.ts';
import { encodePosition } from '../infra/event-store/position.ts';
import { postgresBackends, type TestDatabase } from '../tests/support/databases.ts';
import { readCheckpoint } from './checkpoints.ts';
import { applyBatch, resetProjection } from './runner.ts';
import { dropVersion, listVersions, liveSchemaOf, migrateVersions, rebuildAsOf, rebuildBeside, resumeAsOf, tableRows } from './versions.ts';

const TABLES = PROJECTIONS.flatMap((p) => p.tables);

const rowsOf = async (db: TestDatabase, schema: string) => Object.fromEntries(await Promise.all(TABLES.map(async (t) => [t, await tableRows(db, schema, t)] as const)));

for (const backend of postgresBackends()) {
  describe(`read-model versions (${backend.label})`, () => {
    let db: TestDatabase;
    let store: EventStore;
    let log: RecordedEvent[];
    let live: string;

    beforeAll(async () => {
      db = await backend.open();
      await runSimulation(db, backend.label === 'pglite' ? 'pglite' : 'postgres', { startMs: Date.parse('2023-08-20T00:00:00Z'), hours: 1, scale: 'seed', perDay: 1500, seed: 'versions' });
      store = await createPostgresEventStore(db);
      await migrateVersions(db);
      log = await store.readAll();
      live = await liveSchemaOf(db);
    }, 120_000);
    afterAll(() => db.drop());

    /** The live read models as the runner builds them, stopped after event `upto`, in batches of the given sizes. */
    const incrementalUpTo = async (upto: number, sizes: readonly number[]) => {
      for (const p of PROJECTIONS) await resetProjection(db, p);
      let from = 0;
      for (let i = 0; from <= upto; i++) {
        const size = sizes[i % sizes.length]!;
        const batch = log.slice(from, Math.min(upto + 1, from + size));
        const after = from === 0 ? { commit: -1n, prepare: -1n } : log[from - 1]!.position;
        for (const p of PROJECTIONS) await applyBatch(db, p, batch, after);
        from += batch.length;
      }
    };

    it('as of any position: exactly the incremental build stopped there (property)', async () => {
      expect(log.length).toBeGreaterThan(500);
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: log.length - 1 }), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 4 }), async (upto, sizes) => {
          const version = await rebuildAsOf(db, store, PROJECTIONS, { kind: 'position', position: log[upto]!.position }, { name: 'hcp_asof_property', batchSize: 400 });
          try {
            expect(version.status).toBe('ready');
            expect(encodePosition(version.position)).toBe(encodePosition(log[upto]!.position));
            await incrementalUpTo(upto, sizes);
            expect(await rowsOf(db, 'hcp_asof_property')).toEqual(await rowsOf(db, live));
          } finally {
            await dropVersion(db, 'hcp_asof_property');
          }
        }),
        { numRuns: 8, seed: 21 },
      );
    }, 240_000);

    it('as of a moment: the longest prefix of the log that occurred by then', async () => {
      // halfway through the workloads' events, so the version holds some workloads and not all
      const workloadEvents = log.filter((e) => e.streamName.startsWith('workload-'));
      const middle = workloadEvents[Math.floor(workloadEvents.length / 2)]!;
      const at = Date.parse(middle.metadata.occurredAt);
      const firstLater = log.findIndex((e) => Date.parse(e.metadata.occurredAt) > at);
      await incrementalUpTo(log.length - 1, [500]);
      const liveBefore = await rowsOf(db, live);
      const version = await rebuildAsOf(db, store, PROJECTIONS, { kind: 'time', ms: at });
      // built in its own tables: the live ones untouched, the version's holding the first half of the day
      expect(await rowsOf(db, live)).toEqual(liveBefore);
      const built = await rowsOf(db, version.name);
      expect(built.rm_workloads!.length).toBeGreaterThan(10);
      expect(built.rm_workloads!.length).toBeLessThan(liveBefore.rm_workloads!.length);
      expect(version.name).toMatch(/^hcp_asof_2023_08_20t/);
      expect(encodePosition(version.position)).toBe(encodePosition(log[firstLater - 1]!.position));
      expect((await listVersions(db)).map((v) => [v.name, v.kind, v.status])).toEqual([[version.name, 'as-of', 'ready']]);
      await dropVersion(db, version.name);
      expect(await listVersions(db)).toEqual([]);
    }, 120_000);

    it('a build that fails part way through a batch resumes each projection from where it stood', async () => {
      // the last projection fails on its third batch, after the others have committed theirs
      const failing = PROJECTIONS.at(-1)!;
      let calls = 0;
      const flaky = PROJECTIONS.map((p) =>
        p !== failing
          ? p
          : {
              ...p,
              apply: (tx: Parameters<typeof p.apply>[0], events: Parameters<typeof p.apply>[1]) => (++calls === 3 ? Promise.reject(new Error('lost the connection')) : p.apply(tx, events)),
            },
      );
      const end = { kind: 'position' as const, position: log.at(-1)!.position };
      await expect(rebuildAsOf(db, store, flaky, end, { name: 'hcp_asof_resumed', batchSize: 200, parallel: 3 })).rejects.toThrow('lost the connection');
      const [half] = await listVersions(db);
      expect([half!.status, half!.eventsApplied]).toEqual(['building', 400]);
      const resumed = await resumeAsOf(db, store, PROJECTIONS, 'hcp_asof_resumed', { batchSize: 300 });
      expect([resumed.status, resumed.eventsApplied]).toEqual(['ready', log.length]);
      const clean = await rebuildAsOf(db, store, PROJECTIONS, end, { name: 'hcp_asof_clean' });
      expect(await rowsOf(db, resumed.name)).toEqual(await rowsOf(db, clean.name));
      await dropVersion(db, resumed.name);
      await dropVersion(db, clean.name);
    }, 120_000);

    it('a rebuild beside the live models swaps in what a clean build gives, and leaves nothing behind', async () => {
      await incrementalUpTo(log.length - 1, [250]);
      const before = await rowsOf(db, live);
      const applied = await rebuildBeside(db, store, PROJECTIONS, { batchSize: 300 });
      expect(applied).toBe(log.length);
      expect(await rowsOf(db, live)).toEqual(before);
      expect(await listVersions(db)).toEqual([]);
      const leftover = await db.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'hcp_build_%'`);
      expect(leftover).toEqual([]);

      // live checkpoints that stand still behind the version (no runner follows them): after a
      // while the version is swapped in at its own position, and the runner would go on from there
      await db.query(`UPDATE hcp_checkpoints SET commit_position = 0, prepare_position = 0`);
      expect(await rebuildBeside(db, store, PROJECTIONS, { batchSize: 300, stalledMs: 50 })).toBe(log.length);
      expect(await rowsOf(db, live)).toEqual(before);
      for (const p of PROJECTIONS) expect(encodePosition(await readCheckpoint(db, p.name))).toBe(encodePosition(log.at(-1)!.position));
    }, 120_000);
  });
}
