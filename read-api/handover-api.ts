/** Power handovers through GraphQL: request one (admins), follow and list them (operators). Customers are refused. */
import { z } from 'zod';
import { requestHandover } from '../commands/handover.ts';
import { HANDOVER_DIRECTIONS, type HandoverDirection } from '../domain/resource/handover.ts';
import type { Sql } from '../infra/postgres/database.ts';
import { requireRole, STAFF_ROLES } from './auth.ts';
import { isoOrNull as iso } from '../domain/time.ts';
import { freeText, idSchema, InputError, optionalId, parseInput } from './inputs.ts';
import { inSubscription, liveFeed, sharedLoad } from './live.ts';
import type { GraphQLResolveInfo } from 'graphql';
import type { Change } from '../projections/projection.ts';
import { callerOf, settled } from './mutation-support.ts';
import type { ApiContext, ApiServices } from './resolvers.ts';
import { whereEquals } from './sql-filters.ts';

export const handoverTypeDefs = /* GraphQL */ `
  enum HandoverDirection { to_ai to_mining }
  enum HandoverStatus { in_flight rolling_back completed failed }

  "One switch of a facility's power between an ASIC block and a GPU pool, phase by phase."
  type Handover {
    id: ID!
    facilityId: ID!
    direction: HandoverDirection!
    asicResourceId: ID!
    gpuResourceId: ID!
    reason: String!
    status: HandoverStatus!
    "The phases in their order."
    plannedPhases: [String!]!
    phasesDone: Int!
    "Completed phases with their durations."
    phases: [SwitchPhaseTiming!]!
    "The facility's committed draw before and after, and its budget, kW."
    drawBeforeKw: Int!
    drawAfterKw: Int!
    powerBudgetKw: Int!
    "Signal to endpoint ready, without the physical ASIC ramp."
    controlPathMs: Int
    physicalMs: Int
    failedPhase: String
    failureReason: String
    "What was undone after a failure."
    rollback: String
    requestedAt: String!
    finishedAt: String
  }

  extend type Query {
    handovers(facilityId: ID, status: HandoverStatus, first: Int = 20): [Handover!]!
    handover(id: ID!): Handover
  }

  extend type Mutation {
    "Admin: move power between an ASIC block and a GPU pool of one facility as one switch (to_ai: ASICs ramp down, GPUs serve; to_mining: the reverse)."
    requestHandover(facilityId: ID!, direction: HandoverDirection!, asicResourceId: ID!, gpuResourceId: ID!, reason: String, commandId: ID): Handover!
  }

  extend type Subscription {
    "Each phase of handovers, of one facility or all."
    handoverProgress(facilityId: ID): Handover!
  }
`;

type HandoverRow = {
  handover_id: string;
  facility_id: string;
  direction: string;
  asic_resource_id: string;
  gpu_resource_id: string;
  reason: string;
  status: string;
  phases: string[];
  phases_done: number;
  draw_before_kw: number;
  draw_after_kw: number;
  power_budget_kw: number;
  control_path_ms: number | null;
  physical_ms: number | null;
  failed_phase: string | null;
  failure_reason: string | null;
  rollback: string | null;
  requested_at: string | Date;
  finished_at: string | Date | null;
};


const toHandover = (h: HandoverRow) => ({
  id: h.handover_id,
  facilityId: h.facility_id,
  direction: h.direction,
  asicResourceId: h.asic_resource_id,
  gpuResourceId: h.gpu_resource_id,
  reason: h.reason,
  status: h.status,
  plannedPhases: h.phases,
  phasesDone: h.phases_done,
  drawBeforeKw: h.draw_before_kw,
  drawAfterKw: h.draw_after_kw,
  powerBudgetKw: h.power_budget_kw,
  controlPathMs: h.control_path_ms,
  physicalMs: h.physical_ms,
  failedPhase: h.failed_phase,
  failureReason: h.failure_reason,
  rollback: h.rollback,
  requestedAt: iso(h.requested_at)!,
  finishedAt: iso(h.finished_at),
});
export type HandoverView = ReturnType<typeof toHandover>;

