/** Read model of facilities, their resources with current mode, and switches with per-phase durations. */
import type { FacilityEvent } from '../domain/facility/facility.ts';
import type { ResourceEvent } from '../domain/resource/resource.ts';
import type { Change, Projection } from './projection.ts';
import { insertRows, loadRows, saveRows, type Int8, type Row, type RowTable, type Time } from './rows.ts';

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

const FACILITIES: RowTable = { name: 'rm_facilities', key: ['facility_id'] };
const RESOURCES: RowTable = { name: 'rm_resources', key: ['resource_id'] };
const SWITCHES: RowTable = { name: 'rm_switches', key: ['switch_id'] };

type FacilityRow = { facility_id: string; name: string; market_node: string; power_budget_kw: Int8; updated_at: Time };
/** A row of rm_resources. */
export type ResourceRow = {
  resource_id: string;
  facility_id: string;
  kind: string;
  model: string;
  units: number;
  power_w_per_unit: number;
  hashrate_ths_per_unit: number | null;
  mode: string;
  healthy: boolean;
  allocated_units: number;
  switch_in_flight: string | null;
  updated_at: Time;
  warm_standby_units: number | null;
};
/** A row of rm_switches. */
export type SwitchRow = {
  switch_id: string;
  resource_id: string;
  facility_id: string;
  from_mode: string;
  to_mode: string;
  reason: string;
  status: string;
  phases_total: number;
  phases_done: number;
  control_path_ms: number | null;
  physical_ms: number | null;
  failed_phase: string | null;
  failure_reason: string | null;
  requested_at: Time;
  finished_at: Time | null;
};

type FleetEvent = FacilityEvent | ResourceEvent;
const keyed = (events: readonly FleetEvent[], field: 'facilityId' | 'resourceId' | 'switchId') =>
  events.flatMap((e) => (field in e.data ? [[(e.data as Record<string, string>)[field]]] : []));

export const fleetProjection: Projection = {
  name: 'fleet',
  eventTypes: new Set(['FacilityRegistered', 'PowerBudgetSet', 'ResourceRegistered', 'ResourceHealthChanged', 'ResourceAllocated', 'ResourceReleased', 'ModeSwitchRequested', 'SwitchPhaseCompleted', 'ModeSwitched', 'SwitchFailed']),
  schema: SCHEMA,
  tables: ['rm_switch_phases', 'rm_switches', 'rm_resources', 'rm_facilities'],
  async apply(tx, recorded): Promise<Change[]> {
    const events = recorded.map((e) => ({ type: e.type, data: e.data }) as FleetEvent);
    // 1. load what the batch touches
    const facilities = await loadRows<FacilityRow>(tx, FACILITIES, keyed(events, 'facilityId'));
    const resources = await loadRows<ResourceRow>(tx, RESOURCES, keyed(events, 'resourceId'));
    const switches = await loadRows<SwitchRow>(tx, SWITCHES, keyed(events, 'switchId'));
    const phases: Row[] = [];
    const changes: Change[] = [];

    // 2. apply each event to the rows in memory
    recorded.forEach(({ metadata: { occurredAt: at } }, i) => {
      const event = events[i]!;
      switch (event.type) {
        case 'FacilityRegistered': {
          const d = event.data;
          if (!facilities.get(d.facilityId)) facilities.put({ facility_id: d.facilityId, name: d.name, market_node: d.marketNode, power_budget_kw: d.powerBudgetKw, updated_at: at });
          return;
        }
        case 'PowerBudgetSet':
          facilities.change(facilities.get(event.data.facilityId), { power_budget_kw: event.data.powerBudgetKw, updated_at: at });
          return;
        case 'ResourceRegistered': {
          const r = event.data;
          if (!resources.get(r.resourceId))
            resources.put({
              resource_id: r.resourceId, facility_id: r.facilityId, kind: r.kind, model: r.model, units: r.units, power_w_per_unit: r.powerWPerUnit,
              hashrate_ths_per_unit: r.hashrateThsPerUnit ?? null, mode: r.mode, healthy: true, allocated_units: 0, switch_in_flight: null, updated_at: at,
              warm_standby_units: r.warmStandbyUnits ?? null,
            });
          return;
        }
        case 'ResourceHealthChanged':
          // one GPU's health is the GPUs read model's
          if (event.data.gpuId === undefined) resources.change(resources.get(event.data.resourceId), { healthy: event.data.healthy, updated_at: at });
          return;
        case 'ResourceAllocated':
        case 'ResourceReleased': {
          const row = resources.get(event.data.resourceId);
          if (row) resources.change(row, { allocated_units: row.allocated_units + (event.type === 'ResourceAllocated' ? event.data.units : -event.data.units), updated_at: at });
          return;
        }
        case 'ModeSwitchRequested': {
          const d = event.data;
          const resource = resources.get(d.resourceId);
          resources.change(resource, { switch_in_flight: d.switchId, updated_at: at });
          if (!switches.get(d.switchId))
            switches.put({
              switch_id: d.switchId, resource_id: d.resourceId, facility_id: resource?.facility_id ?? 'unknown', from_mode: d.from, to_mode: d.to, reason: d.reason,
              status: 'in_flight', phases_total: d.phases.length, phases_done: 0, control_path_ms: null, physical_ms: null, failed_phase: null, failure_reason: null,
              requested_at: at, finished_at: null,
            });
          break;
        }
        case 'SwitchPhaseCompleted': {
          const d = event.data;
          phases.push({ switch_id: d.switchId, idx: d.index, phase: d.phase, duration_ms: d.durationMs, at });
          switches.change(switches.get(d.switchId), { phases_done: d.index + 1 });
          break;
        }
        case 'ModeSwitched':
        case 'SwitchFailed': {
          const d = event.data;
          resources.change(resources.get(d.resourceId), { mode: event.type === 'ModeSwitched' ? event.data.to : event.data.rolledBackTo, switch_in_flight: null, updated_at: at });
          switches.change(
            switches.get(d.switchId),
            event.type === 'ModeSwitched'
              ? { status: 'completed', control_path_ms: event.data.controlPathMs, physical_ms: event.data.physicalMs, failed_phase: null, failure_reason: null, finished_at: at }
              : { status: 'failed', control_path_ms: null, physical_ms: null, failed_phase: event.data.phase, failure_reason: event.data.reason, finished_at: at },
          );
          break;
        }
        default:
          return;
      }
      const { resourceId, switchId } = event.data;
      changes.push({ topic: 'switch', switchId, resourceId, facilityId: resources.get(resourceId)?.facility_id ?? 'unknown' });
    });

    // 3. write back: one statement per table
    await saveRows(tx, facilities);
    await saveRows(tx, resources);
    await saveRows(tx, switches);
    await insertRows(tx, 'rm_switch_phases', phases);
    return changes;
  },
};
