/** Operators see facilities, resources and switches, switch by hand and watch progress live; customers see none of it. */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerScenario } from '../../commands/fleet.ts';
import { SEED_SCENARIO } from '../../domain/fleet/inventory.ts';
import { pgliteDatabase } from '../support/databases.ts';
import { ADMIN_KEY, onboardCustomer, startTestPlatform, type TestPlatform } from '../support/platform.ts';

describe('fleet and switching through the API', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform(await pgliteDatabase());
    const { position } = await registerScenario(p.core.deps, { commandId: 'scenario', correlationId: 't', actor: 'test' }, SEED_SCENARIO);
    await p.core.progress.waitFor(position, 20_000);
  });
  afterAll(() => p.close());

  it('lists the seed scenario: three sites, ASIC blocks and GPU pools', async () => {
    const r = await p.gql(ADMIN_KEY, `{ facilities { id marketNode powerBudgetKw resources { id kind mode } } }`);
    expect(r.body.errors).toBeUndefined();
    const sites = r.body.data.facilities as Array<{ id: string; resources: Array<{ kind: string }> }>;
    expect(sites.map((f) => f.id)).toEqual(['north-dakota', 'texas-north', 'texas-south']);
    const tn = sites.find((f) => f.id === 'texas-north')!;
    expect(tn.resources.filter((x) => x.kind === 'asic_group')).toHaveLength(15); // 10,000 S21 + 5,000 S19 XP in blocks of 1,000
    expect(tn.resources.filter((x) => x.kind === 'gpu_pool')).toHaveLength(3);
    const h100 = await p.gql(ADMIN_KEY, `{ resources(facilityId: "texas-north", kind: gpu_pool) { id units warmStandbyUnits mode } }`);
    expect(h100.body.data.resources.find((x: { id: string }) => x.id === 'texas-north-h100')).toEqual({ id: 'texas-north-h100', units: 512, warmStandbyUnits: 64, mode: 'warm_standby' });
  });

  it('switches a GPU pool by hand, streams its progress, and reports latency apart from the ramp', async () => {
    const client = createClient({ url: p.wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${ADMIN_KEY}` }, retryAttempts: 0 });
    const updates: any[] = [];
    const done = new Promise<void>((resolve, reject) => {
      client.subscribe(
        { query: `subscription { switchProgress(resourceId: "texas-south-h100") { id status phasesDone phasesTotal controlPathMs } }` },
        {
          next: (v) => {
            updates.push(v.data?.switchProgress);
            if ((v.data?.switchProgress as { status: string })?.status !== 'in_flight') resolve();
          },
          error: reject,
          complete: () => resolve(),
        },
      );
    });
    await new Promise((r) => setTimeout(r, 200));
    const requested = await p.gql(ADMIN_KEY, `mutation { requestSwitch(resourceId: "texas-south-h100", to: serving, reason: "test") { id status phasesTotal } }`);
    expect(requested.body.errors).toBeUndefined();
    expect(requested.body.data.requestSwitch).toMatchObject({ status: 'in_flight', phasesTotal: 5 });
    await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error('no completion')), 15_000))]);
    await client.dispose();
    expect(updates.at(-1)).toMatchObject({ status: 'completed', phasesDone: 5 });
    const latency = await p.gql(ADMIN_KEY, `{ switchLatency { completed controlPath { p50Ms } physicalRamp { p50Ms } } switches(first: 1) { phases { phase durationMs } } }`);
    expect(latency.body.data.switchLatency.completed).toBe(1);
    expect(latency.body.data.switchLatency.controlPath.p50Ms).toBeLessThan(500);
    expect(latency.body.data.switchLatency.physicalRamp.p50Ms).toBeNull();
    expect(latency.body.data.switches[0].phases.map((x: { phase: string }) => x.phase)).toEqual([
      'signal_validated',
      'capacity_checked',
      'power_reassigned',
      'gpu_activated',
      'endpoint_ready',
    ]);
    const again = await p.gql(ADMIN_KEY, `mutation { requestSwitch(resourceId: "texas-south-h100", to: serving) { id } }`);
    expect(again.body.errors?.[0].extensions.code).toBe('INVALID_STATE');
  });

  it('refuses fleet data to customers', async () => {
    const c = await onboardCustomer(p, 'Curious');
    for (const q of [`{ facilities { id } }`, `{ resources { id } }`, `{ switches { id } }`, `{ switchLatency { completed } }`]) {
      const r = await p.gql(c.key, q);
      expect(r.body.errors?.[0].extensions.code, q).toBe('FORBIDDEN');
    }
    const m = await p.gql(c.key, `mutation { requestSwitch(resourceId: "texas-south-h100", to: off) { id } }`);
    expect(m.body.errors?.[0].extensions.code).toBe('FORBIDDEN');
  });

  it('refuses a gang larger than every pool of its type, over REST and GraphQL, naming the field and reserving nothing', async () => {
    const c = await onboardCustomer(p, 'Big Gang', { gpuHours: 1000, budgetUsd: '10000.00' });
    // the largest A100 pool holds 256 (texas-north); 257 is a valid count no pool can run
    const rest = await fetch(`${p.url}/api/v1/workloads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${c.key}` },
      body: JSON.stringify({ type: 'model_training', model: 'llama-3-70b', gpu_type: 'A100', gpu_count: 257, duration_hours: 1 }),
    });
    expect(rest.status).toBe(400);
    const body = (await rest.json()) as { error: { code: string; field: string; message: string } };
    expect(body.error).toMatchObject({ code: 'INVALID_INPUT', field: 'gpu_count' });
    expect(body.error.message).toContain('256');
    const gql = await p.gql(c.key, `mutation { submitWorkload(input: {type: model_training, model: "llama-3-70b", gpuType: A100, gpuCount: 257, durationHours: 1}) { id } }`);
    expect(gql.body.errors?.[0].extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'input.gpuCount' });
    // one pool's worth is fine
    const fits = await p.gql(c.key, `mutation { submitWorkload(input: {type: model_training, model: "llama-3-70b", gpuType: A100, gpuCount: 256, durationHours: 1}) { id } }`);
    expect(fits.body.errors).toBeUndefined();
    const mine = await p.gql(c.key, `{ workloads { nodes { id } } }`);
    expect(mine.body.data.workloads.nodes.map((w: { id: string }) => w.id)).toEqual([fits.body.data.submitWorkload.id]);
    expect((await p.store.readStream(`customer-${c.customerId}`)).filter((e) => e.type === 'QuotaReserved')).toHaveLength(1);
  });
});
