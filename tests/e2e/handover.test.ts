/**
 * A power handover through the API, on PGlite and (with TEST_DATABASE_URL) the PostgreSQL
 * server: an admin moves a Texas North ASIC block's power to its A100 pool as one switch and
 * a graphql-ws client follows every phase; bad input names its field; customers see nothing.
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerScenario } from '../../commands/fleet.ts';
import { SEED_SCENARIO } from '../../domain/fleet/inventory.ts';
import { HANDOVER_PHASES, handoverStream } from '../../domain/resource/handover.ts';
import { postgresBackends } from '../support/databases.ts';
import { ADMIN_KEY, onboardCustomer, startTestPlatform, type TestPlatform } from '../support/platform.ts';

const FIELDS = `id status direction plannedPhases phasesDone controlPathMs physicalMs drawBeforeKw drawAfterKw powerBudgetKw phases { phase durationMs }`;

for (const backend of postgresBackends()) {
  describe(`power handover through the API on ${backend.label}`, () => {
    let p: TestPlatform;
    beforeAll(async () => {
      p = await startTestPlatform(await backend.open());
      const { position } = await registerScenario(p.core.deps, { commandId: 'scenario', correlationId: 't', actor: 'test' }, SEED_SCENARIO);
      await p.core.progress.waitFor(position, 20_000);
    });
    afterAll(() => p.close());

    it('moves power mining → AI as one switch, streamed phase by phase', async () => {
      const client = createClient({ url: p.wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${ADMIN_KEY}` }, retryAttempts: 0 });
      const updates: Array<{ status: string; phasesDone: number }> = [];
      const done = new Promise<void>((resolve, reject) => {
        client.subscribe(
          { query: `subscription { handoverProgress(facilityId: "texas-north") { ${FIELDS} } }` },
          {
            next: (v) => {
              const h = v.data?.handoverProgress as { status: string; phasesDone: number };
              updates.push(h);
              if (h.status !== 'in_flight') resolve();
            },
            error: reject,
            complete: () => resolve(),
          },
        );
      });
      await new Promise((r) => setTimeout(r, 200));
      const requested = await p.gql(
        ADMIN_KEY,
        `mutation { requestHandover(facilityId: "texas-north", direction: to_ai, asicResourceId: "texas-north-s19xp-01", gpuResourceId: "texas-north-a100", reason: "AI pays more") { ${FIELDS} } }`,
      );
      expect(requested.body.errors).toBeUndefined();
      const h = requested.body.data.requestHandover;
      expect(h.plannedPhases).toEqual(HANDOVER_PHASES.to_ai);
      expect(h.drawAfterKw).toBeLessThan(h.drawBeforeKw); // 1,000 S19 XP (3 MW) give way to the A100s
      await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error('no completion')), 20_000))]);
      await client.dispose();
      expect(updates.at(-1)).toMatchObject({ status: 'completed', phasesDone: 6 });
      // phases arrive in order (coalescing may skip some, never reorder)
      const seen = updates.map((u) => u.phasesDone);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      // read models catch up independently: the resources' one may be a batch behind the handovers'
      // (the resources' last switch events come before the handover's last event in the store)
      const [last] = await p.core.deps.store.readStream(handoverStream(h.id), { direction: 'backwards', maxCount: 1 });
      expect(last?.type).toBe('HandoverCompleted');
      expect(await p.core.progress.waitFor(last!.position, 10_000)).toBe(true);
      const after = await p.gql(
        ADMIN_KEY,
        `{ handover(id: "${h.id}") { ${FIELDS} } resources(facilityId: "texas-north") { id mode switchInFlight } }`,
      );
      const final = after.body.data.handover;
      expect(final.phases.map((x: { phase: string }) => x.phase)).toEqual(HANDOVER_PHASES.to_ai);
      expect(final.physicalMs).toBeGreaterThanOrEqual(2_000);
      expect(final.controlPathMs).toBeLessThan(1_000);
      const modes = Object.fromEntries(after.body.data.resources.map((r: { id: string; mode: string }) => [r.id, r.mode]));
      expect(modes['texas-north-s19xp-01']).toBe('sleeping');
      expect(modes['texas-north-a100']).toBe('serving');
      const list = await p.gql(ADMIN_KEY, `{ handovers(facilityId: "texas-north", status: completed) { id } }`);
      expect(list.body.data.handovers.map((x: { id: string }) => x.id)).toEqual([h.id]);
    });

    it('names the field at fault and refuses customers', async () => {
      const bad = await p.gql(
        ADMIN_KEY,
        `mutation { requestHandover(facilityId: "texas-north", direction: to_ai, asicResourceId: "texas-north-a100", gpuResourceId: "texas-north-h100") { id } }`,
      );
      expect(bad.body.errors?.[0].extensions).toMatchObject({ code: 'INVALID_STATE', field: 'asicResourceId' });
      const missing = await p.gql(ADMIN_KEY, `mutation { requestHandover(facilityId: "nowhere", direction: to_ai, asicResourceId: "x", gpuResourceId: "y") { id } }`);
      expect(missing.body.errors?.[0].extensions).toMatchObject({ field: 'facilityId' });
      const c = await onboardCustomer(p, 'Curious');
      for (const q of [`{ handovers { id } }`, `{ handover(id: "x") { id } }`]) expect((await p.gql(c.key, q)).body.errors?.[0].extensions.code, q).toBe('FORBIDDEN');
      const m = await p.gql(c.key, `mutation { requestHandover(facilityId: "texas-north", direction: to_ai, asicResourceId: "texas-north-s21-01", gpuResourceId: "texas-north-h100") { id } }`);
      expect(m.body.errors?.[0].extensions.code).toBe('FORBIDDEN');
    });
  });
}
