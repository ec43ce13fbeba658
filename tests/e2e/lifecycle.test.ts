/**
 * End to end over GraphQL and graphql-ws, on the platform's clock: a customer submits a P1
 * workload, watches it go to running and completed on a subscription, sees its usage, billing
 * line and, once the month has closed, its invoice; another customer sees none of it. On PGlite
 * and, in CI, the real PostgreSQL server.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerScenario } from '../../commands/fleet.ts';
import { SEED_SCENARIO } from '../../domain/fleet/inventory.ts';
import { manualClock } from '../../infra/clock.ts';
import { postgresBackends } from '../support/databases.ts';
import { ADMIN_KEY, onboardCustomer, startTestPlatform, type TestPlatform } from '../support/platform.ts';

const until = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

for (const backend of postgresBackends()) {
  describe(`a workload from submission to invoice (${backend.label})`, () => {
    let p: TestPlatform;
    const clock = manualClock(new Date('2024-01-31T20:00:00Z'));
    const clients: Client[] = [];
    beforeAll(async () => {
      p = await startTestPlatform(await backend.open(), { clock });
      await registerScenario(p.core.deps, { commandId: 'scenario', correlationId: 't', actor: 'test' }, SEED_SCENARIO);
      // the warm pool loads its models (a cold load of a 70B model takes 84 s)
      clock.advance(120_000);
      await until('warm H100s with llama-3-70b', async () => {
        const gpus = await p.gql(ADMIN_KEY, `{ gpus(resourceId: "texas-north-h100", mode: warm_standby, first: 500) { model } }`);
        return gpus.body.data?.gpus.some((g: { model: string }) => g.model === 'llama-3-70b') ? true : undefined;
      });
    });
    afterAll(async () => {
      for (const c of clients) await c.dispose();
      await p.close();
    });

    it('runs, completes, is billed once, and is invoiced when the month closes; another customer sees nothing of it', async () => {
      const a = await onboardCustomer(p, 'Customer A');
      const b = await onboardCustomer(p, 'Customer B');
      const ws = (key: string) => {
        const c = createClient({ url: p.wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` }, retryAttempts: 0 });
        clients.push(c);
        return c;
      };
      const seenByA: Array<{ id: string; status: string }> = [];
      const seenByB: unknown[] = [];
      ws(a.key).subscribe({ query: `subscription { workloadUpdated { id status } }` }, { next: (v) => void seenByA.push((v.data as any).workloadUpdated), error: () => {}, complete: () => {} });
      ws(b.key).subscribe({ query: `subscription { workloadUpdated { id status } }` }, { next: (v) => void seenByB.push(v), error: () => {}, complete: () => {} });
      await new Promise((r) => setTimeout(r, 300));

      const submitted = await p.gql(a.key, `mutation($i: SubmitWorkloadInput!) { submitWorkload(input: $i) { id priority reserved { budgetUsd } } }`, {
        i: { type: 'ai_inference_realtime', model: 'llama-3-70b', gpuType: 'H100', maxLatencyMs: 50, durationHours: 1 },
      });
      expect(submitted.body.errors).toBeUndefined();
      const id = submitted.body.data.submitWorkload.id as string;
      expect(submitted.body.data.submitWorkload).toMatchObject({ priority: 'P1', reserved: { budgetUsd: '3.50' } });

      // P1 onto a warm GPU, at once
      await until('running', async () => (seenByA.some((s) => s.id === id && s.status === 'running') ? true : undefined));
      const running = await p.gql(a.key, `query($id: ID!) { workload(id: $id) { status allocation { gpuIds warm waitedMs facilityId reason } runs { run } } }`, { id });
      expect(running.body.data.workload).toMatchObject({ status: 'running', allocation: { warm: true, waitedMs: 0, facilityId: 'texas-north' }, runs: [{ run: 1 }] });
      expect(running.body.data.workload.allocation.gpuIds).toHaveLength(1);
      expect(running.body.data.workload.allocation.gpuIds[0]).toMatch(/^texas-north-h100-h\d{3}-g\d$/);

      // an hour later on the platform's clock (and the 15 ms of a warm start) it completes
      clock.advance(3_601_000);
      await until('completed', async () => (seenByA.some((s) => s.id === id && s.status === 'completed') ? true : undefined));
      const done = await p.gql(a.key, `query($id: ID!) { workload(id: $id) { status usage { ranSeconds billed { usd } costSoFar { usd } } sla { met p99Ms latencyTargetMs } } }`, { id });
      expect(done.body.data.workload).toMatchObject({ status: 'completed', usage: { ranSeconds: 3600, billed: { usd: '3.50' }, costSoFar: { usd: '3.50' } }, sla: { latencyTargetMs: 50 } });

      // metering follows the completion: the line, then the reservation turned into consumption
      const lines = await until('the billing line', async () => {
        const r = await p.gql(a.key, `{ billingLines(month: "202401") { nodes { workloadId run billedSeconds amount { usd } ratePerGpuHour { usd } endedBy } } }`);
        return r.body.data?.billingLines.nodes.length ? r : undefined;
      });
      expect(lines.body.data.billingLines.nodes).toEqual([{ workloadId: id, run: 1, billedSeconds: 3600, amount: { usd: '3.50' }, ratePerGpuHour: { usd: '3.50' }, endedBy: 'completion' }]);
      const balance = await until('the consumption', async () => {
        const r = await p.gql(a.key, `{ balance { reserved { budgetUsd } consumed { budgetUsd gpuHours } } }`);
        return r.body.data?.balance.consumed.gpuHours > 0 ? r : undefined;
      });
      expect(balance.body.data.balance).toEqual({ reserved: { budgetUsd: '0.00' }, consumed: { budgetUsd: '3.50', gpuHours: 1 } });

      // the month has not closed: its invoice is refused, naming the month
      const early = await p.gql(a.key, `{ invoices(month: "202401") { total { usd } } }`);
      expect(early.body.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'month' } });
      clock.advance(5 * 3_600_000); // past 2024-02-01T01:00Z, an hour after the month ends
      const invoice = await until('the invoice', async () => {
        const r = await p.gql(a.key, `{ invoices(month: "202401") { invoiceId lines subtotal { usd } credits { usd } total { usd } } }`);
        return r.body.data?.invoices?.length ? r.body.data.invoices[0] : undefined;
      });
      expect(invoice).toMatchObject({ lines: 1, subtotal: { usd: '3.50' }, total: { usd: expect.any(String) } });

      // B: nothing of A's, by query, subscription, REST or billing
      expect((await p.gql(b.key, `query($id: ID!) { workload(id: $id) { id } }`, { id })).body).toEqual({ data: { workload: null } });
      expect((await p.gql(b.key, `query($c: ID) { billingLines(month: "202401", customerId: $c) { nodes { lineId } } }`, { c: a.customerId })).body.errors?.[0].extensions.code).toBe('FORBIDDEN');
      expect((await p.gql(b.key, `{ billingLines(month: "202401") { nodes { lineId } } }`)).body.data.billingLines.nodes).toEqual([]);
      const rest = await fetch(`${p.url}/api/v1/workloads/${id}`, { headers: { authorization: `Bearer ${b.key}` } });
      expect(rest.status).toBe(404);
      expect(seenByB).toEqual([]);
      // A reads it over REST in the seed's shape
      const own = await fetch(`${p.url}/api/v1/workloads/${id}`, { headers: { authorization: `Bearer ${a.key}` } });
      // where and when it ran stay after it ends; the GPUs it holds are none
      expect(await own.json()).toMatchObject({ workload_id: id, status: 'completed', priority: 'P1', cost_usd: '3.50', gpu_type: 'H100', ran_seconds: 3600, allocated_gpus: [], facility: 'texas-north', started_at: expect.stringMatching(/^2024-01-31T20:0/) });
    });
  });
}
