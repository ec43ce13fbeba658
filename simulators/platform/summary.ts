/**
 * What a simulated stretch came to, read from the read models: how much work arrived and how it
 * ended, how long each tier waited against its target, how much of it breached, what was billed,
 * how busy the GPUs were, and whether the projections caught up with the store.
 */
import type { Sql } from '../../infra/postgres/database.ts';
import type { EventStore } from '../../infra/event-store/types.ts';
import { comparePositions, START, type GlobalPosition } from '../../infra/event-store/position.ts';
import { QUEUE_WAIT_TARGET_MS } from '../../domain/billing/sla.ts';
import { formatUsd } from '../../domain/money.ts';
import { iso } from '../../domain/time.ts';

export type TierWaits = { priority: string; placed: number; waiting: number; p50Ms: number; p99Ms: number; targetMs: number; withinTarget: boolean };

export type SimulationSummary = {
  workloads: { submitted: number; byStatus: Record<string, number> };
  runs: { placements: number; preempted: number; interrupted: number; warmStarts: number };
  waits: TierWaits[];
  breaches: { byKind: Record<string, number>; workloadsBreached: number; shareBreached: number };
  billing: { lines: number; billedMicroUsd: number; credits: number; creditedMicroUsd: number; invoices: number };
  /** GPU-seconds billed over GPU-seconds available across the stretch. */
  gpuUtilization: number;
  /** GPU-seconds the arrivals asked for over GPU-seconds available: above 1, queues grow whatever the scheduler does. */
  offeredLoad: number;
  events: number;
  /** Events the slowest projection has not applied (0 when caught up). */
  projectionLag: number;
};

const PRIORITIES = ['P1', 'P2', 'P3'] as const;

export const summarizeSimulation = async (db: Sql, store: EventStore, span: { startMs: number; endMs: number; gpus: number }): Promise<SimulationSummary> => {
  const statuses = await db.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM rm_workloads GROUP BY status ORDER BY status`);
  const [runs] = await db.query<{ placements: number; preempted: number; interrupted: number; warm: number }>(
    `SELECT count(*)::int AS placements, count(*) FILTER (WHERE end_kind = 'preempted')::int AS preempted,
            count(*) FILTER (WHERE end_kind = 'interrupted')::int AS interrupted, count(*) FILTER (WHERE warm)::int AS warm
       FROM rm_workload_runs`,
  );
  // a workload's wait: to its first placement, or, still waiting at the end, until the end (a
  // starved workload must show in the tail, not vanish from it)
  const waits = await db.query<{ priority: string; placed: number; waiting: number; p50: number | null; p99: number | null }>(
    `WITH w AS (
       SELECT priority, waited_ms::float8 AS ms, true AS placed FROM rm_workload_runs WHERE run = 1
       UNION ALL
       SELECT priority, greatest(0, extract(epoch FROM ($1::timestamptz - first_queued_at)) * 1000), false
         FROM rm_workloads WHERE status IN ('queued', 'preempted') AND run = 0 AND priority IS NOT NULL
     )
     SELECT priority, count(*) FILTER (WHERE placed)::int AS placed, count(*) FILTER (WHERE NOT placed)::int AS waiting,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99
       FROM w GROUP BY priority`,
    [iso(span.endMs)],
  );
  const breaches = await db.query<{ kind: string; n: number }>(`SELECT kind, count(*)::int AS n FROM rm_sla_breaches GROUP BY kind ORDER BY kind`);
  const [breached] = await db.query<{ n: number }>(`SELECT count(DISTINCT workload_id)::int AS n FROM rm_sla_breaches`);
  const [lines] = await db.query<{ n: number; amount: string | null; seconds: string | null }>(
    `SELECT count(*)::int AS n, sum(amount_micro_usd)::text AS amount, sum(ran_seconds * gpu_count)::text AS seconds FROM rm_billing_lines`,
  );
  const [asked] = await db.query<{ seconds: string | null }>(`SELECT sum(gpu_count::bigint * duration_seconds)::text AS seconds FROM rm_workloads`);
  const available = (span.gpus * (span.endMs - span.startMs)) / 1000;
  const [credits] = await db.query<{ n: number; amount: string | null }>(`SELECT count(*)::int AS n, sum(amount_micro_usd)::text AS amount FROM rm_sla_credits`);
  const [invoices] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM rm_billing_periods WHERE status = 'invoiced'`);
  const checkpoints = await db.query<{ c: string; p: string }>(`SELECT commit_position::text AS c, prepare_position::text AS p FROM hcp_checkpoints`);
  const slowest: GlobalPosition = checkpoints
    .map((r) => ({ commit: BigInt(r.c), prepare: BigInt(r.p) }))
    .reduce<GlobalPosition | undefined>((a, b) => (a === undefined || comparePositions(b, a) < 0 ? b : a), undefined) ?? START;
  const submitted = statuses.reduce((n, s) => n + s.n, 0);
  const byPriority = new Map(waits.map((w) => [w.priority, w]));
  return {
    workloads: { submitted, byStatus: Object.fromEntries(statuses.map((s) => [s.status, s.n])) },
    runs: { placements: runs?.placements ?? 0, preempted: runs?.preempted ?? 0, interrupted: runs?.interrupted ?? 0, warmStarts: runs?.warm ?? 0 },
    waits: PRIORITIES.map((priority) => {
      const w = byPriority.get(priority);
      const targetMs = QUEUE_WAIT_TARGET_MS[priority];
      const p99Ms = w?.p99 ?? 0;
      return { priority, placed: w?.placed ?? 0, waiting: w?.waiting ?? 0, p50Ms: w?.p50 ?? 0, p99Ms, targetMs, withinTarget: p99Ms <= targetMs };
    }),
    breaches: {
      byKind: Object.fromEntries(breaches.map((b) => [b.kind, b.n])),
      workloadsBreached: breached?.n ?? 0,
      shareBreached: submitted ? (breached?.n ?? 0) / submitted : 0,
    },
    billing: {
      lines: lines?.n ?? 0,
      billedMicroUsd: Number(lines?.amount ?? 0),
      credits: credits?.n ?? 0,
      creditedMicroUsd: Number(credits?.amount ?? 0),
      invoices: invoices?.n ?? 0,
    },
    gpuUtilization: available > 0 ? Number(lines?.seconds ?? 0) / available : 0,
    offeredLoad: available > 0 ? Number(asked?.seconds ?? 0) / available : 0,
    events: (await store.readAll({ after: START, maxCount: Number.MAX_SAFE_INTEGER })).length,
    projectionLag: (await store.readAll({ after: slowest, maxCount: Number.MAX_SAFE_INTEGER })).length,
  };
};

