/** GraphQL resolvers: authorize, validate, then call a command handler or a read-model query. */
import { GraphQLError, GraphQLScalarType, Kind, type GraphQLResolveInfo } from 'graphql';
import { issueApiKey, revokeApiKey } from '../commands/api-keys.ts';
import type { CommandDeps } from '../commands/context.ts';
import { grantQuota, registerCustomer } from '../commands/customers.ts';
import { cancelWorkload, submitWorkload } from '../commands/workloads.ts';
import { parseUsd } from '../domain/money.ts';
import type { GlobalPosition } from '../infra/event-store/position.ts';
import type { Sql } from '../infra/postgres/database.ts';
import type { ChangeFeed } from '../projections/change-feed.ts';
import type { ReadModelProgress } from '../projections/change-log.ts';
import type { ReadModelVersions } from '../projections/versions.ts';
import { AuthError, requireRole, scopeCustomer, type Principal } from './auth.ts';
import {
  grantQuotaInput,
  idSchema,
  InputError,
  issueApiKeyInput,
  parseInput,
  registerCustomerInput,
  submitWorkloadInput,
} from './inputs.ts';
import { renameRejectedField } from './errors.ts';
import { inSubscription, liveFeed, sharedLoad } from './live.ts';
import { callerOf as callerOfService, settled as settledService } from './mutation-support.ts';
import { decodeCursor, findApiKey, findCustomer, findWorkload, listCustomers, listWorkloads, workloadHistory, type WorkloadView } from './queries.ts';
import { z } from 'zod';
import type { Change } from '../projections/projection.ts';

export type ApiServices = {
  deps: CommandDeps;
  readModels: Sql;
  /** How far the read models are: a mutation answers once they hold what it appended. */
  progress: ReadModelProgress;
  feed: ChangeFeed;
  /** Read models built as of a moment; without them an `asOf` argument is refused. */
  versions?: ReadModelVersions;
};

export type ApiContext = { principal: Principal; correlationId: string };

const SafeInt = new GraphQLScalarType({
  name: 'SafeInt',
  serialize: (v) => {
    if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
    throw new GraphQLError('SafeInt cannot represent a non-integer or unsafe value');
  },
  parseValue: (v) => {
    if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
    throw new GraphQLError('SafeInt must be an integer between -(2^53-1) and 2^53-1');
  },
  parseLiteral: (ast) => {
    const v = ast.kind === Kind.INT ? Number(ast.value) : NaN;
    if (Number.isSafeInteger(v)) return v;
    throw new GraphQLError('SafeInt must be an integer between -(2^53-1) and 2^53-1');
  },
});

/** The account's fields, as the grantQuota input names them. */
/** A refused submission names the field of the input it came from (`input.gpuCount`), as input errors do. */
const REQUEST_FIELDS: ReadonlySet<string> = new Set(['type', 'model', 'gpuType', 'gpuCount', 'maxLatencyMs']);
const GRANT_FIELDS: Record<string, string> = { gpuSeconds: 'input.gpuHours', budgetMicroUsd: 'input.budgetUsd' };

const firstSchema = z.number().int().min(1).max(100);

/** A customer may see a workload only if it is theirs; "not found" either way, so ids disclose nothing. */
const visibleWorkload = (principal: Principal, w: WorkloadView | undefined) =>
  w && (principal.role !== 'customer' || w.customerId === principal.customerId) ? w : undefined;

