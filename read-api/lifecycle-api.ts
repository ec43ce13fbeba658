/**
 * A workload's life as its customer follows it: where it runs (its own GPUs only), each run
 * with its wait and cost, usage and cost so far, its SLA state; and the queue (a customer sees
 * its own places and estimated waits, staff all). Also the seed's REST read of one workload.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { QUEUE_WAIT_TARGET_MS, type SlaKind } from '../domain/billing/sla.ts';
import { tierOf } from '../domain/billing/price-list.ts';
import { formatUsd } from '../domain/money.ts';
import { queueOrder } from '../domain/scheduling/queue.ts';
import { HOUR_MS, iso, isoOrNull } from '../domain/time.ts';
import type { Sql } from '../infra/postgres/database.ts';
import type { Authenticator } from './auth.ts';
import { requireRole, scopeCustomer, type Principal } from './auth.ts';
import { idSchema, parseInput } from './inputs.ts';
import { CommandRejectedError } from '../commands/errors.ts';
import { findWorkload, type WorkloadView } from './queries.ts';
import type { ApiContext, ApiServices } from './resolvers.ts';

export const lifecycleTypeDefs = /* GraphQL */ `
  "An amount of money: integer micro-USD, and decimal USD."
  type Money { microUsd: SafeInt!, usd: String! }

  "One run of a workload: where it ran, how long it waited and ran, what it cost."
  type Run {
    run: Int!
    facilityId: ID!
    resourceId: ID!
    "The GPUs it was given."
    gpuIds: [ID!]!
    "Why these GPUs: the placement's score and reason."
    score: Float!
    reason: String!
    "Started from GPUs already warm with its model (milliseconds), not a cold model load."
    warm: Boolean!
    waitedMs: Float!
    allocatedAt: String!
    startedAt: String
    endedAt: String
    "completed, preempted (moved off its GPUs, requeued), failed or cancelled; null while it runs."
    endedAs: String
    ranSeconds: Int
    billedSeconds: Int
    ratePerGpuHour: Money!
    cost: Money
  }

  type WorkloadUsage {
    "Seconds run, over all runs (the one running included)."
    ranSeconds: Int!
    "Billed GPU-seconds and their cost, over runs that ended."
    billedGpuSeconds: SafeInt!
    billed: Money!
    "Billed, plus what the run now under way has cost so far."
    costSoFar: Money!
  }

  type SlaBreach { run: Int!, kind: String!, measured: Float!, target: Float!, unit: String!, creditPercent: Int!, at: String! }
  type SlaState {
    "The tier's longest wait in the queue, ms."
    queueWaitTargetMs: Float
    "P1: the p99 latency target, ms."
    latencyTargetMs: Int
    "Measured when the last run completed (inference)."
    p50Ms: Float
    p99Ms: Float
    availability: Float
    requestsServed: Float
    breaches: [SlaBreach!]!
    met: Boolean!
  }

  extend type Workload {
    "Where it runs now (its own GPUs), or null when it is not on GPUs."
    allocation: Run
    runs: [Run!]!
    usage: WorkloadUsage!
    sla: SlaState!
  }

  type QueueEntry {
    workload: Workload!
    "1 is served next (the scheduler's aged order, all customers)."
    position: Int!
    priority: Priority!
    waitedSeconds: Float!
    "The recent median wait of its tier and GPU type (an estimate)."
    estimatedWaitSeconds: Float
  }
  type TierDepth { priority: Priority!, waiting: Int! }
  type Queue { entries: [QueueEntry!]!, depth: [TierDepth!]!, total: Int! }

  extend type Query {
    "Waiting workloads in the order they will be served: a customer's own, or staff all (or one customer's)."
    queue(first: Int = 50, customerId: ID): Queue!
  }
`;

const money = (microUsd: number) => ({ microUsd, usd: formatUsd(microUsd) });

