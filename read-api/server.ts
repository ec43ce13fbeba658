/**
 * The read API: fastify + mercurius (GraphQL over HTTP, graphql-ws subscriptions,
 * GraphiQL) and REST. Every request is authenticated before it runs; WebSocket
 * connections authenticate in connection_init and every subscription is validated
 * like a query (mercurius skips validation on that path) and depth-limited.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import mercurius from 'mercurius';
import { GraphQLError, GraphQLScalarType, Kind, specifiedRules, validate } from 'graphql';
import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import { createAuthenticator, AuthError, type Principal } from './auth.ts';
import { isUnexpected, publicError, toGraphQLError } from './errors.ts';
import { createResolvers, type ApiContext, type ApiServices } from './resolvers.ts';
import { registerRest } from './rest.ts';
import { typeDefs } from './schema.ts';
import { fleetTypeDefs } from './fleet-schema.ts';
import { createFleetResolvers } from './fleet-resolvers.ts';
import { marketTypeDefs } from './market-schema.ts';
import { createMarketResolvers } from './market-resolvers.ts';
import { createEconomicsResolvers, economicsTypeDefs } from './economics-api.ts';
import { createHandoverResolvers, handoverTypeDefs } from './handover-api.ts';
import { registerMetrics } from './metrics.ts';
import { checkQueryCost, QUERY_COST_LIMIT } from './query-cost.ts';
import { callersOf, createRateLimiter, RateLimitedError } from './rate-limit.ts';

type ResolverMap = Record<string, Record<string, unknown> | unknown>;

/** Merges resolver maps type by type (Query, Mutation, ... from each part). */
const mergeResolvers = (...maps: ResolverMap[]) => {
  const merged: Record<string, unknown> = {};
  for (const map of maps)
    for (const [type, fields] of Object.entries(map))
      merged[type] =
        typeof fields === 'object' && fields !== null && !(fields instanceof GraphQLScalarType)
          ? { ...(merged[type] as object | undefined), ...fields }
          : fields;
  return merged;
};

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

/**
 * Parse, validation and variable errors carry a code like every other error (mercurius leaves
 * them without one); a variable of the wrong type names it as the field.
 */
const withCodes = <F extends { response: { errors?: readonly unknown[] | null } }>(formatted: F): F => {
  const errors = formatted.response.errors as Array<{ message: string; extensions?: Record<string, unknown> }> | undefined | null;
  if (!errors?.some((e) => !e.extensions?.code)) return formatted;
  const codeOf = (message: string): Record<string, unknown> => {
    if (message.startsWith('Syntax Error')) return { code: 'GRAPHQL_PARSE_FAILED' };
    const variable = /^Variable "\$([A-Za-z_][A-Za-z0-9_]*)"/.exec(message);
    return variable ? { code: 'BAD_USER_INPUT', field: variable[1] } : { code: 'GRAPHQL_VALIDATION_FAILED' };
  };
  const coded = errors.map((e) => (e.extensions?.code ? e : { ...e, extensions: { ...e.extensions, ...codeOf(e.message) } }));
  return { ...formatted, response: { ...formatted.response, errors: coded } };
};

const REFUSED_BEFORE_EXECUTION = new Set(['QUERY_TOO_COSTLY', 'BAD_REQUEST']);

/** Deep enough for GraphiQL's introspection query (about 13), shallow enough to stop abuse. */
export const QUERY_DEPTH_LIMIT = 16;

export type ServerOptions = ApiServices & {
  logger: Logger;
  adminKey: string;
  /** Requests per minute per key (default 1,200; 0: no limit). */
  rateLimitPerMinute?: number;
  /** Largest query cost allowed (query-cost.ts). */
  queryCostLimit?: number;
};

