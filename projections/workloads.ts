/** Read model of workloads and their status history. */
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
CREATE INDEX IF NOT EXISTS rm_workloads_by_customer ON rm_workloads (customer_id, submitted_at DESC, workload_id DESC);
CREATE INDEX IF NOT EXISTS rm_workloads_by_time ON rm_workloads (submitted_at DESC, workload_id DESC);
CREATE TABLE IF NOT EXISTS rm_workload_status_history (
  workload_id text NOT NULL,
  seq         integer NOT NULL,
  status      text NOT NULL,
  reason      text,
  at          timestamptz NOT NULL,
  PRIMARY KEY (workload_id, seq)
);
`;

const recordStatus = async (tx: Sql, workloadId: string, status: string, reason: string | null, at: string) => {
  await tx.query(`UPDATE rm_workloads SET status = $2, updated_at = $3 WHERE workload_id = $1`, [workloadId, status, at]);
  await tx.query(
    `INSERT INTO rm_workload_status_history (workload_id, seq, status, reason, at)
     SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4 FROM rm_workload_status_history WHERE workload_id = $1`,
    [workloadId, status, reason, at],
  );
};

export const workloadsProjection: Projection = {
  name: 'workloads',
  schema: SCHEMA,
  tables: ['rm_workload_status_history', 'rm_workloads'],
  async apply(tx, recorded: RecordedEvent): Promise<Change[]> {
    const event = { type: recorded.type, data: recorded.data } as WorkloadEvent;
    const at = recorded.metadata.occurredAt;
    let customerId: string;
    switch (event.type) {
      case 'WorkloadSubmitted': {
        const { workloadId, request: r } = event.data;
        customerId = event.data.customerId;
        await tx.query(
          `INSERT INTO rm_workloads (workload_id, customer_id, type, model, gpu_type, gpu_count, max_latency_ms, duration_seconds,
             status, reserved_gpu_seconds, reserved_budget_micro_usd, submitted_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'submitted', $9, $10, $11, $11)`,
          [workloadId, customerId, r.type, r.model, r.gpuType, r.gpuCount, r.maxLatencyMs ?? null, r.durationSeconds,
            event.data.reservedGpuSeconds, event.data.reservedBudgetMicroUsd, at],
        );
        await recordStatus(tx, workloadId, 'submitted', null, at);
        break;
      }
      case 'WorkloadClassified': {
        const [row] = await tx.query<{ customer_id: string }>(
          `UPDATE rm_workloads SET priority = $2, priority_reason = $3, updated_at = $4 WHERE workload_id = $1 RETURNING customer_id`,
          [event.data.workloadId, event.data.priority, event.data.reason, at],
        );
        if (!row) return [];
        customerId = row.customer_id;
        break;
      }
      case 'WorkloadQueued':
      case 'WorkloadCancelled': {
        const status = event.type === 'WorkloadQueued' ? 'queued' : 'cancelled';
        const reason = event.type === 'WorkloadCancelled' ? event.data.reason : null;
        await recordStatus(tx, event.data.workloadId, status, reason, at);
        const [row] = await tx.query<{ customer_id: string }>(`SELECT customer_id FROM rm_workloads WHERE workload_id = $1`, [
          event.data.workloadId,
        ]);
        if (!row) return [];
        customerId = row.customer_id;
        break;
      }
      default:
        return [];
    }
    return [{ topic: 'workload', workloadId: event.data.workloadId, customerId }];
  },
};
