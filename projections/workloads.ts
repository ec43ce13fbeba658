/**
 * Read model of workloads: each with its status and history, its current allocation, its runs
 * (where, how long it waited and ran, what each cost) and its SLA breaches.
 */
import type { WorkloadEvent } from '../domain/workload/workload.ts';
import type { RecordedEvent } from '../infra/event-store/types.ts';
import type { Sql } from '../infra/postgres/database.ts';
import type { Change, Projection } from './projection.ts';

const SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS rm_workloads (
  workload_id      text PRIMARY KEY,
  customer_id      text NOT NULL,
  type             text NOT NULL,
  model            text NOT NULL,
  gpu_type         text NOT NULL,
  gpu_count        integer NOT NULL,
  max_latency_ms   integer,
  duration_seconds integer NOT NULL,
  priority         text,
  priority_reason  text,
  status           text NOT NULL,
  reserved_gpu_seconds      bigint NOT NULL,
  reserved_budget_micro_usd bigint NOT NULL,
  submitted_at     timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL
);
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS queued_at timestamptz;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS first_queued_at timestamptz;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS run integer NOT NULL DEFAULT 0;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS facility_id text;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS resource_id text;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS gpu_ids text[];
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS started_at timestamptz;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS run_ends_at timestamptz;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS rate_micro_usd_per_gpu_hour bigint;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS ran_seconds bigint NOT NULL DEFAULT 0;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS billed_gpu_seconds bigint NOT NULL DEFAULT 0;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS billed_micro_usd bigint NOT NULL DEFAULT 0;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS sla_breaches integer NOT NULL DEFAULT 0;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS requests_served bigint;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS p50_ms double precision;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS p99_ms double precision;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS availability double precision;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS ended_at timestamptz;
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS end_reason text;
CREATE INDEX IF NOT EXISTS rm_workloads_by_customer ON rm_workloads (customer_id, submitted_at DESC, workload_id DESC);
CREATE INDEX IF NOT EXISTS rm_workloads_by_time ON rm_workloads (submitted_at DESC, workload_id DESC);
CREATE INDEX IF NOT EXISTS rm_workloads_active ON rm_workloads (status) WHERE status IN ('queued', 'preempted', 'allocated', 'running');
CREATE TABLE IF NOT EXISTS rm_workload_status_history (
  workload_id text NOT NULL,
  seq         integer NOT NULL,
  status      text NOT NULL,
  reason      text,
  at          timestamptz NOT NULL,
  PRIMARY KEY (workload_id, seq)
);
CREATE TABLE IF NOT EXISTS rm_workload_runs (
  workload_id   text NOT NULL,
  run           integer NOT NULL,
  customer_id   text NOT NULL,
  priority      text NOT NULL,
  gpu_type      text NOT NULL,
  facility_id   text NOT NULL,
  resource_id   text NOT NULL,
  gpu_ids       text[] NOT NULL,
  warm          boolean NOT NULL,
  score         double precision NOT NULL,
  reason        text NOT NULL,
  waited_ms     bigint NOT NULL,
  allocated_at  timestamptz NOT NULL,
  started_at    timestamptz,
  ended_at      timestamptz,
  end_kind      text,
  ran_seconds   bigint,
  billed_seconds bigint,
  amount_micro_usd bigint,
  rate_micro_usd_per_gpu_hour bigint NOT NULL,
  PRIMARY KEY (workload_id, run)
);
CREATE INDEX IF NOT EXISTS rm_workload_runs_by_time ON rm_workload_runs (allocated_at);
CREATE TABLE IF NOT EXISTS rm_sla_breaches (
  workload_id    text NOT NULL,
  run            integer NOT NULL,
  kind           text NOT NULL,
  customer_id    text NOT NULL,
  measured       double precision NOT NULL,
  target         double precision NOT NULL,
  unit           text NOT NULL,
  credit_percent integer NOT NULL,
  at             timestamptz NOT NULL,
  PRIMARY KEY (workload_id, run, kind)
);
`;

/**
 * A workload's new status, with its line in the history and whatever else the event changes on
 * its row (`also`: SET items numbered from $5 on), in one statement: a busy platform applies
 * several of these per workload, and each round trip to the database costs more than the work.
 * Returns the workload's customer, priority and GPU type (nothing if it is unknown).
 */
const recordStatus = async (tx: Sql, workloadId: string, status: string, reason: string | null, at: string, also: { set: string; params: readonly unknown[] } = { set: '', params: [] }) => {
  const [row] = await tx.query<{ customer_id: string; priority: string; gpu_type: string }>(
    `WITH w AS (UPDATE rm_workloads SET status = $2, updated_at = $3${also.set ? `, ${also.set}` : ''} WHERE workload_id = $1
                RETURNING customer_id, coalesce(priority, 'P3') AS priority, gpu_type),
          h AS (INSERT INTO rm_workload_status_history (workload_id, seq, status, reason, at)
                SELECT $1, coalesce((SELECT max(seq) FROM rm_workload_status_history WHERE workload_id = $1), 0) + 1, $2, $4, $3 FROM w)
     SELECT customer_id, priority, gpu_type FROM w`,
    [workloadId, status, at, reason, ...also.params],
  );
  return row;
};

const END_STATUS: Partial<Record<WorkloadEvent['type'], string>> = {
  WorkloadCompleted: 'completed',
  WorkloadPreempted: 'preempted',
  WorkloadInterrupted: 'preempted',
  WorkloadFailed: 'failed',
  WorkloadCancelled: 'cancelled',
};

export const workloadsProjection: Projection = {
  name: 'workloads',
  eventTypes: new Set(['WorkloadSubmitted', 'WorkloadClassified', 'WorkloadQueued', 'ResourcesAllocated', 'WorkloadStarted', 'SlaBreached', 'WorkloadCompleted', 'WorkloadPreempted', 'WorkloadInterrupted', 'WorkloadFailed', 'WorkloadCancelled']),
  schema: SCHEMA,
  tables: ['rm_sla_breaches', 'rm_workload_runs', 'rm_workload_status_history', 'rm_workloads'],
  async apply(tx, recorded: RecordedEvent): Promise<Change[]> {
    const event = { type: recorded.type, data: recorded.data } as WorkloadEvent;
    const at = recorded.metadata.occurredAt;
    let customerId: string | undefined;
    switch (event.type) {
      case 'WorkloadSubmitted': {
        const { workloadId, request: r } = event.data;
        customerId = event.data.customerId;
        // the row and the first line of its history in one statement
        await tx.query(
          `WITH w AS (INSERT INTO rm_workloads (workload_id, customer_id, type, model, gpu_type, gpu_count, max_latency_ms, duration_seconds,
                        status, reserved_gpu_seconds, reserved_budget_micro_usd, submitted_at, updated_at)
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'submitted', $9, $10, $11, $11) RETURNING workload_id)
           INSERT INTO rm_workload_status_history (workload_id, seq, status, reason, at) SELECT workload_id, 1, 'submitted', NULL, $11 FROM w`,
          [workloadId, customerId, r.type, r.model, r.gpuType, r.gpuCount, r.maxLatencyMs ?? null, r.durationSeconds,
            event.data.reservedGpuSeconds, event.data.reservedBudgetMicroUsd, at],
        );
        break;
      }
      case 'WorkloadClassified': {
        const [row] = await tx.query<{ customer_id: string }>(
          `UPDATE rm_workloads SET priority = $2, priority_reason = $3, updated_at = $4 WHERE workload_id = $1 RETURNING customer_id`,
          [event.data.workloadId, event.data.priority, event.data.reason, at],
        );
        customerId = row?.customer_id;
        break;
      }
      case 'WorkloadQueued': {
        const queuedAt = event.data.at ?? at;
        customerId = (await recordStatus(tx, event.data.workloadId, 'queued', null, queuedAt, { set: 'queued_at = $3, first_queued_at = coalesce(first_queued_at, $3)', params: [] }))?.customer_id;
        break;
      }
      case 'ResourcesAllocated': {
        const d = event.data;
        const row = await recordStatus(tx, d.workloadId, 'allocated', d.reason, d.allocatedAt, {
          set: 'run = $5, facility_id = $6, resource_id = $7, gpu_ids = $8, rate_micro_usd_per_gpu_hour = $9, started_at = NULL, run_ends_at = NULL',
          params: [d.run, d.facilityId, d.resourceId, d.gpuIds, d.rateMicroUsdPerGpuHour],
        });
        if (!row) return [];
        customerId = row.customer_id;
        await tx.query(
          `INSERT INTO rm_workload_runs (workload_id, run, customer_id, priority, gpu_type, facility_id, resource_id, gpu_ids, warm, score, reason, waited_ms, allocated_at, rate_micro_usd_per_gpu_hour)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING`,
          [d.workloadId, d.run, row.customer_id, row.priority, row.gpu_type, d.facilityId, d.resourceId, d.gpuIds, d.warm, d.score, d.reason, d.waitedMs, d.allocatedAt, d.rateMicroUsdPerGpuHour],
        );
        break;
      }
      case 'WorkloadStarted': {
        const d = event.data;
        customerId = (await recordStatus(tx, d.workloadId, 'running', null, d.startedAt, { set: 'started_at = $3, run_ends_at = $5', params: [d.runEndsAt] }))?.customer_id;
        await tx.query(`UPDATE rm_workload_runs SET started_at = $3 WHERE workload_id = $1 AND run = $2`, [d.workloadId, d.run, d.startedAt]);
        break;
      }
      case 'SlaBreached': {
        const d = event.data;
        customerId = d.customerId;
        await tx.query(
          `INSERT INTO rm_sla_breaches (workload_id, run, kind, customer_id, measured, target, unit, credit_percent, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
          [d.workloadId, d.run, d.kind, d.customerId, d.measured, d.target, d.unit, d.creditPercent, d.at],
        );
        await tx.query(`UPDATE rm_workloads SET sla_breaches = sla_breaches + 1 WHERE workload_id = $1`, [d.workloadId]);
        break;
      }
      case 'WorkloadCompleted':
      case 'WorkloadPreempted':
      case 'WorkloadInterrupted':
      case 'WorkloadFailed':
      case 'WorkloadCancelled': {
        const d = event.data;
        const endAt = d.at ?? at;
        const usage = d.usage ?? null;
        const status = END_STATUS[event.type]!;
        const terminal = status !== 'preempted';
        const metrics = event.type === 'WorkloadCompleted' ? event.data.metrics : null;
        const reason = 'reason' in d ? d.reason : event.type === 'WorkloadCompleted' ? null : null;
        // $3 is the end time, $4 the reason (the status line's)
        const row = await recordStatus(tx, d.workloadId, status, reason ?? null, endAt, {
          set: `ran_seconds = ran_seconds + $5, billed_gpu_seconds = billed_gpu_seconds + $6, billed_micro_usd = billed_micro_usd + $7,
                ended_at = CASE WHEN $8 THEN $3::timestamptz ELSE NULL END, end_reason = $4,
                queued_at = CASE WHEN $8 THEN queued_at ELSE $3::timestamptz END,
                requests_served = coalesce($9, requests_served), p50_ms = coalesce($10, p50_ms), p99_ms = coalesce($11, p99_ms), availability = coalesce($12, availability),
                gpu_ids = NULL, started_at = NULL, run_ends_at = NULL`,
          params: [usage?.ranSeconds ?? 0, usage?.gpuSeconds ?? 0, usage?.amountMicroUsd ?? 0, terminal, metrics?.requestsServed ?? null, metrics?.p50Ms ?? null, metrics?.p99Ms ?? null, metrics?.availability ?? null],
        });
        customerId = row?.customer_id;
        if ('run' in d && d.run !== undefined)
          await tx.query(
            `UPDATE rm_workload_runs SET ended_at = $3, end_kind = $4, ran_seconds = $5, billed_seconds = $6, amount_micro_usd = $7 WHERE workload_id = $1 AND run = $2`,
            [d.workloadId, d.run, endAt, status, usage?.ranSeconds ?? 0, usage?.billedSeconds ?? 0, usage?.amountMicroUsd ?? 0],
          );
        break;
      }
      default:
        return [];
    }
    if (!customerId) {
      const [row] = await tx.query<{ customer_id: string }>(`SELECT customer_id FROM rm_workloads WHERE workload_id = $1`, [event.data.workloadId]);
      if (!row) return [];
      customerId = row.customer_id;
    }
    return [{ topic: 'workload', workloadId: event.data.workloadId, customerId }];
  },
};