export const buildServer = async ({ logger, adminKey, rateLimitPerMinute = 1200, queryCostLimit = QUERY_COST_LIMIT, ...services }: ServerOptions): Promise<FastifyInstance> => {
  const authenticate = createAuthenticator(services.readModels, adminKey);
  const limiter = createRateLimiter(rateLimitPerMinute);
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
  });
  app.decorateRequest('principal', undefined);

  app.setErrorHandler((error, request, reply) => {
    const known = publicError(error);
    if (error instanceof RateLimitedError) void reply.header('retry-after', String(error.retryAfterSeconds));
    if (known) return reply.code(known.status).send({ error: { code: known.code, message: known.message, ...(known.field ? { field: known.field } : {}) } });
    const status = (error as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500)
      return reply.code(status).send({ error: { code: 'BAD_REQUEST', message: (error as Error).message, field: 'body' } });
    request.log.error({ err: error }, 'unexpected error');
    return reply.code(500).send({ error: { code: 'INTERNAL_SERVER_ERROR', message: 'internal error' } });
  });

  // every request but the health check counts against its key (or address)
  app.addHook('onRequest', async (request) => {
    if (request.url !== '/health') for (const caller of callersOf(request.headers.authorization, request.ip)) limiter.take(caller);
  });

  // GraphQL over HTTP needs a key; the WebSocket upgrade authenticates in connection_init instead
  app.addHook('preHandler', async (request) => {
    if (request.routeOptions.url !== '/graphql' || request.headers.upgrade?.toLowerCase() === 'websocket') return;
    request.principal = await authenticate(request.headers.authorization);
  });

  await app.register(mercurius, {
    schema: [typeDefs, fleetTypeDefs, handoverTypeDefs, marketTypeDefs, economicsTypeDefs].join('\n'),
    resolvers: mergeResolvers(
      createResolvers(services),
      createFleetResolvers(services),
      createMarketResolvers(services),
      createEconomicsResolvers(services),
      createHandoverResolvers(services),
    ) as never,
    graphiql: true,
    queryDepth: QUERY_DEPTH_LIMIT,
    context: (request): ApiContext => ({ principal: request.principal!, correlationId: request.id }),
    errorFormatter: (execution, ctx) => {
      const errors = (execution.errors ?? []).map((e) => {
        if (Array.isArray((e.originalError as { errors?: unknown })?.errors)) return e; // mercurius' validation wrapper
        if (isUnexpected(e)) logger.error({ err: e.originalError, path: e.path }, 'unexpected resolver error');
        return toGraphQLError(e);
      });
      const formatted = withCodes(mercurius.defaultErrorFormatter({ ...execution, errors }, ctx as never));
      // a request refused before execution (no path: the key itself, or its rate) answers 401/403/429, not 200
      const refusal = (execution.errors ?? []).find((e) => !e.path && (e.originalError instanceof AuthError || e.originalError instanceof RateLimitedError));
      if (refusal?.originalError instanceof RateLimitedError)
        (ctx as { reply?: { header(name: string, value: string): unknown } }).reply?.header('retry-after', String(refusal.originalError.retryAfterSeconds));
      if (refusal) return { ...formatted, statusCode: publicError(refusal.originalError)!.status };
      // refused before execution by our own checks (cost, subscription over HTTP): a bad request
      const early = (execution.errors ?? []).find((e) => !e.path && REFUSED_BEFORE_EXECUTION.has(String((e.originalError as GraphQLError | undefined)?.extensions?.code ?? e.extensions?.code)));
      return early ? { ...formatted, statusCode: 400 } : formatted;
    },
    subscription: {
      // No server keep-alive: mercurius 16.10 starts one timer per connection_init and clears only
      // the last on close (lib/subscription-connection.js), so a client repeating connection_init
      // would leak timers. graphql-ws clients keep idle connections open with their own pings
      // (createClient({ keepAlive: ms })), which the server answers.
      keepAlive: undefined,
      onConnect: async ({ payload }: { payload?: Record<string, unknown> }) => {
        const headers = (payload?.headers ?? payload ?? {}) as Record<string, unknown>;
        const authorization = headers.authorization ?? headers.Authorization;
        try {
          // each connection_init counts against its key, like a request (the upgrade counted against the address)
          for (const caller of callersOf(authorization, 'websocket').slice(1)) limiter.take(caller);
          const principal = await authenticate(authorization);
          return { principal, correlationId: randomUUID() };
        } catch (error) {
          if (error instanceof AuthError || error instanceof RateLimitedError) return false;
          throw error;
        }
      },
    },
  });

  app.graphql.addHook('preSubscriptionExecution', async (schema, document, context) => {
    // each subscription counts against its key, like a request
    const principal = (context as Partial<ApiContext>).principal;
    try {
      if (principal) limiter.take(`key:${principal.keyId}:subscribe`);
    } catch (error) {
      if (error instanceof RateLimitedError) throw new GraphQLError(error.message, { extensions: { code: 'RATE_LIMITED' } });
      throw error;
    }
    const errors = validate(schema, document, specifiedRules);
    if (errors.length > 0) throw new GraphQLError(errors.map((e) => e.message).join('; '), { extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
    checkQueryCost(schema, document, {}, queryCostLimit);
  });

  // over HTTP a subscription would run its resolver once with nothing to deliver: say where it is served
  app.graphql.addHook('preExecution', async (schema, document, _context, variables) => {
    if (document.definitions.some((d) => d.kind === Kind.OPERATION_DEFINITION && d.operation === 'subscription'))
      throw new GraphQLError('subscriptions are served over WebSocket (graphql-ws protocol) on /graphql, not over HTTP', { extensions: { code: 'BAD_REQUEST' } });
    checkQueryCost(schema, document, variables, queryCostLimit);
  });

  registerRest(app, services, authenticate);
  registerMetrics(app, services, authenticate);
  return app;
};
