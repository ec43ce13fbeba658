/**
 * GET /metrics in the Prometheus text format (docs/design.md §4), for staff keys (a scraper sends
 * `Authorization: Bearer <key>`): HTTP requests by route and status, counted here; the state
 * of the platform read from its read models at scrape time (workloads, switches and their
 * latency, handovers, latest prices, projection progress); and the process.
 */
import type { FastifyInstance } from 'fastify';
import type { Authenticator } from './auth.ts';
import { requireRole, STAFF_ROLES } from './auth.ts';
import { switchLatency } from './fleet-queries.ts';
import type { ApiServices } from './resolvers.ts';

type Sample = { labels?: Record<string, string>; value: number };
type Family = { name: string; help: string; type: 'counter' | 'gauge'; samples: Sample[] };

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelsOf = (l: Record<string, string> | undefined) =>
  l && Object.keys(l).length ? `{${Object.entries(l).map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}` : '';

const valueOf = (v: number) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v));

export const formatMetrics = (families: readonly Family[]) =>
  families
    .map((f) => [`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`, ...f.samples.map((s) => `${f.name}${labelsOf(s.labels)} ${valueOf(s.value)}`)].join('\n'))
    .join('\n') + '\n';

export const registerMetrics = (app: FastifyInstance, services: ApiServices, authenticate: Authenticator) => {
  const requests = new Map<string, number>();
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const key = `${request.method} ${route} ${reply.statusCode}`;
    requests.set(key, (requests.get(key) ?? 0) + 1);
  });

  const counted = async (sql: string) => (await services.readModels.query<{ k: string; n: string | number }>(sql)).map((r) => ({ k: r.k, n: Number(r.n) }));

  app.get('/metrics', async (request, reply) => {
    requireRole(await authenticate(request.headers.authorization), ...STAFF_ROLES);
    const db = services.readModels;
    const [workloads, switches, handovers, prices, checkpoints, latency] = await Promise.all([
      counted(`SELECT status AS k, count(*) AS n FROM rm_workloads GROUP BY status`),
      counted(`SELECT status AS k, count(*) AS n FROM rm_switches GROUP BY status`),
      counted(`SELECT status AS k, count(*) AS n FROM rm_handovers GROUP BY status`),
      db.query<{ feed: string; price_micro_usd: string | number }>(`SELECT feed, price_micro_usd FROM rm_prices_latest`),
      db.query<{ projection: string; events_applied: string | number }>(`SELECT projection, events_applied FROM hcp_checkpoints`),
      switchLatency(db, undefined),
    ]);
    const memory = process.memoryUsage();
    // percentiles of all completed switches, computed by the read model: gauges, one per percentile
    const percentiles = (name: string, help: string, p: { p50Ms: number | null; p99Ms?: number | null }): Family[] =>
      (
        [
          ['p50', p.p50Ms],
          ['p99', p.p99Ms ?? null],
        ] as const
      ).map(([which, value]) => ({ name: `${name}_${which}_ms`, help: `${help} (${which})`, type: 'gauge' as const, samples: value === null ? [] : [{ value }] }));
    const families: Family[] = [
      {
        name: 'hcp_http_requests_total',
        help: 'HTTP requests answered, by method, route and status.',
        type: 'counter',
        samples: [...requests].map(([k, value]) => {
          const [method, route, status] = k.split(' ');
          return { labels: { method: method!, route: route!, status: status! }, value };
        }),
      },
      { name: 'hcp_workloads', help: 'Workloads by status.', type: 'gauge', samples: workloads.map((r) => ({ labels: { status: r.k }, value: r.n })) },
      { name: 'hcp_switches', help: 'Resource mode switches by status.', type: 'gauge', samples: switches.map((r) => ({ labels: { status: r.k }, value: r.n })) },
      ...percentiles('hcp_switch_control_path', 'Control path of completed switches (signal to endpoint ready, without the ASIC ramp), ms', latency.controlPath),
      ...percentiles('hcp_switch_physical_ramp', 'Physical ASIC ramp of completed switches, ms', latency.physicalRamp),
      { name: 'hcp_handovers', help: 'Power handovers by status.', type: 'gauge', samples: handovers.map((r) => ({ labels: { status: r.k }, value: r.n })) },
      { name: 'hcp_price_latest', help: 'Latest price per feed, USD (per BTC, per MWh, per GPU-hour).', type: 'gauge', samples: prices.map((p) => ({ labels: { feed: p.feed }, value: Number(p.price_micro_usd) / 1e6 })) },
      { name: 'hcp_events_applied_total', help: 'Events each projection and process manager has applied.', type: 'counter', samples: checkpoints.map((c) => ({ labels: { consumer: c.projection }, value: Number(c.events_applied) })) },
      { name: 'process_resident_memory_bytes', help: 'Resident memory of the process.', type: 'gauge', samples: [{ value: memory.rss }] },
      { name: 'process_heap_used_bytes', help: 'V8 heap in use.', type: 'gauge', samples: [{ value: memory.heapUsed }] },
      { name: 'process_uptime_seconds', help: 'Seconds since the process started.', type: 'gauge', samples: [{ value: Math.round(process.uptime()) }] },
    ];
    return reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8').send(formatMetrics(families));
  });
};