type RunRow = {
  run: number;
  facility_id: string;
  resource_id: string;
  gpu_ids: string[];
  score: number;
  reason: string;
  warm: boolean;
  waited_ms: string;
  allocated_at: string | Date;
  started_at: string | Date | null;
  ended_at: string | Date | null;
  end_kind: string | null;
  ran_seconds: string | null;
  billed_seconds: string | null;
  amount_micro_usd: string | null;
  rate_micro_usd_per_gpu_hour: string;
};

const toRun = (r: RunRow) => ({
  run: r.run,
  facilityId: r.facility_id,
  resourceId: r.resource_id,
  gpuIds: r.gpu_ids,
  score: r.score,
  reason: r.reason,
  warm: r.warm,
  waitedMs: Number(r.waited_ms),
  allocatedAt: iso(r.allocated_at),
  startedAt: isoOrNull(r.started_at),
  endedAt: isoOrNull(r.ended_at),
  endedAs: r.end_kind,
  ranSeconds: r.ran_seconds === null ? null : Number(r.ran_seconds),
  billedSeconds: r.billed_seconds === null ? null : Number(r.billed_seconds),
  ratePerGpuHour: money(Number(r.rate_micro_usd_per_gpu_hour)),
  cost: r.amount_micro_usd === null || r.end_kind === null ? null : money(Number(r.amount_micro_usd)),
});

const RUN_COLUMNS = `run, facility_id, resource_id, gpu_ids, score, reason, warm, waited_ms::text, allocated_at, started_at, ended_at, end_kind,
  ran_seconds::text, billed_seconds::text, amount_micro_usd::text, rate_micro_usd_per_gpu_hour::text`;

