/**
 * `asOf` on the analysts' queries: facility KPIs and a customer's usage read from read models
 * built as of a position or a moment, which keep answering what the platform was then while the
 * live ones move on; staff only, and a version that is missing, or lacks a read model, is
 * refused by name instead of answered from the live tables.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerScenario } from '../../commands/fleet.ts';
import { PROJECTIONS } from '../../cli/platform.ts';
import { SEED_SCENARIO } from '../../domain/fleet/inventory.ts';
import { encodePosition } from '../../infra/event-store/position.ts';
import { rebuildAsOf } from '../../projections/versions.ts';
import { postgresBackends } from '../support/databases.ts';
import { ADMIN_KEY, onboardCustomer, startTestPlatform, type TestPlatform } from '../support/platform.ts';

const KPIS = `query($asOf: String) { facilityKpis(asOf: $asOf) {
  facilityId at asicUnits asicUnitsMining gpuUtilization { gpuType gpus available busy warm } tiers { priority waiting runs }
} }`;
const USAGE = `query($c: ID, $asOf: String) { usage(customerId: $c, month: "202612", asOf: $asOf) { customerId month lines gpuSeconds total { microUsd } } }`;

const withoutTime = (kpis: Array<{ at: string }>) => kpis.map(({ at: _, ...rest }) => rest);

for (const backend of postgresBackends()) {
  describe(`asOf on KPIs and usage (${backend.label})`, () => {
    let p: TestPlatform;
    let analyst: string;
    beforeAll(async () => {
      p = await startTestPlatform(await backend.open(), { rateLimitPerMinute: 0 });
      const { position } = await registerScenario(p.core.deps, { commandId: 'scenario', correlationId: 't', actor: 'test' }, SEED_SCENARIO);
      await p.core.progress.waitFor(position, 20_000);
      analyst = (await p.gql(ADMIN_KEY, `mutation { issueApiKey(role: analyst) { key } }`)).body.data.issueApiKey.key;
    });
    afterAll(() => p.close());

    it('answers as the platform stood at a position and at a moment while the live models move on', async () => {
      const customer = await onboardCustomer(p, 'Then Co', { gpuHours: 1000, budgetUsd: '100000.00' });
      const head = await p.store.headPosition();
      await p.core.progress.waitFor(head, 10_000);
      const then = await p.gql(analyst, KPIS);
      expect(then.body.errors).toBeUndefined();
      expect(then.body.data.facilityKpis.length).toBeGreaterThan(0);
      const usageThen = await p.gql(analyst, USAGE, { c: customer.customerId });
      const atPosition = await rebuildAsOf(p.db, p.store, PROJECTIONS, { kind: 'position', position: head });
      const moment = (await p.store.readAll()).at(-1)!.metadata.occurredAt;

      // the live models move on: workloads wait for GPUs
      for (let i = 0; i < 5; i++) {
        const res = await p.gql(customer.key, `mutation { submitWorkload(input: { type: model_training, model: "llama-3-8b", gpuType: A100, gpuCount: 8, durationHours: 2 }) { id } }`);
        expect(res.body.errors).toBeUndefined();
      }
      await p.core.progress.waitFor(await p.store.headPosition(), 10_000);
      const now = await p.gql(analyst, KPIS);
      expect(withoutTime(now.body.data.facilityKpis)).not.toEqual(withoutTime(then.body.data.facilityKpis));

      for (const asOf of [encodePosition(head), atPosition.name]) {
        const past = await p.gql(analyst, KPIS, { asOf });
        expect(past.body.errors, asOf).toBeUndefined();
        expect(withoutTime(past.body.data.facilityKpis)).toEqual(withoutTime(then.body.data.facilityKpis));
        // the time the KPIs were computed at is when the last event of the version occurred
        expect(past.body.data.facilityKpis[0].at).toBe(new Date(moment).toISOString());
        expect((await p.gql(analyst, USAGE, { c: customer.customerId, asOf })).body.data).toEqual(usageThen.body.data);
      }
      // as of a moment: built by the moment, found again by the same moment
      const byMoment = await rebuildAsOf(p.db, p.store, PROJECTIONS, { kind: 'time', ms: Date.parse(moment) });
      expect(byMoment.eventsApplied).toBeGreaterThan(0);
      const past = await p.gql(analyst, KPIS, { asOf: moment });
      expect(past.body.errors).toBeUndefined();
      expect(past.body.data.facilityKpis[0].at).toBe(new Date(moment).toISOString());
    });

    it('refuses customers, and names a version that is missing, bad or incomplete', async () => {
      const customer = await onboardCustomer(p, 'Nosy Co');
      const asCustomer = await p.gql(customer.key, USAGE, { asOf: '2023-01-01T00:00:00Z' });
      expect(asCustomer.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const refused = async (asOf: string) => {
        const res = await p.gql(analyst, KPIS, { asOf });
        expect(res.body.errors?.[0]?.extensions?.field, asOf).toBe('asOf');
        return res.body.errors![0].message as string;
      };
      expect(await refused('2001-02-03T04:05:06Z')).toContain('hcp projections rebuild all --as-of 2001-02-03T04:05:06Z');
      expect(await refused('yesterday')).toMatch(/asOf: /);
      expect(await refused('hcp_asof_no_such')).toContain('no read models as of hcp_asof_no_such');
      await rebuildAsOf(p.db, p.store, PROJECTIONS.filter((x) => x.name === 'customers'), { kind: 'position', position: await p.store.headPosition() }, { name: 'hcp_asof_customers_only' });
      expect(await refused('hcp_asof_customers_only')).toContain('holds only customers');
    });
  });
}
