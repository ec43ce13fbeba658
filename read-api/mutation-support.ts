/** What every mutation does around its command: name the caller, and wait until the read models hold the result. */
import { GraphQLError } from 'graphql';
import { callerCommandId, requestDigest, type Caller } from '../commands/context.ts';
import type { GlobalPosition } from '../infra/event-store/position.ts';
import { commandIdSchema, parseInput } from './inputs.ts';
import type { ApiContext, ApiServices } from './resolvers.ts';

/** The caller of a mutation; its arguments but `commandId` are its request, fingerprinted with the mutation's name. */
export const callerOf = (services: ApiServices, ctx: ApiContext, mutation: string, args: { commandId?: unknown }): Caller => {
  const { commandId, ...request } = args;
  return {
    commandId: callerCommandId(commandId == null ? services.deps.ids.id('cmd') : parseInput(commandIdSchema, commandId, 'commandId')),
    correlationId: ctx.correlationId,
    actor: `${ctx.principal.role}:${ctx.principal.keyId}`,
    requestDigest: requestDigest({ [mutation]: request }),
  };
};

/** Read your writes: a mutation returns once the read models hold its events. */
export const settled = async (services: ApiServices, position: GlobalPosition | undefined) => {
  if (!(await services.progress.waitFor(position, 10_000)))
    throw new GraphQLError('the change was recorded but the read models are lagging; query again shortly', {
      extensions: { code: 'READ_MODEL_LAGGING' },
    });
};
