/** Resolvers for operator data. Customers are refused: fleet state is the operator's. */
import { z } from 'zod';
import { requestSwitch } from '../commands/fleet.ts';
import type { ResourceMode } from '../domain/resource/switching.ts';
import { requireRole, STAFF_ROLES } from './auth.ts';
import { findSwitch, listFacilities, listResources, listSwitches, switchLatency, switchPhases, type SwitchView } from './fleet-queries.ts';
import { freeText, idSchema, InputError, optionalId, parseInput } from './inputs.ts';
import { inSubscription, liveFeed, sharedLoad } from './live.ts';
import type { GraphQLResolveInfo } from 'graphql';
import type { Change } from '../projections/projection.ts';
import type { ApiContext, ApiServices } from './resolvers.ts';
import { callerOf, settled } from './mutation-support.ts';

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
