/**
 * Operator data: facilities, resources (with their draw in the current mode), switches and their
 * phases, switch latency; an admin requests a switch and follows it. Staff only: fleet state is
 * the operator's, and customers are refused.
 */
import { drawKw } from '../domain/resource/power.ts';
import type { ResourceMode } from '../domain/resource/switching.ts';
import type { Sql } from '../infra/postgres/database.ts';
import type { ResourceRow, SwitchRow } from '../projections/fleet.ts';
import { whereEquals } from './sql-filters.ts';
import { isoOrNull as iso } from '../domain/time.ts';
import { z } from 'zod';
import { requestSwitch } from '../commands/fleet.ts';
import { requireRole, STAFF_ROLES } from './auth.ts';
import { freeText, idSchema, InputError, optionalId, parseInput } from './inputs.ts';
import { inSubscription, liveFeed, sharedLoad } from './live.ts';
import type { GraphQLResolveInfo } from 'graphql';
import type { Change } from '../projections/projection.ts';
import type { ApiContext, ApiServices } from './resolvers.ts';
import { callerOf, settled } from './mutation-support.ts';

export const fleetTypeDefs = /* GraphQL */ `
  enum ResourceKind { asic_group gpu_pool }
  enum ResourceMode { mining underclocked sleeping off warm_standby serving training }
  enum SwitchStatus { in_flight completed failed }

  type Facility {
    id: ID!
    name: String!
    "ERCOT settlement point pricing its electricity."
    marketNode: String!
    powerBudgetKw: Int!
    resources: [Resource!]!
  }

  type Resource {
    id: ID!
    facilityId: ID!
    kind: ResourceKind!
    "ASIC model or GPU type."
    model: String!
    units: Int!
    powerWPerUnit: Int!
    hashrateThsPerUnit: Int
    "GPU pools: GPUs held warm for real-time inference."
    warmStandbyUnits: Int
    "Nameplate draw in the current mode."
    powerKw: Float!
    mode: ResourceMode!
    healthy: Boolean!
    allocatedUnits: Int!
    switchInFlight: ID
  }

  type SwitchPhaseTiming { phase: String!, durationMs: Int!, at: String! }

  type Switch {
    id: ID!
    resourceId: ID!
    facilityId: ID!
    from: ResourceMode!
    to: ResourceMode!
    reason: String!
    status: SwitchStatus!
    phasesTotal: Int!
    phasesDone: Int!
    "Signal to endpoint ready, without the physical ASIC ramp."
    controlPathMs: Int
    "The ASIC ramp, reported beside the control path."
    physicalMs: Int
    failedPhase: String
    failureReason: String
    requestedAt: String!
    finishedAt: String
    phases: [SwitchPhaseTiming!]!
  }

  type LatencyPercentiles { p50Ms: Float, p95Ms: Float, p99Ms: Float, maxMs: Float }
  type SwitchLatency { completed: Int!, controlPath: LatencyPercentiles!, physicalRamp: LatencyPercentiles! }

  extend type Query {
    facilities: [Facility!]!
    resources(facilityId: ID, kind: ResourceKind, mode: ResourceMode): [Resource!]!
    switches(resourceId: ID, facilityId: ID, status: SwitchStatus, first: Int = 20): [Switch!]!
    switchLatency(facilityId: ID): SwitchLatency!
  }

  extend type Mutation {
    "Admin: switch a resource to another mode by hand."
    requestSwitch(resourceId: ID!, to: ResourceMode!, reason: String, commandId: ID): Switch!
  }

  extend type Subscription {
    "Each phase of switches, of one resource or all."
    switchProgress(resourceId: ID): Switch!
  }
`;

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

const STAFF = STAFF_ROLES;

export const createFleetResolvers = (services: ApiServices) => {
  const { readModels: db, feed } = services;
  const switchKey = (c: Change) => (c.topic === 'switch' ? c.switchId : undefined);
  const deliveredSwitch = sharedLoad(feed, switchKey, (id) => findSwitch(db, id));
  const deliveredPhases = sharedLoad(feed, switchKey, (id) => switchPhases(db, id));
  return {
    Facility: {
      resources: (f: { id: string }) => listResources(db, { facilityId: f.id }),
    },
    Switch: {
      phases: (s: SwitchView, _: unknown, __: unknown, info: GraphQLResolveInfo) => (inSubscription(info) ? deliveredPhases(s.id) : switchPhases(db, s.id)),
    },
    Query: {
      facilities: (_: unknown, __: unknown, ctx: ApiContext) => {
        requireRole(ctx.principal, ...STAFF);
        return listFacilities(db);
      },
      resources: (_: unknown, args: { facilityId?: string; kind?: string; mode?: string }, ctx: ApiContext) => {
        requireRole(ctx.principal, ...STAFF);
        const facilityId = optionalId(args.facilityId, 'facilityId');
        return listResources(db, { ...(facilityId ? { facilityId } : {}), ...(args.kind ? { kind: args.kind } : {}), ...(args.mode ? { mode: args.mode } : {}) });
      },
      switches: (_: unknown, args: { resourceId?: string; facilityId?: string; status?: string; first?: number | null }, ctx: ApiContext) => {
        requireRole(ctx.principal, ...STAFF);
        const resourceId = optionalId(args.resourceId, 'resourceId');
        const facilityId = optionalId(args.facilityId, 'facilityId');
        return listSwitches(db, {
          first: parseInput(z.number().int().min(1).max(500), args.first ?? 20, 'first'),
          ...(resourceId ? { resourceId } : {}),
          ...(facilityId ? { facilityId } : {}),
          ...(args.status ? { status: args.status } : {}),
        });
      },
      switchLatency: (_: unknown, args: { facilityId?: string }, ctx: ApiContext) => {
        requireRole(ctx.principal, ...STAFF);
        return switchLatency(db, optionalId(args.facilityId, 'facilityId'));
      },
    },
    Mutation: {
      requestSwitch: async (_: unknown, args: { resourceId: string; to: ResourceMode; reason?: string; commandId?: string }, ctx: ApiContext) => {
        requireRole(ctx.principal, 'admin');
        const resourceId = parseInput(idSchema, args.resourceId, 'resourceId');
        const reason = parseInput(freeText(200), args.reason ?? 'manual switch', 'reason');
        const { switchId, position } = await requestSwitch(services.deps, callerOf(services, ctx, 'requestSwitch', args), { resourceId, to: args.to, reason });
        await settled(services, position);
        const view = await findSwitch(db, switchId);
        if (!view) throw new InputError('resourceId', 'switch not found');
        return view;
      },
    },
    Subscription: {
      switchProgress: {
        subscribe: async (_: unknown, args: { resourceId?: string | null }, ctx: ApiContext) => {
          requireRole(ctx.principal, ...STAFF);
          const resourceId = optionalId(args.resourceId, 'resourceId');
          return liveFeed({
            feed,
            select: (c) => (c.topic === 'switch' && (!resourceId || c.resourceId === resourceId) ? c.switchId : undefined),
            load: deliveredSwitch,
          });
        },
        resolve: (payload: SwitchView) => payload,
      },
    },
  };
};