export const workloadRuns = async (db: Sql, workloadId: string) =>
  (await db.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM rm_workload_runs WHERE workload_id = $1 ORDER BY run`, [workloadId])).map(toRun);

type LifeRow = {
  ran_seconds: string;
  billed_gpu_seconds: string;
  billed_micro_usd: string;
  started_at: string | Date | null;
  run_ends_at: string | Date | null;
  rate_micro_usd_per_gpu_hour: string | null;
  requests_served: string | null;
  p50_ms: number | null;
  p99_ms: number | null;
  availability: number | null;
};

const lifeOf = async (db: Sql, workloadId: string) =>
  (
    await db.query<LifeRow>(
      `SELECT ran_seconds::text, billed_gpu_seconds::text, billed_micro_usd::text, started_at, run_ends_at, rate_micro_usd_per_gpu_hour::text,
              requests_served::text, p50_ms, p99_ms, availability FROM rm_workloads WHERE workload_id = $1`,
      [workloadId],
    )
  )[0];

/** Usage and cost so far at `nowMs` (the platform's time): what is billed, plus the run under way at its rate. */
export const usageOf = async (db: Sql, w: WorkloadView, nowMs: number) => {
  const life = await lifeOf(db, w.id);
  const billed = Number(life?.billed_micro_usd ?? 0);
  let ran = Number(life?.ran_seconds ?? 0);
  let accrued = 0;
  if (life?.started_at && w.status === 'running') {
    const start = Date.parse(iso(life.started_at));
    const end = life.run_ends_at ? Date.parse(iso(life.run_ends_at)) : Infinity;
    const seconds = Math.max(0, Math.floor((Math.min(nowMs, end) - start) / 1000));
    ran += seconds;
    accrued = Math.ceil((seconds * w.gpuCount * Number(life.rate_micro_usd_per_gpu_hour ?? 0)) / 3600);
  }
  return { ranSeconds: ran, billedGpuSeconds: Number(life?.billed_gpu_seconds ?? 0), billed: money(billed), costSoFar: money(billed + accrued) };
};

export const slaOf = async (db: Sql, w: WorkloadView) => {
  const life = await lifeOf(db, w.id);
  const breaches = (
    await db.query<{ run: number; kind: SlaKind; measured: number; target: number; unit: string; credit_percent: number; at: string | Date }>(
      `SELECT run, kind, measured, target, unit, credit_percent, at FROM rm_sla_breaches WHERE workload_id = $1 ORDER BY at, run, kind`,
      [w.id],
    )
  ).map((b) => ({ run: b.run, kind: b.kind, measured: b.measured, target: b.target, unit: b.unit, creditPercent: b.credit_percent, at: iso(b.at) }));
  return {
    queueWaitTargetMs: w.priority && w.priority !== 'P4' ? QUEUE_WAIT_TARGET_MS[tierOf(w.priority)] : null,
    latencyTargetMs: w.priority === 'P1' ? w.maxLatencyMs : null,
    p50Ms: life?.p50_ms ?? null,
    p99Ms: life?.p99_ms ?? null,
    availability: life?.availability ?? null,
    requestsServed: life?.requests_served === null || life?.requests_served === undefined ? null : Number(life.requests_served),
    breaches,
    met: breaches.length === 0,
  };
};

/** The current allocation, or null when the workload is not on GPUs. */
export const allocationOf = async (db: Sql, w: WorkloadView) => (w.status === 'allocated' || w.status === 'running' ? lastRunOf(db, w) : null);

/** The workload's latest run, whether or not it still holds its GPUs. */
const lastRunOf = async (db: Sql, w: WorkloadView) => {
  const [row] = await db.query<RunRow>(
    `SELECT ${RUN_COLUMNS} FROM rm_workload_runs r WHERE workload_id = $1 AND run = (SELECT run FROM rm_workloads WHERE workload_id = $1)`,
    [w.id],
  );
  return row ? toRun(row) : null;
};

type WaitingRow = { workload_id: string; customer_id: string; priority: string; gpu_type: string; queued_at: string | Date; first_queued_at: string | Date; duration_seconds: number };

/** The queue in the scheduler's order, with each entry's estimate: its tier's and GPU type's median wait over the last hour. */
export const queueView = async (db: Sql, nowMs: number, only: { customerId?: string; first: number }) => {
  const rows = await db.query<WaitingRow>(
    `SELECT workload_id, customer_id, coalesce(priority, 'P3') AS priority, gpu_type, queued_at, first_queued_at, duration_seconds
       FROM rm_workloads WHERE status IN ('queued', 'preempted') AND queued_at IS NOT NULL`,
  );
  const waiting = rows.map((r) => ({
    workloadId: r.workload_id,
    customerId: r.customer_id,
    priority: tierOf(r.priority),
    request: { gpuType: r.gpu_type } as never,
    firstQueuedAtMs: Date.parse(iso(r.first_queued_at)),
    queuedAtMs: Date.parse(iso(r.queued_at)),
    nextRun: 0,
    remainingSeconds: r.duration_seconds,
  }));
  const ordered = queueOrder(waiting, nowMs);
  const medians = new Map(
    (
      await db.query<{ priority: string; gpu_type: string; p50: number | null }>(
        `SELECT priority, gpu_type, percentile_cont(0.5) WITHIN GROUP (ORDER BY waited_ms) AS p50 FROM rm_workload_runs
          WHERE allocated_at >= $1 GROUP BY priority, gpu_type`,
        [iso(nowMs - HOUR_MS)],
      )
    ).map((m) => [`${m.priority}:${m.gpu_type}`, m.p50]),
  );
  const gpuTypes = new Map(rows.map((r) => [r.workload_id, r.gpu_type]));
  const entries = ordered
    .map((w, i) => ({ w, position: i + 1 }))
    .filter(({ w }) => !only.customerId || w.customerId === only.customerId)
    .slice(0, only.first)
    .map(({ w, position }) => {
      const median = medians.get(`${w.priority}:${gpuTypes.get(w.workloadId)}`);
      return { workloadId: w.workloadId, position, priority: w.priority, waitedSeconds: Math.max(0, nowMs - w.queuedAtMs) / 1000, estimatedWaitSeconds: median === null || median === undefined ? null : median / 1000 };
    });
  const depth = (['P1', 'P2', 'P3'] as const).map((priority) => ({
    priority,
    waiting: ordered.filter((w) => w.priority === priority && (!only.customerId || w.customerId === only.customerId)).length,
  }));
  return { entries, depth, total: depth.reduce((n, d) => n + d.waiting, 0) };
};

const visible = (principal: Principal, w: WorkloadView | undefined) => (w && (principal.role !== 'customer' || w.customerId === principal.customerId) ? w : undefined);

export const createLifecycleResolvers = (services: ApiServices) => {
  const { readModels: db } = services;
  const now = () => services.deps.clock.now().getTime();
  return {
    Workload: {
      allocation: (w: WorkloadView) => allocationOf(db, w),
      runs: (w: WorkloadView) => workloadRuns(db, w.id),
      usage: (w: WorkloadView) => usageOf(db, w, now()),
      sla: (w: WorkloadView) => slaOf(db, w),
    },
    QueueEntry: {
      workload: async (e: { workloadId: string }, _: unknown, ctx: ApiContext) => visible(ctx.principal, await findWorkload(db, e.workloadId)),
    },
    Query: {
      queue: async (_: unknown, args: { first?: number | null; customerId?: string | null }, ctx: ApiContext) => {
        requireRole(ctx.principal, 'customer', 'admin', 'auditor', 'analyst');
        const first = parseInput(z.number().int().min(1).max(500), args.first ?? 50, 'first');
        const customerId = scopeCustomer(ctx.principal, args.customerId == null ? undefined : parseInput(idSchema, args.customerId, 'customerId'));
        return queueView(db, now(), { first, ...(customerId ? { customerId } : {}) });
      },
    },
  };
};

/** `GET /api/v1/workloads/:id` in the seed's shape (snake_case), for the workload's customer or staff. */
export const registerWorkloadRest = (app: FastifyInstance, services: ApiServices, authenticate: Authenticator) => {
  app.get('/api/v1/workloads/:id', async (request) => {
    const principal = await authenticate(request.headers.authorization);
    const id = parseInput(idSchema, (request.params as { id?: unknown }).id, 'id');
    const w = visible(principal, await findWorkload(services.readModels, id));
    // the same answer for "missing" and "someone else's"
    if (!w) throw new CommandRejectedError({ code: 'not_found', message: 'workload not found', field: 'id' });
    const [run, usage, sla] = await Promise.all([lastRunOf(services.readModels, w), usageOf(services.readModels, w, services.deps.clock.now().getTime()), slaOf(services.readModels, w)]);
    return {
      workload_id: w.id,
      customer_id: w.customerId,
      type: w.type,
      model: w.model,
      gpu_type: w.gpuType,
      gpu_count: w.gpuCount,
      max_latency_ms: w.maxLatencyMs,
      duration_hours: w.durationHours,
      status: w.status,
      priority: w.priority,
      priority_reason: w.priorityReason,
      submitted_at: w.submittedAt,
      // the GPUs it holds now; where and when its latest run started, also once it has ended
      allocated_gpus: run && (w.status === 'allocated' || w.status === 'running') ? run.gpuIds : [],
      facility: run?.facilityId ?? null,
      started_at: run?.startedAt ?? null,
      metrics: { requests_served: sla.requestsServed, p50_latency_ms: sla.p50Ms, p99_latency_ms: sla.p99Ms, availability: sla.availability },
      sla: { met: sla.met, breaches: sla.breaches.map((b) => ({ run: b.run, kind: b.kind, measured: b.measured, target: b.target, unit: b.unit, credit_percent: b.creditPercent, at: b.at })) },
      ran_seconds: usage.ranSeconds,
      cost_usd: usage.costSoFar.usd,
      reserved_usd: w.reserved.budgetUsd,
    };
  });
};
