/** Read model of facilities, their resources with current mode, and switches with per-phase durations. */
import type { FacilityEvent } from '../domain/facility/facility.ts';
import type { ResourceEvent } from '../domain/resource/resource.ts';
import type { RecordedEvent } from '../infra/event-store/types.ts';
import type { Sql } from '../infra/postgres/database.ts';
import type { Change, Projection } from './projection.ts';

const SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS rm_facilities (
  facility_id     text PRIMARY KEY,
  name            text NOT NULL,
  market_node     text NOT NULL,
  power_budget_kw bigint NOT NULL,
  updated_at      timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS rm_resources (
  resource_id     text PRIMARY KEY,
  facility_id     text NOT NULL,
  kind            text NOT NULL,
  model           text NOT NULL,
  units           integer NOT NULL,
  power_w_per_unit integer NOT NULL,
  hashrate_ths_per_unit integer,
  mode            text NOT NULL,
  healthy         boolean NOT NULL DEFAULT true,
  allocated_units integer NOT NULL DEFAULT 0,
  switch_in_flight text,
  updated_at      timestamptz NOT NULL
);
ALTER TABLE rm_resources ADD COLUMN IF NOT EXISTS warm_standby_units integer;
CREATE INDEX IF NOT EXISTS rm_resources_by_facility ON rm_resources (facility_id, resource_id);
CREATE TABLE IF NOT EXISTS rm_switches (
  switch_id       text PRIMARY KEY,
  resource_id     text NOT NULL,
  facility_id     text NOT NULL,
  from_mode       text NOT NULL,
  to_mode         text NOT NULL,
  reason          text NOT NULL,
  status          text NOT NULL,
  phases_total    integer NOT NULL,
  phases_done     integer NOT NULL DEFAULT 0,
  control_path_ms integer,
  physical_ms     integer,
  failed_phase    text,
  failure_reason  text,
  requested_at    timestamptz NOT NULL,
  finished_at     timestamptz
);
CREATE INDEX IF NOT EXISTS rm_switches_by_time ON rm_switches (requested_at DESC, switch_id DESC);
CREATE TABLE IF NOT EXISTS rm_switch_phases (
  switch_id   text NOT NULL,
  idx         integer NOT NULL,
  phase       text NOT NULL,
  duration_ms integer NOT NULL,
  at          timestamptz NOT NULL,
  PRIMARY KEY (switch_id, idx)
);
`;

const facilityOf = async (tx: Sql, resourceId: string) =>
  (await tx.query<{ facility_id: string }>(`SELECT facility_id FROM rm_resources WHERE resource_id = $1`, [resourceId]))[0]?.facility_id;

export const fleetProjection: Projection = {
  name: 'fleet',
  eventTypes: new Set(['FacilityRegistered', 'PowerBudgetSet', 'ResourceRegistered', 'ResourceHealthChanged', 'ResourceAllocated', 'ResourceReleased', 'ModeSwitchRequested', 'SwitchPhaseCompleted', 'ModeSwitched', 'SwitchFailed']),
  schema: SCHEMA,
  tables: ['rm_switch_phases', 'rm_switches', 'rm_resources', 'rm_facilities'],
  async apply(tx, events): Promise<Change[]> {
    // allocations come in thousands and only add to a count: summed per resource, one statement per run of them
    const pending = new Map<string, { delta: number; at: string }>();
    const flush = async () => {
      if (pending.size === 0) return;
      const rows = [...pending];
      pending.clear();
      await tx.query(
        `UPDATE rm_resources r SET allocated_units = allocated_units + d.delta, updated_at = d.at
           FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS d(id, delta, at) WHERE r.resource_id = d.id`,
        [rows.map(([id]) => id), rows.map(([, d]) => d.delta), rows.map(([, d]) => d.at)],
      );
    };
    const changes: Change[] = [];
    for (const recorded of events) {
      if (recorded.type === 'ResourceAllocated' || recorded.type === 'ResourceReleased') {
        const d = recorded.data as { resourceId: string; units: number };
        const sum = pending.get(d.resourceId) ?? { delta: 0, at: recorded.metadata.occurredAt };
        pending.set(d.resourceId, { delta: sum.delta + (recorded.type === 'ResourceAllocated' ? d.units : -d.units), at: recorded.metadata.occurredAt });
        continue;
      }
      await flush();
      changes.push(...(await applyOne(tx, recorded)));
    }
    await flush();
    return changes;
  },
};

/** Every other event, one by one. */
const applyOne = async (tx: Sql, recorded: RecordedEvent): Promise<Change[]> => {
  const event = { type: recorded.type, data: recorded.data } as FacilityEvent | ResourceEvent;
  const at = recorded.metadata.occurredAt;
  switch (event.type) {
    case 'FacilityRegistered':
      await tx.query(
        `INSERT INTO rm_facilities (facility_id, name, market_node, power_budget_kw, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (facility_id) DO NOTHING`,
        [event.data.facilityId, event.data.name, event.data.marketNode, event.data.powerBudgetKw, at],
      );
      return [];
    case 'PowerBudgetSet':
      await tx.query(`UPDATE rm_facilities SET power_budget_kw = $2, updated_at = $3 WHERE facility_id = $1`, [
        event.data.facilityId,
        event.data.powerBudgetKw,
        at,
      ]);
      return [];
    case 'ResourceRegistered': {
      const r = event.data;
      await tx.query(
        `INSERT INTO rm_resources (resource_id, facility_id, kind, model, units, power_w_per_unit, hashrate_ths_per_unit, warm_standby_units, mode, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (resource_id) DO NOTHING`,
        [r.resourceId, r.facilityId, r.kind, r.model, r.units, r.powerWPerUnit, r.hashrateThsPerUnit, r.warmStandbyUnits ?? null, r.mode, at],
      );
      return [];
    }
    case 'ResourceHealthChanged':
      if (event.data.gpuId !== undefined) return []; // one GPU's: the GPUs read model's
      await tx.query(`UPDATE rm_resources SET healthy = $2, updated_at = $3 WHERE resource_id = $1`, [event.data.resourceId, event.data.healthy, at]);
      return [];
    case 'ModeSwitchRequested': {
      const facilityId = (await facilityOf(tx, event.data.resourceId)) ?? 'unknown';
      await tx.query(`UPDATE rm_resources SET switch_in_flight = $2, updated_at = $3 WHERE resource_id = $1`, [
        event.data.resourceId,
        event.data.switchId,
        at,
      ]);
      await tx.query(
        `INSERT INTO rm_switches (switch_id, resource_id, facility_id, from_mode, to_mode, reason, status, phases_total, requested_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'in_flight', $7, $8) ON CONFLICT (switch_id) DO NOTHING`,
        [event.data.switchId, event.data.resourceId, facilityId, event.data.from, event.data.to, event.data.reason, event.data.phases.length, at],
      );
      return [{ topic: 'switch', switchId: event.data.switchId, resourceId: event.data.resourceId, facilityId }];
    }
    case 'SwitchPhaseCompleted': {
      await tx.query(
        `INSERT INTO rm_switch_phases (switch_id, idx, phase, duration_ms, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
        [event.data.switchId, event.data.index, event.data.phase, event.data.durationMs, at],
      );
      await tx.query(`UPDATE rm_switches SET phases_done = $2 WHERE switch_id = $1`, [event.data.switchId, event.data.index + 1]);
      break;
    }
    case 'ModeSwitched':
    case 'SwitchFailed': {
      const { resourceId, switchId } = event.data;
      const mode = event.type === 'ModeSwitched' ? event.data.to : event.data.rolledBackTo;
      await tx.query(`UPDATE rm_resources SET mode = $2, switch_in_flight = NULL, updated_at = $3 WHERE resource_id = $1`, [resourceId, mode, at]);
      await tx.query(
        `UPDATE rm_switches SET status = $2, control_path_ms = $3, physical_ms = $4, failed_phase = $5, failure_reason = $6, finished_at = $7
          WHERE switch_id = $1`,
        event.type === 'ModeSwitched'
          ? [switchId, 'completed', event.data.controlPathMs, event.data.physicalMs, null, null, at]
          : [switchId, 'failed', null, null, event.data.phase, event.data.reason, at],
      );
      break;
    }
    default:
      return [];
  }
  const facilityId = (await facilityOf(tx, event.data.resourceId)) ?? 'unknown';
  return [{ topic: 'switch', switchId: event.data.switchId, resourceId: event.data.resourceId, facilityId }];
};
