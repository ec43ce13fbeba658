/**
 * Read model of workloads: each with its status and history, its current allocation, its runs
 * (where, how long it waited and ran, what each cost) and its SLA breaches.
 */
import type { WorkloadEvent } from '../domain/workload/workload.ts';
import type { Change, Projection } from './projection.ts';
import { addInt8, insertRows, loadRows, saveRows, type Int8, type Row, type RowTable, type Time } from './rows.ts';

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
-- the seq of its last line in rm_workload_status_history
ALTER TABLE rm_workloads ADD COLUMN IF NOT EXISTS status_seq integer NOT NULL DEFAULT 0;
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

const WORKLOADS: RowTable = { name: 'rm_workloads', key: ['workload_id'] };
const RUNS: RowTable = { name: 'rm_workload_runs', key: ['workload_id', 'run'] };

/** A row of rm_workloads, as the batch holds it. */
export type WorkloadRow = {
  workload_id: string;
  customer_id: string;
  type: string;
  model: string;
  gpu_type: string;
  gpu_count: number;
  max_latency_ms: number | null;
  duration_seconds: number;
  priority: string | null;
  priority_reason: string | null;
  status: string;
  reserved_gpu_seconds: Int8;
  reserved_budget_micro_usd: Int8;
  submitted_at: Time;
  updated_at: Time;
  queued_at: Time | null;
  first_queued_at: Time | null;
  run: number;
  facility_id: string | null;
  resource_id: string | null;
  gpu_ids: string[] | null;
  started_at: Time | null;
  run_ends_at: Time | null;
  rate_micro_usd_per_gpu_hour: Int8 | null;
  ran_seconds: Int8;
  billed_gpu_seconds: Int8;
  billed_micro_usd: Int8;
  sla_breaches: number;
  requests_served: Int8 | null;
  p50_ms: number | null;
  p99_ms: number | null;
  availability: number | null;
  ended_at: Time | null;
  end_reason: string | null;
  status_seq: number;
};

type RunRow = {
  workload_id: string;
  run: number;
  customer_id: string;
  priority: string;
  gpu_type: string;
  facility_id: string;
  resource_id: string;
  gpu_ids: string[];
  warm: boolean;
  score: number;
  reason: string;
  waited_ms: Int8;
  allocated_at: Time;
  started_at: Time | null;
  ended_at: Time | null;
  end_kind: string | null;
  ran_seconds: Int8 | null;
  billed_seconds: Int8 | null;
  amount_micro_usd: Int8 | null;
  rate_micro_usd_per_gpu_hour: Int8;
};

const END_STATUS: Partial<Record<WorkloadEvent['type'], string>> = {
  WorkloadCompleted: 'completed',
  WorkloadPreempted: 'preempted',
  WorkloadInterrupted: 'preempted',
  WorkloadFailed: 'failed',
  WorkloadCancelled: 'cancelled',
};

/** The run an event is about, if any. */
const runOf = (event: WorkloadEvent): number | undefined => ('run' in event.data && typeof event.data.run === 'number' ? event.data.run : undefined);

