/**
 * The GPU fleet unit by unit (operator data): each GPU's host, health, service, model and
 * workload, each pool's warm targets; an admin takes a GPU out of service (its workload, if
 * any, is moved) and back.
 */
import { z } from 'zod';
import { contextFor } from '../commands/context.ts';
import { accepted } from '../commands/context.ts';
import { handleCommand } from '../commands/handle.ts';
import { GPU_HEALTH } from '../domain/fleet/gpus.ts';
import { resourceDecider, resourceStream } from '../domain/resource/resource.ts';
import { iso } from '../domain/time.ts';
import type { Sql } from '../infra/postgres/database.ts';
import { requireRole, STAFF_ROLES } from './auth.ts';
import { freeText, idSchema, InputError, optionalId, parseInput } from './inputs.ts';
import { callerOf, settled } from './mutation-support.ts';
import type { ApiContext, ApiServices } from './resolvers.ts';

export const gpusTypeDefs = /* GraphQL */ `
  enum GpuHealth { healthy degraded failed }
  enum GpuMode { off warming warm_standby serving training }

  type Gpu {
    id: ID!
    resourceId: ID!
    facilityId: ID!
    gpuType: GpuType!
    host: Int!
    slot: Int!
    health: GpuHealth!
    inService: Boolean!
    mode: GpuMode!
    "The model in memory (warm standby), or being loaded."
    model: String
    workloadId: ID
    updatedAt: String!
  }
  type WarmTarget { resourceId: ID!, model: String!, target: Int! }

  extend type Query {
    gpus(resourceId: ID, facilityId: ID, health: GpuHealth, mode: GpuMode, first: Int = 100): [Gpu!]!
    warmTargets(resourceId: ID): [WarmTarget!]!
  }
  extend type Mutation {
    "Admin: take a GPU out of service (its workload is moved) or put it back."
    setGpuInService(gpuId: ID!, inService: Boolean!, reason: String, commandId: ID): Gpu!
  }
`;

type GpuRow = { gpu_id: string; resource_id: string; facility_id: string; gpu_type: string; host: number; slot: number; health: string; in_service: boolean; mode: string; model: string | null; workload_id: string | null; updated_at: string | Date };
const toGpu = (r: GpuRow) => ({
  id: r.gpu_id,
  resourceId: r.resource_id,
  facilityId: r.facility_id,
  gpuType: r.gpu_type,
  host: r.host,
  slot: r.slot,
  health: r.health,
  inService: r.in_service,
  mode: r.mode,
  model: r.model,
  workloadId: r.workload_id,
  updatedAt: iso(r.updated_at),
});
const GPU_COLUMNS = `gpu_id, resource_id, facility_id, gpu_type, host, slot, health, in_service, mode, model, workload_id, updated_at`;

export const findGpu = async (db: Sql, gpuId: string) => {
  const [row] = await db.query<GpuRow>(`SELECT ${GPU_COLUMNS} FROM rm_gpus WHERE gpu_id = $1`, [gpuId]);
  return row ? toGpu(row) : undefined;
};

const MODES = ['off', 'warming', 'warm_standby', 'serving', 'training'] as const;

export const createGpuResolvers = (services: ApiServices) => {
  const { readModels: db } = services;
  return {
    Query: {
      gpus: async (_: unknown, args: { resourceId?: string | null; facilityId?: string | null; health?: string | null; mode?: string | null; first?: number | null }, ctx: ApiContext) => {
        requireRole(ctx.principal, ...STAFF_ROLES);
        const first = parseInput(z.number().int().min(1).max(1000), args.first ?? 100, 'first');
        const params: unknown[] = [];
        const where: string[] = [];
        const add = (column: string, value: unknown) => {
          if (value == null) return;
          params.push(value);
          where.push(`${column} = $${params.length}`);
        };
        add('resource_id', optionalId(args.resourceId, 'resourceId'));
        add('facility_id', optionalId(args.facilityId, 'facilityId'));
        add('health', args.health == null ? undefined : parseInput(z.enum(GPU_HEALTH), args.health, 'health'));
        add('mode', args.mode == null ? undefined : parseInput(z.enum(MODES), args.mode, 'mode'));
        params.push(first);
        return (await db.query<GpuRow>(`SELECT ${GPU_COLUMNS} FROM rm_gpus ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY gpu_id LIMIT $${params.length}`, params)).map(toGpu);
      },
      warmTargets: async (_: unknown, args: { resourceId?: string | null }, ctx: ApiContext) => {
        requireRole(ctx.principal, ...STAFF_ROLES);
        const resourceId = optionalId(args.resourceId, 'resourceId');
        return (
          await db.query<{ resource_id: string; model: string; target: number }>(
            `SELECT resource_id, model, target FROM rm_warm_targets ${resourceId ? 'WHERE resource_id = $1' : ''} ORDER BY resource_id, model`,
            resourceId ? [resourceId] : [],
          )
        ).map((r) => ({ resourceId: r.resource_id, model: r.model, target: r.target }));
      },
    },
    Mutation: {
      setGpuInService: async (_: unknown, args: { gpuId: string; inService: boolean; reason?: string | null; commandId?: string }, ctx: ApiContext) => {
        requireRole(ctx.principal, 'admin');
        const gpuId = parseInput(idSchema, args.gpuId, 'gpuId');
        const reason = parseInput(freeText(200), args.reason ?? (args.inService ? 'back in service' : 'taken out of service'), 'reason');
        const gpu = await findGpu(db, gpuId);
        if (!gpu) throw new InputError('gpuId', `no GPU ${gpuId}`);
        const caller = callerOf(services, ctx, 'setGpuInService', args);
        const handled = accepted(
          await handleCommand(services.deps.store, resourceDecider, resourceStream(gpu.resourceId), { type: 'SetGpuService', gpuId, inService: args.inService, reason }, contextFor(services.deps, caller)),
        );
        await settled(services, handled.position);
        return findGpu(db, gpuId);
      },
    },
  };
};
