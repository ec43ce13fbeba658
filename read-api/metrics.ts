/**
 * GET /metrics in the Prometheus text format (docs/design.md §4), for staff keys (a scraper sends
 * `Authorization: Bearer <key>`): the process's registry (infra/metrics.ts: HTTP, append and
 * projection latency histograms, Node.js process metrics) and the state of the platform, read from
 * its read models at scrape time (workloads, switches and their latency, handovers, latest prices,
 * projection progress), which every API instance answers alike.
 */
import type { FastifyInstance } from 'fastify';
import { Gauge, Registry } from 'prom-client';
import { httpDuration, httpRequests, processMetrics } from '../infra/metrics.ts';
import type { Authenticator } from './auth.ts';
import { requireRole, STAFF_ROLES } from './auth.ts';
import { switchLatency } from './fleet-api.ts';
import type { ApiServices } from './resolvers.ts';

type Row = { k: string; n: string | number };

export const registerMetrics = (app: FastifyInstance, services: ApiServices, authenticate: Authenticator) => {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  // the platform's state: gauges set from the read models at each scrape
  const platform = new Registry();
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Gauge<L>({ name, help, labelNames, registers: [platform] });
  const workloads = gauge('hcp_workloads', 'Workloads by status.', ['status']);
  const switches = gauge('hcp_switches', 'Resource mode switches by status.', ['status']);
  const handovers = gauge('hcp_handovers', 'Power handovers by status.', ['status']);
  const controlPath = gauge('hcp_switch_control_path_ms', 'Control path of completed switches (signal to endpoint ready, without the ASIC ramp), ms, by percentile.', ['quantile']);
  const ramp = gauge('hcp_switch_physical_ramp_ms', 'Physical ASIC ramp of completed switches, ms, by percentile.', ['quantile']);
  const prices = gauge('hcp_price_latest', 'Latest price per feed, USD (per BTC, per MWh, per GPU-hour).', ['feed']);
  const applied = gauge('hcp_events_applied', 'Events each projection and process manager has applied (from its checkpoint).', ['consumer']);

  const byStatus = (g: Gauge<'status'>, rows: readonly Row[]) => {
    g.reset();
    for (const r of rows) g.set({ status: r.k }, Number(r.n));
  };

  app.get('/metrics', async (request, reply) => {
    requireRole(await authenticate(request.headers.authorization), ...STAFF_ROLES);
    const db = services.readModels;
    const [w, s, h, p, checkpoints, latency] = await Promise.all([
      db.query<Row>(`SELECT status AS k, count(*) AS n FROM rm_workloads GROUP BY status`),
      db.query<Row>(`SELECT status AS k, count(*) AS n FROM rm_switches GROUP BY status`),
      db.query<Row>(`SELECT status AS k, count(*) AS n FROM rm_handovers GROUP BY status`),
      db.query<{ feed: string; price_micro_usd: string | number }>(`SELECT feed, price_micro_usd FROM rm_prices_latest`),
      db.query<{ projection: string; events_applied: string | number }>(`SELECT projection, events_applied FROM hcp_checkpoints`),
      switchLatency(db, undefined),
    ]);
    byStatus(workloads, w);
    byStatus(switches, s);
    byStatus(handovers, h);
    for (const [g, of] of [
      [controlPath, latency.controlPath],
      [ramp, latency.physicalRamp],
    ] as const) {
      g.reset();
      if (of.p50Ms !== null) g.set({ quantile: '0.5' }, of.p50Ms);
      if (of.p99Ms != null) g.set({ quantile: '0.99' }, of.p99Ms);
    }
    prices.reset();
    for (const row of p) prices.set({ feed: row.feed }, Number(row.price_micro_usd) / 1e6);
    applied.reset();
    for (const c of checkpoints) applied.set({ consumer: c.projection }, Number(c.events_applied));
    const text = `${await processMetrics.metrics()}\n${await platform.metrics()}`;
    return reply.header('content-type', processMetrics.contentType).send(text);
  });
};
