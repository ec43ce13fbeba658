/**
 * The auditor's checks against a store that a simulated platform filled, tampered with in plain
 * SQL behind HCP's back, on PGlite and (in CI) the PostgreSQL server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation } from '../cli/simulate.ts';
import { migrateEventStore, createPostgresEventStore } from '../infra/event-store/postgres/store.ts';
import type { EventStore } from '../infra/event-store/types.ts';
import { postgresBackends, type TestDatabase } from '../tests/support/databases.ts';
import { walkChains } from './chains.ts';
import { digestOf, type Digest } from './digest.ts';
import { derivedChecks } from './derived.ts';
import { replay } from './replay.ts';
import { verifyStore } from './verify.ts';

const takeDigest = async (store: EventStore): Promise<Digest> => {
  const walk = walkChains();
  let last;
  for await (const e of replay(store)) {
    walk.add(e);
    last = e;
  }
  return digestOf(walk, last, store.kind, '2023-08-20T02:00:00Z');
};

/** The stored event of a stream at a revision, as plain SQL sees it. */
const row = async (db: TestDatabase, stream: string, revision: number) =>
  (await db.query<{ position: string; data: Record<string, unknown> }>(`SELECT position::text, data FROM hcp_events WHERE stream_name = $1 AND stream_revision = $2`, [stream, revision]))[0]!;

/** What a careful forger does after editing: recompute the stream's chain from that event on, so every link checks. */
const rechain = (db: TestDatabase, stream: string) =>
  db.query(`
    DO $do$
    DECLARE r record; v_prev text := '';
    BEGIN
      FOR r IN SELECT * FROM hcp_events WHERE stream_name = '${stream}' ORDER BY stream_revision LOOP
        v_prev := hcp_event_hash(v_prev, r.stream_name, r.stream_revision, r.event_id, r.event_type, r.data, r.metadata);
        UPDATE hcp_events SET hash = v_prev WHERE position = r.position;
      END LOOP;
    END $do$`);