export const workloadsProjection: Projection = {
  name: 'workloads',
  // 2: status_seq (the history's last line) kept on the workload
  version: 2,
  eventTypes: new Set(['WorkloadSubmitted', 'WorkloadClassified', 'WorkloadQueued', 'ResourcesAllocated', 'WorkloadStarted', 'SlaBreached', 'WorkloadCompleted', 'WorkloadPreempted', 'WorkloadInterrupted', 'WorkloadFailed', 'WorkloadCancelled']),
  schema: SCHEMA,
  tables: ['rm_sla_breaches', 'rm_workload_runs', 'rm_workload_status_history', 'rm_workloads'],
  async apply(tx, recorded): Promise<Change[]> {
    const events = recorded.map((e) => ({ event: { type: e.type, data: e.data } as WorkloadEvent, at: e.metadata.occurredAt }));
    // 1. load what the batch touches: the workloads and their runs
    const workloads = await loadRows<WorkloadRow>(
      tx,
      WORKLOADS,
      events.map(({ event }) => [event.data.workloadId]),
      // a submission opens its workload's stream: no row can be there before it
      events.flatMap(({ event }) => (event.type === 'WorkloadSubmitted' ? [[event.data.workloadId]] : [])),
    );
    const runs = await loadRows<RunRow>(tx, RUNS, events.flatMap(({ event }) => (runOf(event) === undefined ? [] : [[event.data.workloadId, runOf(event)]])));
    const history: Row[] = [];
    const breaches: Row[] = [];
    const changes: Change[] = [];

    /** A workload's new status, with its line in the history; the row, if the workload is known. */
    const recordStatus = (workloadId: string, status: string, reason: string | null, at: string) => {
      const row = workloads.get(workloadId);
      if (!row) return undefined;
      const seq = row.status_seq + 1;
      history.push({ workload_id: workloadId, seq, status, reason, at });
      return workloads.change(row, { status, updated_at: at, status_seq: seq });
    };
    const changeRun = (workloadId: string, run: number | undefined, values: Partial<RunRow>) => runs.change(run === undefined ? undefined : runs.get(workloadId, run), values);

    // 2. apply each event to the rows in memory
    for (const { event, at } of events) {
      let customerId: string | undefined;
      switch (event.type) {
        case 'WorkloadSubmitted': {
          const { workloadId, request: r } = event.data;
          customerId = event.data.customerId;
          if (workloads.get(workloadId)) break;
          workloads.put({
            workload_id: workloadId, customer_id: customerId, type: r.type, model: r.model, gpu_type: r.gpuType, gpu_count: r.gpuCount, max_latency_ms: r.maxLatencyMs ?? null,
            duration_seconds: r.durationSeconds, priority: null, priority_reason: null, status: 'submitted',
            reserved_gpu_seconds: event.data.reservedGpuSeconds, reserved_budget_micro_usd: event.data.reservedBudgetMicroUsd, submitted_at: at, updated_at: at,
            queued_at: null, first_queued_at: null, run: 0, facility_id: null, resource_id: null, gpu_ids: null, started_at: null, run_ends_at: null,
            rate_micro_usd_per_gpu_hour: null, ran_seconds: 0, billed_gpu_seconds: 0, billed_micro_usd: 0, sla_breaches: 0,
            requests_served: null, p50_ms: null, p99_ms: null, availability: null, ended_at: null, end_reason: null, status_seq: 1,
          });
          history.push({ workload_id: workloadId, seq: 1, status: 'submitted', reason: null, at });
          break;
        }
        case 'WorkloadClassified': {
          workloads.change(workloads.get(event.data.workloadId), { priority: event.data.priority, priority_reason: event.data.reason, updated_at: at });
          break;
        }
        case 'WorkloadQueued': {
          const queuedAt = event.data.at ?? at;
          const row = recordStatus(event.data.workloadId, 'queued', null, queuedAt);
          if (row) Object.assign(row, { queued_at: queuedAt, first_queued_at: row.first_queued_at ?? queuedAt });
          break;
        }
        case 'ResourcesAllocated': {
          const d = event.data;
          const row = recordStatus(d.workloadId, 'allocated', d.reason, d.allocatedAt);
          if (!row) break;
          Object.assign(row, { run: d.run, facility_id: d.facilityId, resource_id: d.resourceId, gpu_ids: d.gpuIds, rate_micro_usd_per_gpu_hour: d.rateMicroUsdPerGpuHour, started_at: null, run_ends_at: null });
          if (!runs.get(d.workloadId, d.run))
            runs.put({
              workload_id: d.workloadId, run: d.run, customer_id: row.customer_id, priority: row.priority ?? 'P3', gpu_type: row.gpu_type, facility_id: d.facilityId, resource_id: d.resourceId,
              gpu_ids: d.gpuIds, warm: d.warm, score: d.score, reason: d.reason, waited_ms: d.waitedMs, allocated_at: d.allocatedAt,
              started_at: null, ended_at: null, end_kind: null, ran_seconds: null, billed_seconds: null, amount_micro_usd: null, rate_micro_usd_per_gpu_hour: d.rateMicroUsdPerGpuHour,
            });
          break;
        }
        case 'WorkloadStarted': {
          const d = event.data;
          const row = recordStatus(d.workloadId, 'running', null, d.startedAt);
          if (row) Object.assign(row, { started_at: d.startedAt, run_ends_at: d.runEndsAt });
          changeRun(d.workloadId, d.run, { started_at: d.startedAt });
          break;
        }
        case 'SlaBreached': {
          const d = event.data;
          customerId = d.customerId;
          breaches.push({ workload_id: d.workloadId, run: d.run, kind: d.kind, customer_id: d.customerId, measured: d.measured, target: d.target, unit: d.unit, credit_percent: d.creditPercent, at: d.at });
          const row = workloads.get(d.workloadId);
          if (row) {
            row.sla_breaches += 1;
            workloads.changed(row);
          }
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
          // a preempted workload waits again; the others have ended
          const terminal = status !== 'preempted';
          const metrics = event.type === 'WorkloadCompleted' ? event.data.metrics : null;
          const reason = 'reason' in d ? d.reason : null;
          const row = recordStatus(d.workloadId, status, reason, endAt);
          if (row)
            Object.assign(row, {
              ran_seconds: addInt8(row.ran_seconds, usage?.ranSeconds ?? 0),
              billed_gpu_seconds: addInt8(row.billed_gpu_seconds, usage?.gpuSeconds ?? 0),
              billed_micro_usd: addInt8(row.billed_micro_usd, usage?.amountMicroUsd ?? 0),
              ended_at: terminal ? endAt : null,
              end_reason: reason,
              queued_at: terminal ? row.queued_at : endAt,
              requests_served: metrics?.requestsServed ?? row.requests_served,
              p50_ms: metrics?.p50Ms ?? row.p50_ms,
              p99_ms: metrics?.p99Ms ?? row.p99_ms,
              availability: metrics?.availability ?? row.availability,
              gpu_ids: null,
              started_at: null,
              run_ends_at: null,
            });
          changeRun(d.workloadId, d.run, { ended_at: endAt, end_kind: status, ran_seconds: usage?.ranSeconds ?? 0, billed_seconds: usage?.billedSeconds ?? 0, amount_micro_usd: usage?.amountMicroUsd ?? 0 });
          break;
        }
        default:
          continue;
      }
      customerId ??= workloads.get(event.data.workloadId)?.customer_id;
      if (customerId) changes.push({ topic: 'workload', workloadId: event.data.workloadId, customerId });
    }

    // 3. write back: one statement per table
    await saveRows(tx, workloads);
    await insertRows(tx, 'rm_workload_status_history', history);
    await saveRows(tx, runs);
    await insertRows(tx, 'rm_sla_breaches', breaches);
    return changes;
  },
};
