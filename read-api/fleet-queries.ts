/** Read-model queries for operators: facilities, resources, switches and switch latency. */
import { drawKw } from '../domain/resource/power.ts';
import type { ResourceMode } from '../domain/resource/switching.ts';
import type { Sql } from '../infra/postgres/database.ts';
import type { ResourceRow, SwitchRow } from '../projections/fleet.ts';
import { whereEquals } from './sql-filters.ts';
import { isoOrNull as iso } from '../domain/time.ts';

export const listFacilities = async (db: Sql) =>
  (
    await db.query<{ facility_id: string; name: string; market_node: string; power_budget_kw: string }>(
      `SELECT facility_id, name, market_node, power_budget_kw::text FROM rm_facilities ORDER BY facility_id`,
    )
  ).map((f) => ({ id: f.facility_id, name: f.name, marketNode: f.market_node, powerBudgetKw: Number(f.power_budget_kw) }));

const toResource = (r: ResourceRow) => ({
  id: r.resource_id,
  facilityId: r.facility_id,
  kind: r.kind,
  model: r.model,
  units: r.units,
  powerWPerUnit: r.power_w_per_unit,
  hashrateThsPerUnit: r.hashrate_ths_per_unit,
  warmStandbyUnits: r.warm_standby_units,
  /** Nameplate draw of the whole resource in its current mode (the facility's power ledger: domain/resource/power.ts). */
  powerKw: drawKw({ units: r.units, powerWPerUnit: r.power_w_per_unit }, r.mode as ResourceMode),
  mode: r.mode,
  healthy: r.healthy,
  allocatedUnits: r.allocated_units,
  switchInFlight: r.switch_in_flight,
});

export const listResources = async (db: Sql, filter: { facilityId?: string; kind?: string; mode?: string }) => {
  const { where, params } = whereEquals([['facility_id', filter.facilityId], ['kind', filter.kind], ['mode', filter.mode]]);
  return (await db.query<ResourceRow>(`SELECT * FROM rm_resources ${where} ORDER BY facility_id, resource_id`, params)).map(toResource);
};

const toSwitch = (s: SwitchRow) => ({
  id: s.switch_id,
  resourceId: s.resource_id,
  facilityId: s.facility_id,
  from: s.from_mode,
  to: s.to_mode,
  reason: s.reason,
  status: s.status,
  phasesTotal: s.phases_total,
  phasesDone: s.phases_done,
  controlPathMs: s.control_path_ms,
  physicalMs: s.physical_ms,
  failedPhase: s.failed_phase,
  failureReason: s.failure_reason,
  requestedAt: iso(s.requested_at)!,
  finishedAt: iso(s.finished_at),
});
export type SwitchView = ReturnType<typeof toSwitch>;

export const findSwitch = async (db: Sql, switchId: string) => {
  const [row] = await db.query<SwitchRow>(`SELECT * FROM rm_switches WHERE switch_id = $1`, [switchId]);
  return row ? toSwitch(row) : undefined;
};

export const listSwitches = async (db: Sql, filter: { resourceId?: string; facilityId?: string; status?: string; first: number }) => {
  const { where, params } = whereEquals([['resource_id', filter.resourceId], ['facility_id', filter.facilityId], ['status', filter.status]]);
  params.push(filter.first);
  return (
    await db.query<SwitchRow>(`SELECT * FROM rm_switches ${where} ORDER BY requested_at DESC, switch_id DESC LIMIT $${params.length}`, params)
  ).map(toSwitch);
};

export const switchPhases = async (db: Sql, switchId: string) =>
  (
    await db.query<{ phase: string; duration_ms: number; at: string | Date }>(
      `SELECT phase, duration_ms, at FROM rm_switch_phases WHERE switch_id = $1 ORDER BY idx`,
      [switchId],
    )
  ).map((p) => ({ phase: p.phase, durationMs: p.duration_ms, at: iso(p.at)! }));

/** Latency percentiles of completed switches: the control path and the physical ramp, apart. */
export const switchLatency = async (db: Sql, facilityId: string | undefined) => {
  const [row] = await db.query<Record<string, number | string | null>>(
    `SELECT count(*)::int AS n,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY control_path_ms) AS c50,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY control_path_ms) AS c95,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY control_path_ms) AS c99,
            max(control_path_ms) AS cmax,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY physical_ms) FILTER (WHERE physical_ms > 0) AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY physical_ms) FILTER (WHERE physical_ms > 0) AS p99,
            max(physical_ms) AS pmax
       FROM rm_switches WHERE status = 'completed' AND ($1::text IS NULL OR facility_id = $1)`,
    [facilityId ?? null],
  );
  const num = (v: number | string | null | undefined) => (v === null || v === undefined ? null : Number(v));
  return {
    completed: Number(row?.n ?? 0),
    controlPath: { p50Ms: num(row?.c50), p95Ms: num(row?.c95), p99Ms: num(row?.c99), maxMs: num(row?.cmax) },
    physicalRamp: { p50Ms: num(row?.p50), p99Ms: num(row?.p99), maxMs: num(row?.pmax) },
  };
};
