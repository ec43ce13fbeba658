/**
 * Recommendations and strike prices (operator data). A recommendation carries the
 * profit per hour of every option and its full inputs, as JSON for auditors.
 */
import { z } from 'zod';
import type { Recommendation } from '../domain/economics/controller.ts';
import { describePolicy, TRUST_FORECAST } from '../domain/economics/policy.ts';
import type { Sql } from '../infra/postgres/database.ts';
import { requireRole, STAFF_ROLES } from './auth.ts';
import { idSchema, parseInput } from './inputs.ts';
import { liveFeed, sharedLoad } from './live.ts';
import type { ApiContext, ApiServices } from './resolvers.ts';

export const economicsTypeDefs = /* GraphQL */ `
  type AsicGroupDecision {
    model: String!
    units: Int!
    mining: Int!
    sleeping: Int!
    "Electricity price above which sleeping beats mining, USD/MWh."
    strikeUsdPerMwh: Float!
    hysteresisUsdPerMwh: Float!
    joulesPerTh: Float!
  }
  type GpuPoolDecision { gpuType: String!, reserveWarm: Int!, serving: Int!, paused: Int!, yieldAboveUsdPerMwh: Float, rateUsdPerGpuHour: Float }
  type FacilityOptions { allActiveMicroUsdPerHour: SafeInt!, miningOnlyMicroUsdPerHour: SafeInt!, aiOnlyMicroUsdPerHour: SafeInt!, chosenMicroUsdPerHour: SafeInt! }
  "How far the decision trusted the forecast: which forecast it followed, and how much more than its cost leaving the active mode had to gain (null: hold still)."
  type ControllerPolicy { forecast: String!, margin: Float, description: String! }
  "A decision's power draw by fleet and mode, kW (it sums to totalKw)."
  type PowerSplit {
    "ASIC blocks mining."
    miningKw: Float!
    "GPU blocks serving or training."
    aiKw: Float!
    "Blocks idle: ASICs asleep, GPUs off (what idle hardware still draws)."
    idleKw: Float!
    "The GPUs held warm for real-time inference."
    warmReserveKw: Float!
  }
  type Recommendation {
    facilityId: ID!
    intervalStart: String!
    changed: Boolean!
    confidence: Float!
    reason: String!
    "The policy the controller's record chose for this decision."
    policy: ControllerPolicy!
    asicGroups: [AsicGroupDecision!]!
    gpuPools: [GpuPoolDecision!]!
    options: FacilityOptions!
    totalKw: Float!
    budgetKw: Float!
    power: PowerSplit!
    "Blocks that changed mode."
    switched: [String!]!
    "The whole recommendation with its inputs, for auditors to recompute."
    json: String!
  }
  type StrikePrice { facilityId: ID!, model: String!, strikeUsdPerMwh: Float!, joulesPerTh: Float! }

  extend type Query {
    recommendation(facilityId: ID!): Recommendation
    recommendations(facilityId: ID!, first: Int = 20): [Recommendation!]!
    "Per ASIC model, from the latest recommendation of each facility."
    strikePrices: [StrikePrice!]!
  }
  extend type Subscription {
    recommendationIssued(facilityId: ID): Recommendation!
  }
`;

type Stored = Recommendation & { intervalStart: string };

const kw = (x: number) => Math.round(x * 1000) / 1000;

/** The draw by fleet and mode: each block's in its mode, the warm reserve whatever is left of the total. */
const powerSplit = (r: Stored) => {
  let [mining, ai, idle] = [0, 0, 0];
  for (const o of r.options) {
    if (!o.active) idle += o.kwIdle;
    else if (o.blockId.startsWith('asic:')) mining += o.kwActive;
    else ai += o.kwActive;
  }
  return { miningKw: kw(mining), aiKw: kw(ai), idleKw: kw(idle), warmReserveKw: kw(Math.max(0, r.allocation.totalKw - mining - ai - idle)) };
};

const toView = (r: Stored) => ({
  facilityId: r.facilityId,
  intervalStart: r.intervalStart,
  changed: r.changed,
  confidence: r.confidence,
  reason: r.reason,
  // decisions recorded before the controller kept a record followed the forecast with no margin
  policy: ((p) => ({ ...p, description: describePolicy(p) }))(r.policy ?? TRUST_FORECAST),
  asicGroups: r.allocation.groups.filter((g) => g.kind === 'asic'),
  gpuPools: r.allocation.groups.filter((g) => g.kind === 'gpu'),
  options: {
    allActiveMicroUsdPerHour: r.facilityOptionsMicroUsdPerHour.allActive,
    miningOnlyMicroUsdPerHour: r.facilityOptionsMicroUsdPerHour.miningOnly,
    aiOnlyMicroUsdPerHour: r.facilityOptionsMicroUsdPerHour.aiOnly,
    chosenMicroUsdPerHour: r.facilityOptionsMicroUsdPerHour.chosen,
  },
  totalKw: r.allocation.totalKw,
  budgetKw: r.allocation.budgetKw,
  power: powerSplit(r),
  switched: r.switched,
  json: JSON.stringify(r),
});

const recent = async (db: Sql, facilityId: string, first: number) =>
  (
    await db.query<{ recommendation: Stored }>(
      `SELECT recommendation FROM rm_recommendations WHERE facility_id = $1 ORDER BY interval_start DESC LIMIT $2`,
      [facilityId, first],
    )
  ).map((r) => toView(r.recommendation));

const STAFF = STAFF_ROLES;

export const createEconomicsResolvers = ({ readModels: db, feed }: ApiServices) => {
  const deliveredRecommendation = sharedLoad(feed, (c) => (c.topic === 'recommendation' ? c.facilityId : undefined), async (facilityId) => (await recent(db, facilityId, 1))[0]);
  return {
    Query: {
      recommendation: async (_: unknown, args: { facilityId: string }, ctx: ApiContext) => {
        requireRole(ctx.principal, ...STAFF);
        return (await recent(db, parseInput(idSchema, args.facilityId, 'facilityId'), 1))[0] ?? null;
      },
      recommendations: async (_: unknown, args: { facilityId: string; first?: number | null }, ctx: ApiContext) => {
        requireRole(ctx.principal, ...STAFF);
        const first = parseInput(z.number().int().min(1).max(200), args.first ?? 20, 'first');
        return recent(db, parseInput(idSchema, args.facilityId, 'facilityId'), first);
      },
      strikePrices: async (_: unknown, __: unknown, ctx: ApiContext) => {
        requireRole(ctx.principal, ...STAFF);
        const latest = await db.query<{ recommendation: Stored }>(
          `SELECT DISTINCT ON (facility_id) recommendation FROM rm_recommendations ORDER BY facility_id, interval_start DESC`,
        );
        return latest.flatMap(({ recommendation: r }) =>
          r.allocation.groups.flatMap((g) => (g.kind === 'asic' ? [{ facilityId: r.facilityId, model: g.model, strikeUsdPerMwh: g.strikeUsdPerMwh, joulesPerTh: g.joulesPerTh }] : [])),
        );
      },
    },
    Subscription: {
      recommendationIssued: {
        subscribe: async (_: unknown, args: { facilityId?: string | null }, ctx: ApiContext) => {
          requireRole(ctx.principal, ...STAFF);
          const only = args.facilityId == null ? undefined : parseInput(idSchema, args.facilityId, 'facilityId');
          return liveFeed({
            feed,
            select: (c) => (c.topic === 'recommendation' && (!only || c.facilityId === only) ? c.facilityId : undefined),
            load: deliveredRecommendation,
          });
        },
        resolve: (payload: unknown) => payload,
      },
    },
  };
};
