/**
 * Facility KPIs for staff, as a query and a live subscription: GPU utilization by type, the
 * ASIC share mining, revenue per hour by mode, and per tier the queue's depth, the waits of the
 * last 24 hours (p50, p99) against the tier's target and the share of its runs that met every
 * SLA. Computed from the read models at the platform's time; the subscription recomputes a
 * facility's KPIs at most once a second, shared by every subscriber.
 */
import type { Recommendation } from '../domain/economics/controller.ts';
import { QUEUE_WAIT_TARGET_MS } from '../domain/billing/sla.ts';
import { formatUsd } from '../domain/money.ts';
import { DAY_MS, iso } from '../domain/time.ts';
import type { Sql } from '../infra/postgres/database.ts';
import type { Change } from '../projections/projection.ts';
import { requireRole, STAFF_ROLES } from './auth.ts';
import { optionalId } from './inputs.ts';
import { AS_OF_DOC, asOfView } from './as-of.ts';
import { liveFeed } from './live.ts';
import type { ApiContext, ApiServices } from './resolvers.ts';

export const kpisTypeDefs = /* GraphQL */ `
  type GpuTypeUtilization {
    gpuType: GpuType!
    gpus: Int!
    "In service and not failed."
    available: Int!
    "Failed, as telemetry found them (in service or not)."
    failed: Int!
    "Taken out of service by an operator."
    outOfService: Int!
    busy: Int!
    "Idle with a model loaded (warm standby)."
    warm: Int!
    "Busy over available."
    utilization: Float!
  }
  type RevenueByMode { ai: Money!, mining: Money! }
  type TierKpis {
    priority: Priority!
    "Waiting now, for the GPU types the facility has."
    waiting: Int!
    "Runs placed at the facility in the last 24 hours."
    runs: Int!
    waitP50Ms: Float
    waitP99Ms: Float
    waitTargetMs: Float!
    "Share of those runs with no SLA breach."
    slaCompliance: Float
  }
  type FacilityKpis {
    facilityId: ID!
    "Platform time they were computed at."
    at: String!
    gpuUtilization: [GpuTypeUtilization!]!
    asicUnits: Int!
    asicUnitsMining: Int!
    asicShareMining: Float!
    "Per hour now: AI from the runs under way at their rates, mining from the controller's latest decision."
    revenuePerHour: RevenueByMode!
    tiers: [TierKpis!]!
  }

  extend type Query {
    facilityKpis(facilityId: ID, ${AS_OF_DOC} asOf: String): [FacilityKpis!]!
  }
  extend type Subscription {
    "A facility's KPIs as they change (at most once a second), or every facility's."
    kpisUpdated(facilityId: ID): FacilityKpis!
  }
`;

const money = (micro: number) => ({ microUsd: Math.round(micro), usd: formatUsd(Math.round(micro)) });

/** Mining revenue per hour in a recommendation: each mining block's profit plus its power cost. */
const miningRevenueMicroUsd = (r: Recommendation | undefined) => {
  if (!r) return 0;
  const price = r.inputs.observation.electricityUsdPerMwh;
  return r.options.filter((o) => o.blockId.startsWith('asic:') && o.active).reduce((sum, o) => sum + o.activeProfitMicroUsdPerHour + (o.kwActive / 1000) * price * 1_000_000, 0);
};

/** What facilityKpis reads: an as-of version must hold them all. */
const KPI_TABLES = ['rm_facilities', 'rm_gpus', 'rm_resources', 'rm_workloads', 'rm_recommendations', 'rm_workload_runs', 'rm_sla_breaches'];