export const findHandover = async (db: Sql, handoverId: string) => {
  const [row] = await db.query<HandoverRow>(`SELECT * FROM rm_handovers WHERE handover_id = $1`, [handoverId]);
  return row ? toHandover(row) : undefined;
};

const listHandovers = async (db: Sql, filter: { facilityId?: string; status?: string; first: number }) => {
  const { where, params } = whereEquals([['facility_id', filter.facilityId], ['status', filter.status]]);
  params.push(filter.first);
  return (await db.query<HandoverRow>(`SELECT * FROM rm_handovers ${where} ORDER BY requested_at DESC, handover_id DESC LIMIT $${params.length}`, params)).map(toHandover);
};

const handoverPhases = async (db: Sql, handoverId: string) =>
  (
    await db.query<{ phase: string; duration_ms: number; at: string | Date }>(`SELECT phase, duration_ms, at FROM rm_handover_phases WHERE handover_id = $1 ORDER BY idx`, [
      handoverId,
    ])
  ).map((p) => ({ phase: p.phase, durationMs: p.duration_ms, at: iso(p.at)! }));

const STAFF = STAFF_ROLES;

const requestInput = z.strictObject({
  facilityId: idSchema,
  direction: z.enum(HANDOVER_DIRECTIONS),
  asicResourceId: idSchema,
  gpuResourceId: idSchema,
  reason: freeText(200).default('manual handover'),
});

export const createHandoverResolvers = (services: ApiServices) => {
  const { readModels: db, feed } = services;
  const handoverKey = (c: Change) => (c.topic === 'handover' ? c.handoverId : undefined);
  const deliveredHandover = sharedLoad(feed, handoverKey, (id) => findHandover(db, id));
  const deliveredPhases = sharedLoad(feed, handoverKey, (id) => handoverPhases(db, id));
  return {
    Handover: {
      phases: (h: HandoverView, _: unknown, __: unknown, info: GraphQLResolveInfo) => (inSubscription(info) ? deliveredPhases(h.id) : handoverPhases(db, h.id)),
    },
    Query: {
      handovers: (_: unknown, args: { facilityId?: string | null; status?: string | null; first?: number | null }, ctx: ApiContext) => {
        requireRole(ctx.principal, ...STAFF);
        const facilityId = optionalId(args.facilityId, 'facilityId');
        return listHandovers(db, {
          first: parseInput(z.number().int().min(1).max(500), args.first ?? 20, 'first'),
          ...(facilityId ? { facilityId } : {}),
          ...(args.status ? { status: args.status } : {}),
        });
      },
      handover: (_: unknown, args: { id: string }, ctx: ApiContext) => {
        requireRole(ctx.principal, ...STAFF);
        return findHandover(db, parseInput(idSchema, args.id, 'id'));
      },
    },
    Mutation: {
      requestHandover: async (_: unknown, args: Record<string, unknown>, ctx: ApiContext) => {
        requireRole(ctx.principal, 'admin');
        const { commandId: _commandId, ...rest } = args;
        const input = parseInput(requestInput, { ...rest, ...(rest.reason == null ? { reason: undefined } : {}) });
        const { handoverId, position } = await requestHandover(services.deps, callerOf(services, ctx, 'requestHandover', args), { ...input, direction: input.direction as HandoverDirection });
        await settled(services, position);
        const view = await findHandover(db, handoverId);
        if (!view) throw new InputError('facilityId', 'handover not found');
        return view;
      },
    },
    Subscription: {
      handoverProgress: {
        subscribe: async (_: unknown, args: { facilityId?: string | null }, ctx: ApiContext) => {
          requireRole(ctx.principal, ...STAFF);
          const facilityId = optionalId(args.facilityId, 'facilityId');
          return liveFeed({
            feed,
            select: (c) => (c.topic === 'handover' && (!facilityId || c.facilityId === facilityId) ? c.handoverId : undefined),
            load: deliveredHandover,
          });
        },
        resolve: (payload: HandoverView) => payload,
      },
    },
  };
};