for (const backend of postgresBackends()) {
  describe(`audit verify (${backend.label})`, () => {
    let db: TestDatabase;
    let digest: Digest;
    let workload: string;
    let billing: string;

    beforeAll(async () => {
      db = await backend.open();
      await runSimulation(db, backend.label === 'pglite' ? 'pglite' : 'postgres', { startMs: Date.parse('2023-08-20T00:00:00Z'), hours: 2, scale: 'seed', perDay: 3000, seed: 'audit' });
      [{ stream_name: workload }] = await db.query<{ stream_name: string }>(`SELECT stream_name FROM hcp_events WHERE event_type = 'WorkloadCompleted' ORDER BY position LIMIT 1`) as [{ stream_name: string }];
      [{ stream_name: billing }] = await db.query<{ stream_name: string }>(`SELECT stream_name FROM hcp_events WHERE event_type = 'BillingLineRecorded' ORDER BY position LIMIT 1`) as [{ stream_name: string }];
    }, 180_000);
    afterAll(() => db.drop());
    // a store opened afresh for every check, as the CLI does: a running store's tail buffer would answer from memory
    const opened = (on: TestDatabase = db) => createPostgresEventStore(on);

    it('finds a simulated platform whole: every chain, recommendation, balance, bill and phase follows', async () => {
      const report = await verifyStore(await opened(), { derived: derivedChecks() });
      expect(report.chain.listed).toEqual([]);
      expect(report.derived.listed).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.events).toBeGreaterThan(1000);
      for (const c of report.derived.checks) expect(c.checked, c.name).toBeGreaterThan(0);
      digest = await takeDigest(await opened());
    });

    it('names an event edited in place, and nothing else', async () => {
      const { position, data } = await row(db, workload, 1);
      // a value no event holds: the edit changes the row whatever the simulation made
      await db.query(`UPDATE hcp_events SET data = jsonb_set(data, '{priority}', '"tampered"') WHERE position = $1`, [position]);
      const report = await verifyStore(await opened());
      expect(report.ok).toBe(false);
      expect(report.chain.listed.map((b) => [b.kind, b.stream, b.revision])).toEqual([['hash-mismatch', workload, 1n]]);
      await db.query(`UPDATE hcp_events SET data = $2::jsonb WHERE position = $1`, [position, JSON.stringify(data)]);
      expect((await verifyStore(await opened())).ok).toBe(true);
    });

    it('names a deleted event as a gap and an inserted one as out of order', async () => {
      const [victim] = await db.query<Record<string, unknown>>(`SELECT * FROM hcp_events WHERE stream_name = $1 AND stream_revision = 2`, [workload]);
      await db.query(`DELETE FROM hcp_events WHERE stream_name = $1 AND stream_revision = 2`, [workload]);
      const gap = await verifyStore(await opened());
      expect(gap.chain.listed.map((b) => [b.kind, b.stream, b.revision])).toEqual([['gap', workload, 3n]]);
      // back in, as a new row at the end of the log: its stream now reads out of order
      await db.query(
        `INSERT INTO hcp_events (stream_name, stream_revision, event_id, event_type, data, metadata, hash) VALUES ($1, 2, $2, $3, $4::jsonb, $5::jsonb, $6)`,
        [workload, victim!.event_id, victim!.event_type, JSON.stringify(victim!.data), JSON.stringify(victim!.metadata), victim!.hash],
      );
      const moved = await verifyStore(await opened(), { digest });
      expect(moved.chain.listed.map((b) => b.kind)).toEqual(['gap', 'out-of-order']);
      expect(moved.digest!.listed.map((d) => d.kind)).toContain('log-changed');
    });

    it('catches a forged bill whose chain was recomputed: the digest and the billing check both see it', async () => {
      const fresh = await backend.open();
      try {
        await runSimulation(fresh, backend.label === 'pglite' ? 'pglite' : 'postgres', { startMs: Date.parse('2023-08-20T00:00:00Z'), hours: 1, scale: 'seed', perDay: 2000, seed: 'forgery' });
        const before = await takeDigest(await opened(fresh));
        const [line] = await fresh.query<{ stream_name: string; stream_revision: string; position: string }>(
          `SELECT stream_name, stream_revision::text, position::text FROM hcp_events WHERE event_type = 'BillingLineRecorded' ORDER BY position LIMIT 1`,
        );
        await fresh.query(`UPDATE hcp_events SET data = jsonb_set(data, '{amountMicroUsd}', to_jsonb((data->>'amountMicroUsd')::bigint * 2)) WHERE position = $1`, [line!.position]);
        await rechain(fresh, line!.stream_name);
        const report = await verifyStore(await opened(fresh), { digest: before, derived: derivedChecks() });
        expect(report.chain.count).toBe(0); // the forger made every link check
        expect(report.digest!.listed.map((d) => d.kind)).toContain('log-changed');
        expect(report.derived.listed.filter((d) => d.check === 'billing').map((d) => d.stream)).toContain(line!.stream_name);
        expect(report.ok).toBe(false);
      } finally {
        await fresh.drop();
      }
    }, 120_000);

    it('chains the events of a store written before the chain existed, once, at migration', async () => {
      const fresh = await backend.open();
      try {
        const s = await opened(fresh);
        await s.appendToStream('legacy-1', [{ id: '00000000-0000-4000-8000-000000000001', type: 'Old', data: { n: 1 }, metadata: { commandId: 'c', correlationId: 'c', causationId: 'c', actor: 't', schemaVersion: 1, occurredAt: '2020-01-01T00:00:00Z' } }]);
        await s.appendToStream('legacy-1', [{ id: '00000000-0000-4000-8000-000000000002', type: 'Old', data: { n: 2 }, metadata: { commandId: 'd', correlationId: 'd', causationId: 'd', actor: 't', schemaVersion: 1, occurredAt: '2020-01-01T00:00:00Z' } }]);
        const chained = (await s.readAll()).map((e) => e.hash);
        await fresh.query(`UPDATE hcp_events SET hash = NULL`);
        await fresh.query(`UPDATE hcp_streams SET hash = NULL`);
        expect((await (await opened(fresh)).readAll()).map((e) => e.hash)).toEqual(chained); // opening it migrates
        await migrateEventStore(fresh); // and migrating again finds nothing to chain
        await s.appendToStream('legacy-1', [{ id: '00000000-0000-4000-8000-000000000003', type: 'Old', data: { n: 3 }, metadata: { commandId: 'e', correlationId: 'e', causationId: 'e', actor: 't', schemaVersion: 1, occurredAt: '2020-01-01T00:00:00Z' } }]);
        expect((await verifyStore(await opened(fresh))).ok).toBe(true);
      } finally {
        await fresh.drop();
      }
    });
  });
}