export const facilityKpis = async (db: Sql, facilityId: string, nowMs: number) => {
  const since = iso(nowMs - DAY_MS);
  const [gpus, [asic], [ai], [rec], waiting, runs] = await Promise.all([
    db.query<{ gpu_type: string; gpus: number; available: number; failed: number; out_of_service: number; busy: number; warm: number }>(
      `SELECT gpu_type, count(*)::int AS gpus, count(*) FILTER (WHERE in_service AND health <> 'failed')::int AS available,
              count(*) FILTER (WHERE health = 'failed')::int AS failed, count(*) FILTER (WHERE NOT in_service)::int AS out_of_service,
              count(*) FILTER (WHERE workload_id IS NOT NULL)::int AS busy, count(*) FILTER (WHERE workload_id IS NULL AND model IS NOT NULL AND NOT warming)::int AS warm
         FROM rm_gpus WHERE facility_id = $1 GROUP BY gpu_type ORDER BY gpu_type`,
      [facilityId],
    ),
    db.query<{ units: string | null; mining: string | null }>(
      `SELECT sum(units)::text AS units, (sum(units) FILTER (WHERE mode = 'mining'))::text AS mining FROM rm_resources WHERE facility_id = $1 AND kind = 'asic_group'`,
      [facilityId],
    ),
    db.query<{ micro: string | null }>(
      `SELECT sum(rate_micro_usd_per_gpu_hour * gpu_count)::text AS micro FROM rm_workloads WHERE status = 'running' AND facility_id = $1`,
      [facilityId],
    ),
    db.query<{ recommendation: Recommendation }>(`SELECT recommendation FROM rm_recommendations WHERE facility_id = $1 ORDER BY interval_start DESC LIMIT 1`, [facilityId]),
    db.query<{ priority: string; n: number }>(
      `SELECT coalesce(priority, 'P3') AS priority, count(*)::int AS n FROM rm_workloads
        WHERE status IN ('queued', 'preempted') AND gpu_type IN (SELECT DISTINCT gpu_type FROM rm_gpus WHERE facility_id = $1) GROUP BY 1`,
      [facilityId],
    ),
    db.query<{ priority: string; runs: number; p50: number | null; p99: number | null; clean: number }>(
      `SELECT r.priority, count(*)::int AS runs,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY r.waited_ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY r.waited_ms) AS p99,
              count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM rm_sla_breaches b WHERE b.workload_id = r.workload_id AND b.run = r.run))::int AS clean
         FROM rm_workload_runs r WHERE r.facility_id = $1 AND r.allocated_at >= $2 GROUP BY r.priority`,
      [facilityId, since],
    ),
  ]);
  const units = Number(asic?.units ?? 0);
  const mining = Number(asic?.mining ?? 0);
  return {
    facilityId,
    at: iso(nowMs),
    gpuUtilization: gpus.map((g) => ({ gpuType: g.gpu_type, gpus: g.gpus, available: g.available, failed: g.failed, outOfService: g.out_of_service, busy: g.busy, warm: g.warm, utilization: g.available > 0 ? g.busy / g.available : 0 })),
    asicUnits: units,
    asicUnitsMining: mining,
    asicShareMining: units > 0 ? mining / units : 0,
    revenuePerHour: { ai: money(Number(ai?.micro ?? 0)), mining: money(miningRevenueMicroUsd(rec?.recommendation)) },
    tiers: (['P1', 'P2', 'P3'] as const).map((priority) => {
      const r = runs.find((x) => x.priority === priority);
      return {
        priority,
        waiting: waiting.find((w) => w.priority === priority)?.n ?? 0,
        runs: r?.runs ?? 0,
        waitP50Ms: r?.p50 ?? null,
        waitP99Ms: r?.p99 ?? null,
        waitTargetMs: QUEUE_WAIT_TARGET_MS[priority],
        slaCompliance: r && r.runs > 0 ? r.clean / r.runs : null,
      };
    }),
  };
};

const facilityIds = async (db: Sql) => (await db.query<{ facility_id: string }>(`SELECT facility_id FROM rm_facilities ORDER BY facility_id`)).map((f) => f.facility_id);

/** Changes that move a facility's KPIs: `*` for those that may touch any facility. */
const kpiKey = (c: Change): string | undefined =>
  c.topic === 'recommendation' || c.topic === 'switch' || c.topic === 'handover' ? c.facilityId : c.topic === 'workload' || c.topic === 'gpus' ? '*' : undefined;

/** A facility's KPIs, recomputed at most once per `minIntervalMs`, shared by every subscriber. */
const throttledKpis = (db: Sql, now: () => number, minIntervalMs = 1000) => {
  const cache = new Map<string, { atMs: number; value: Promise<Awaited<ReturnType<typeof facilityKpis>>> }>();
  return (facilityId: string) => {
    const hit = cache.get(facilityId);
    const t = Date.now();
    if (hit && t - hit.atMs < minIntervalMs) return hit.value;
    const value = facilityKpis(db, facilityId, now());
    cache.set(facilityId, { atMs: t, value });
    value.catch(() => cache.delete(facilityId));
    return value;
  };
};

export const createKpiResolvers = (services: ApiServices) => {
  const { readModels: db, feed } = services;
  const now = () => services.deps.clock.now().getTime();
  const delivered = throttledKpis(db, now);
  return {
    Query: {
      facilityKpis: async (_: unknown, args: { facilityId?: string | null; asOf?: string | null }, ctx: ApiContext) => {
        requireRole(ctx.principal, ...STAFF_ROLES);
        const only = optionalId(args.facilityId, 'facilityId');
        const view = await asOfView(services, ctx.principal, args.asOf, KPI_TABLES);
        const from = view?.readModels ?? db;
        const ids = only ? [only] : await facilityIds(from);
        return Promise.all(ids.map((id) => facilityKpis(from, id, view?.atMs ?? now())));
      },
    },
    Subscription: {
      kpisUpdated: {
        subscribe: async (_: unknown, args: { facilityId?: string | null }, ctx: ApiContext) => {
          requireRole(ctx.principal, ...STAFF_ROLES);
          const only = optionalId(args.facilityId, 'facilityId');
          const all = only ? [only] : await facilityIds(db);
          return liveFeed({
            feed,
            // a change to the fleet's work counts for every facility the subscriber follows
            select: (c) => {
              const key = kpiKey(c);
              return key === undefined ? undefined : key === '*' ? all : all.includes(key) ? key : undefined;
            },
            load: delivered,
          });
        },
        resolve: (payload: unknown) => payload,
      },
    },
  };
};