export const createResolvers = (services: ApiServices) => {
  const { deps, readModels, feed } = services;
  const callerOf = (ctx: ApiContext, mutation: string, args: { commandId?: unknown }) => callerOfService(services, ctx, mutation, args);
  const settled = (position: GlobalPosition | undefined) => settledService(services, position);
  const customerOrFail = async (customerId: string) => {
    const c = await findCustomer(readModels, customerId);
    if (!c) throw new InputError('customerId', `customer ${customerId} not found`);
    return c;
  };
  // what a delivery loads, once per change for all subscribers
  const workloadKey = (c: Change) => (c.topic === 'workload' ? c.workloadId : undefined);
  const deliveredWorkload = sharedLoad(feed, workloadKey, (id) => findWorkload(readModels, id));
  const deliveredHistory = sharedLoad(feed, workloadKey, (id) => workloadHistory(readModels, id));
  const workloadOrFail = async (ctx: ApiContext, id: string) => {
    const w = visibleWorkload(ctx.principal, await findWorkload(readModels, id));
    if (!w) throw new InputError('id', 'workload not found');
    return w;
  };

  return {
    SafeInt,
    Workload: {
      history: (w: WorkloadView, _: unknown, __: unknown, info: GraphQLResolveInfo) =>
        inSubscription(info) ? deliveredHistory(w.id) : workloadHistory(readModels, w.id),
    },
    Principal: {
      customer: (p: Principal) => (p.role === 'customer' ? findCustomer(readModels, p.customerId) : null),
    },
    Query: {
      me: (_: unknown, __: unknown, ctx: ApiContext) => ctx.principal,
      workload: async (_: unknown, args: { id: string }, ctx: ApiContext) =>
        visibleWorkload(ctx.principal, await findWorkload(readModels, parseInput(idSchema, args.id, 'id'))) ?? null,
      workloads: async (
        _: unknown,
        args: { status?: string | null; first?: number | null; after?: string | null; customerId?: string | null },
        ctx: ApiContext,
      ) => {
        const first = parseInput(firstSchema, args.first ?? 20, 'first');
        const after = args.after == null ? undefined : decodeCursor(args.after);
        if (args.after != null && !after) throw new InputError('after', 'not a cursor from this API');
        const customerId = scopeCustomer(ctx.principal, args.customerId == null ? undefined : parseInput(idSchema, args.customerId, 'customerId'));
        return listWorkloads(readModels, {
          first,
          ...(after ? { after } : {}),
          ...(customerId ? { customerId } : {}),
          ...(args.status ? { status: args.status } : {}),
        });
      },
      balance: async (_: unknown, args: { customerId?: string | null }, ctx: ApiContext) => {
        const customerId = scopeCustomer(ctx.principal, args.customerId == null ? undefined : parseInput(idSchema, args.customerId, 'customerId'));
        if (!customerId) throw new InputError('customerId', 'staff must name a customerId');
        return (await customerOrFail(customerId)).balance;
      },
      customers: async (_: unknown, args: { first?: number | null }, ctx: ApiContext) => {
        requireRole(ctx.principal, 'admin', 'auditor', 'analyst');
        return listCustomers(readModels, parseInput(z.number().int().min(1).max(500), args.first ?? 50, 'first'));
      },
    },
    Mutation: {
      registerCustomer: async (_: unknown, args: { input: unknown; commandId?: string }, ctx: ApiContext) => {
        requireRole(ctx.principal, 'admin');
        const input = parseInput(registerCustomerInput, args.input, 'input');
        const { customerId, position } = await registerCustomer(deps, callerOf(ctx, 'registerCustomer', args), input);
        await settled(position);
        return customerOrFail(customerId);
      },
      grantQuota: async (_: unknown, args: { input: unknown; commandId?: string }, ctx: ApiContext) => {
        requireRole(ctx.principal, 'admin');
        const input = parseInput(grantQuotaInput, args.input, 'input');
        // the account counts GPU-seconds and micro-USD; a refusal names what the caller gave, GPU-hours and USD
        const handled = await grantQuota(deps, callerOf(ctx, 'grantQuota', args), {
          customerId: input.customerId,
          gpuSeconds: Math.round(input.gpuHours * 3600),
          budgetMicroUsd: parseUsd(input.budgetUsd)!,
        }).catch(renameRejectedField((field) => GRANT_FIELDS[field]));
        await settled(handled.position);
        return (await customerOrFail(input.customerId)).balance;
      },
      issueApiKey: async (_: unknown, args: Record<string, unknown>, ctx: ApiContext) => {
        requireRole(ctx.principal, 'admin');
        const { commandId: _commandId, ...rest } = args;
        const input = parseInput(issueApiKeyInput, Object.fromEntries(Object.entries(rest).filter(([, v]) => v != null)));
        if (input.customerId) await customerOrFail(input.customerId);
        const issued = await issueApiKey(deps, callerOf(ctx, 'issueApiKey', args), input);
        await settled(issued.position);
        return issued;
      },
      revokeApiKey: async (_: unknown, args: { keyId: string; commandId?: string }, ctx: ApiContext) => {
        requireRole(ctx.principal, 'admin');
        const keyId = parseInput(idSchema, args.keyId, 'keyId');
        const { position } = await revokeApiKey(deps, callerOf(ctx, 'revokeApiKey', args), { keyId });
        await settled(position);
        return findApiKey(readModels, keyId);
      },
      submitWorkload: async (_: unknown, args: { input: unknown; commandId?: string }, ctx: ApiContext) => {
        requireRole(ctx.principal, 'customer', 'admin');
        const input = parseInput(submitWorkloadInput, args.input, 'input');
        const customerId = scopeCustomer(ctx.principal, input.customerId);
        if (!customerId) throw new InputError('input.customerId', 'staff must name the customer to submit for');
        const { workloadId, position } = await submitWorkload(deps, callerOf(ctx, 'submitWorkload', args), {
          customerId,
          request: input.request,
        }).catch(renameRejectedField((field) => (REQUEST_FIELDS.has(field) ? `input.${field}` : undefined)));
        await settled(position);
        return workloadOrFail(ctx, workloadId);
      },
      cancelWorkload: async (_: unknown, args: { id: string; commandId?: string }, ctx: ApiContext) => {
        requireRole(ctx.principal, 'customer', 'admin');
        const id = parseInput(idSchema, args.id, 'id');
        const { position } = await cancelWorkload(deps, callerOf(ctx, 'cancelWorkload', args), {
          workloadId: id,
          reason: `cancelled by ${ctx.principal.role}`,
          ...(ctx.principal.role === 'customer' ? { customerId: ctx.principal.customerId } : {}),
        });
        await settled(position);
        return workloadOrFail(ctx, id);
      },
    },
    Subscription: {
      workloadUpdated: {
        subscribe: async (_: unknown, args: { id?: string | null }, ctx: ApiContext) => {
          const { principal } = ctx;
          if (!principal) throw new AuthError('UNAUTHENTICATED', 'subscriptions need an API key in connectionParams');
          const id = args.id == null ? undefined : parseInput(idSchema, args.id, 'id');
          if (id) await workloadOrFail(ctx, id);
          const ownerOnly = principal.role === 'customer' ? principal.customerId : undefined;
          return liveFeed({
            feed,
            select: (c) =>
              c.topic === 'workload' && (!id || c.workloadId === id) && (!ownerOnly || c.customerId === ownerOnly)
                ? c.workloadId
                : undefined,
            // authorize again at delivery: the row decides, not the notification
            load: async (workloadId) => visibleWorkload(principal, await deliveredWorkload(workloadId)),
          });
        },
        resolve: (payload: WorkloadView) => payload,
      },
    },
  };
};