const ms = (v: number) => (v >= 60_000 ? `${(v / 60_000).toFixed(1)} min` : v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
const pct = (v: number) => `${(v * 100).toFixed(2)} %`;

export const formatSummary = (s: SimulationSummary) =>
  [
    `workloads  ${s.workloads.submitted} submitted: ${Object.entries(s.workloads.byStatus).map(([k, v]) => `${v} ${k}`).join(', ')}`,
    `runs       ${s.runs.placements} placements (${s.runs.warmStarts} on warm GPUs), ${s.runs.preempted} preempted, ${s.runs.interrupted} moved off a failing GPU`,
    'queue wait (to first placement; still waiting: until the end)',
    ...s.waits.map(
      (w) =>
        `  ${w.priority}  p50 ${ms(w.p50Ms).padStart(8)}  p99 ${ms(w.p99Ms).padStart(8)}  target ${ms(w.targetMs).padStart(7)}  ${w.withinTarget ? 'within' : 'MISSED'}  (${w.placed} placed, ${w.waiting} waiting)`,
    ),
    `SLA        ${s.breaches.workloadsBreached} workloads breached (${pct(s.breaches.shareBreached)}): ${Object.entries(s.breaches.byKind).map(([k, v]) => `${v} ${k}`).join(', ') || 'none'}`,
    `billing    ${s.billing.lines} lines, ${formatUsd(s.billing.billedMicroUsd)}; ${s.billing.credits} credits, ${formatUsd(s.billing.creditedMicroUsd)}; ${s.billing.invoices} invoices`,
    `GPUs       ${pct(s.gpuUtilization)} of GPU time billed; the arrivals asked for ${pct(s.offeredLoad)} of it`,
    `events     ${s.events} in the store; projections ${s.projectionLag === 0 ? 'caught up' : `${s.projectionLag} events behind`}`,
  ].join('\n');
