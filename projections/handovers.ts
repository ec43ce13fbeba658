/** Read model of power handovers: one row each with its facility-level outcome, and every phase with its duration. */
import type { HandoverEvent } from '../domain/resource/handover.ts';
import type { RecordedEvent } from '../infra/event-store/types.ts';
import { oneByOne, type Change, type Projection } from './projection.ts';

const SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS rm_handovers (
  handover_id       text PRIMARY KEY,
  facility_id       text NOT NULL,
  direction         text NOT NULL,
  asic_resource_id  text NOT NULL,
  gpu_resource_id   text NOT NULL,
  reason            text NOT NULL,
  status            text NOT NULL,
  phases            text[] NOT NULL,
  phases_done       integer NOT NULL DEFAULT 0,
  draw_before_kw    integer NOT NULL,
  draw_after_kw     integer NOT NULL,
  power_budget_kw   integer NOT NULL,
  control_path_ms   integer,
  physical_ms       integer,
  failed_phase      text,
  failure_reason    text,
  rollback          text,
  requested_at      timestamptz NOT NULL,
  finished_at       timestamptz
);
CREATE INDEX IF NOT EXISTS rm_handovers_by_facility ON rm_handovers (facility_id, requested_at DESC, handover_id DESC);
CREATE INDEX IF NOT EXISTS rm_handovers_unfinished ON rm_handovers (status) WHERE status IN ('in_flight', 'rolling_back');
CREATE TABLE IF NOT EXISTS rm_handover_phases (
  handover_id text NOT NULL,
  idx         integer NOT NULL,
  phase       text NOT NULL,
  duration_ms integer NOT NULL,
  at          timestamptz NOT NULL,
  PRIMARY KEY (handover_id, idx)
);
`;

export const handoversProjection: Projection = {
  name: 'handovers',
  eventTypes: new Set(['HandoverRequested', 'HandoverPhaseCompleted', 'HandoverRollingBack', 'HandoverCompleted', 'HandoverFailed']),
  schema: SCHEMA,
  tables: ['rm_handover_phases', 'rm_handovers'],
  apply: oneByOne(async (tx, recorded: RecordedEvent): Promise<Change[]> => {
    const event = { type: recorded.type, data: recorded.data } as HandoverEvent;
    const at = recorded.metadata.occurredAt;
    let facilityId: string;
    switch (event.type) {
      case 'HandoverRequested': {
        const h = event.data;
        facilityId = h.facilityId;
        await tx.query(
          `INSERT INTO rm_handovers (handover_id, facility_id, direction, asic_resource_id, gpu_resource_id, reason, status, phases,
                                     draw_before_kw, draw_after_kw, power_budget_kw, requested_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'in_flight', $7, $8, $9, $10, $11) ON CONFLICT (handover_id) DO NOTHING`,
          [h.handoverId, h.facilityId, h.direction, h.asicResourceId, h.gpuResourceId, h.reason, h.phases, h.drawBeforeKw, h.drawAfterKw, h.powerBudgetKw, at],
        );
        break;
      }
      case 'HandoverPhaseCompleted': {
        const p = event.data;
        await tx.query(`INSERT INTO rm_handover_phases (handover_id, idx, phase, duration_ms, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, [
          p.handoverId,
          p.index,
          p.phase,
          p.durationMs,
          at,
        ]);
        const [row] = await tx.query<{ facility_id: string }>(`UPDATE rm_handovers SET phases_done = $2 WHERE handover_id = $1 RETURNING facility_id`, [p.handoverId, p.index + 1]);
        facilityId = row?.facility_id ?? 'unknown';
        break;
      }
      case 'HandoverRollingBack':
        facilityId = event.data.facilityId;
        await tx.query(`UPDATE rm_handovers SET status = 'rolling_back', failed_phase = $2, failure_reason = $3 WHERE handover_id = $1`, [
          event.data.handoverId,
          event.data.phase,
          event.data.reason,
        ]);
        break;
      case 'HandoverCompleted':
        facilityId = event.data.facilityId;
        await tx.query(`UPDATE rm_handovers SET status = 'completed', control_path_ms = $2, physical_ms = $3, finished_at = $4 WHERE handover_id = $1`, [
          event.data.handoverId,
          event.data.controlPathMs,
          event.data.physicalMs,
          at,
        ]);
        break;
      case 'HandoverFailed':
        facilityId = event.data.facilityId;
        await tx.query(`UPDATE rm_handovers SET status = 'failed', failed_phase = $2, failure_reason = $3, rollback = $4, finished_at = $5 WHERE handover_id = $1`, [
          event.data.handoverId,
          event.data.phase,
          event.data.reason,
          event.data.rollback,
          at,
        ]);
        break;
      default:
        return [];
    }
    return [{ topic: 'handover', handoverId: event.data.handoverId, facilityId }];
  }),
};
