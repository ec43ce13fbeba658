/**
 * The read API: fastify + mercurius (GraphQL over HTTP, GraphiQL), the graphql-ws
 * reference server for GraphQL over WebSocket (websocket.ts), and REST. Every request is
 * authenticated before it runs; every operation is validated, depth- and cost-limited.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import mercurius from 'mercurius';
import { GraphQLError, GraphQLScalarType, Kind, type GraphQLFieldConfig, type GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import { createAuthenticator, type Principal } from './auth.ts';
import { isUnexpected, publicError, replyWithError, toGraphQLError, withCode } from './errors.ts';
import { createResolvers, type ApiContext, type ApiServices } from './resolvers.ts';
import { registerRest } from './rest.ts';
import { typeDefs } from './schema.ts';
import { createFleetResolvers, fleetTypeDefs } from './fleet-api.ts';
import { createMarketResolvers, marketTypeDefs } from './market-api.ts';
import { createEconomicsResolvers, economicsTypeDefs } from './economics-api.ts';
import { createHandoverResolvers, handoverTypeDefs } from './handover-api.ts';
import { registerMetrics } from './metrics.ts';
import { registerGraphiql } from './graphiql.ts';
import { registerDashboard } from './dashboard/index.ts';
import { createLifecycleResolvers, lifecycleTypeDefs, registerWorkloadRest } from './lifecycle-api.ts';
import { billingTypeDefs, createBillingResolvers } from './billing-api.ts';
import { createGpuResolvers, gpusTypeDefs } from './gpus-api.ts';
import { createKpiResolvers, kpisTypeDefs } from './kpis-api.ts';
import { auditTypeDefs, createAuditResolvers } from './audit-api.ts';
import { checkQueryCost, QUERY_COST_LIMIT } from './query-cost.ts';
import { checkQueryDepth } from './query-depth.ts';
import { serveGraphqlWs } from './websocket.ts';
import { checkGraphQLRequestShape, MAX_QUERY_TOKENS, subscriptionOverHttp } from './request-shape.ts';
import { codedValidationError } from './validation-field.ts';
import { callersOf, createRateLimiter } from './rate-limit.ts';
import { clientAddress, trustedProxies } from './client-address.ts';

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

/** Parse, validation and variable errors carry a code like every other error (mercurius leaves them without one). */
const withCodes = <F extends { response: { errors?: readonly unknown[] | null } }>(formatted: F): F => {
  const errors = formatted.response.errors as GraphQLFormattedError[] | undefined | null;
  if (!errors?.some((e) => !e.extensions?.code)) return formatted;
  return { ...formatted, response: { ...formatted.response, errors: errors.map(withCode) } };
};

/** The largest GraphQL answer served (the cost limit keeps real ones far below: 20,000 objects). */
export const MAX_RESPONSE_CHARS = 16_000_000;

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** mercurius reports failed validation as one error wrapping graphql-js' list. */
const isValidationWrapper = (e: GraphQLError) => Array.isArray((e.originalError as { errors?: unknown } | undefined)?.errors);

/** Whether the client takes the GraphQL-over-HTTP spec's own media type (any q but 0). */
const acceptsGraphQLResponse = (accept: string | undefined) =>
  accept !== undefined && accept.split(',').some((range) => /^\s*application\/graphql-response\+json\s*(;(?!\s*q\s*=\s*0(\.0*)?\s*(;|$)).*)?$/i.test(range));

/**
 * An answer in application/graphql-response+json: that content type, and a request that never
 * ran (4xx) carries no `data` entry, so a client tells "refused" from "ran and got null".
 */
const asGraphQLResponse = (reply: { statusCode: number; header(name: string, value: string): unknown }, payload: string) => {
  reply.header('content-type', 'application/graphql-response+json; charset=utf-8');
  if (reply.statusCode < 400 || reply.statusCode >= 500) return payload;
  try {
    const { data, ...rest } = JSON.parse(payload) as { data?: unknown };
    return data === null ? JSON.stringify(rest) : payload;
  } catch {
    return payload;
  }
};

export type ServerOptions = ApiServices & {
  logger: Logger;
  adminKey: string;
  /** Requests per minute per key (default 1,200; 0: no limit). */
  rateLimitPerMinute?: number;
  /** Largest query cost allowed (query-cost.ts). */
  queryCostLimit?: number;
  /** Largest GraphQL answer served, in characters (default MAX_RESPONSE_CHARS). */
  maxResponseChars?: number;
  /** Proxies whose X-Forwarded-For is believed (client-address.ts); nobody's by default. */
  trustedProxies?: readonly string[];
};

/**
 * One access line per request, when it is answered, instead of fastify's two. A line of an answered
 * request holds only what is built here (no header, no body), so it skips the logger's redaction,
 * which cost more than the rest of the line; an error goes through the redacting logger.
 */
class AccessLog extends LogController {
  readonly #lines: Logger;
  constructor(logger: Logger) {
    super();
    this.#lines = logger.child({}, { redact: [] });
  }
  override incomingRequest() {}
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply) {
    // the path without its query string: a GET /graphql carries the operation (and maybe values) there
    const line = { reqId: request.id, method: request.method, path: request.url.split('?')[0]!.slice(0, 200), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else this.#lines.info(line, 'request');
  }
}

export const buildServer = async ({
  logger,
  adminKey,
  rateLimitPerMinute = 1200,
  queryCostLimit = QUERY_COST_LIMIT,
  maxResponseChars = MAX_RESPONSE_CHARS,
  trustedProxies: proxies = [],
  ...services
}: ServerOptions): Promise<FastifyInstance> => {
  const trustProxy = trustedProxies(proxies);
  const onKeyRevoked = (listener: (keyId: string) => void) => services.feed.subscribe((change) => change.topic === 'api-key-revoked' && listener(change.keyId));
  const authenticate = createAuthenticator(services.readModels, adminKey, { onKeyRevoked });
  const limiter = createRateLimiter(rateLimitPerMinute);
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    trustProxy: trustProxy ?? false,
    logController: new AccessLog(logger),
    // registering takes milliseconds, but on the embedded platform the event loop may be busy for
    // seconds at a time while the background catches up at start: fastify's 10 s would crash it
    pluginTimeout: 120_000,
  });
  app.decorateRequest('principal', undefined);

  app.setErrorHandler(replyWithError);

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!.slice(0, 200);
    const allow = HTTP_METHODS.filter((method) => app.hasRoute({ method, url: path }));
    if (allow.length > 0)
      return reply.code(405).header('allow', allow.join(', ')).send({ error: { code: 'METHOD_NOT_ALLOWED', message: `${path} serves ${allow.join(', ')}, not ${request.method}` } });
    return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${path}: see README.md for the API` } });
  });
  // a GraphQL or REST body is JSON (or application/graphql); text is refused 415 instead of read as a string
  app.removeContentTypeParser('text/plain');

  // every request but the health check counts against its key (or address)
  if (rateLimitPerMinute > 0)
    app.addHook('onRequest', async (request) => {
      if (request.url !== '/health') for (const caller of callersOf(request.headers.authorization, request.ip)) limiter.take(caller);
    });

  // GraphQL over HTTP needs a key (WebSocket upgrades never reach fastify: websocket.ts)
  // before schema validation, whose type coercion would turn `"query": 123` into a document mercurius cannot run
  app.addHook('preValidation', async (request) => {
    if (request.routeOptions.url !== '/graphql') return;
    request.principal = await authenticate(request.headers.authorization);
    // the spec lets a client send `"extensions": null`; mercurius' body schema wants an object or nothing
    const body = request.body as { extensions?: unknown } | undefined;
    if (request.method !== 'GET' && typeof body === 'object' && body !== null && body.extensions === null) delete body.extensions;
    checkGraphQLRequestShape(request.method === 'GET' ? request.query : request.body, request.method === 'GET' ? 'querystring' : 'body');
  });

  // mercurius attaches subscription resolvers only when it serves WebSockets itself; here the
  // graphql-ws server does (websocket.ts), so they are attached to the schema below
  const { Subscription: subscriptionResolvers, ...resolvers } = mergeResolvers(
    createResolvers(services),
    createFleetResolvers(services),
    createMarketResolvers(services),
    createEconomicsResolvers(services),
    createHandoverResolvers(services),
    createLifecycleResolvers(services),
    createBillingResolvers(services),
    createGpuResolvers(services),
    createKpiResolvers(services),
    createAuditResolvers(services),
  ) as Record<string, unknown> & { Subscription: Record<string, Pick<GraphQLFieldConfig<unknown, ApiContext>, 'subscribe' | 'resolve'>> };
  await app.register(mercurius, {
    schema: [typeDefs, fleetTypeDefs, handoverTypeDefs, marketTypeDefs, economicsTypeDefs, lifecycleTypeDefs, billingTypeDefs, gpusTypeDefs, kpisTypeDefs, auditTypeDefs].join('\n'),
    resolvers: resolvers as never,
    // served by registerGraphiql, with its assets: mercurius' page loads them from a CDN
    graphiql: false,
    jit: 1,
    // the same token limit as the shape check and the WebSocket server (request-shape.ts)
    graphql: { parseOptions: { maxTokens: MAX_QUERY_TOKENS } },
    context: (request): ApiContext => ({ principal: request.principal!, correlationId: request.id }),
    errorFormatter: (execution, ctx) => {
      const errors = (execution.errors ?? []).map((e) => {
        if (isValidationWrapper(e)) {
          // coded, and named where they lie in an argument (the wrapper is this request's; its list may be cached)
          const wrapper = e.originalError as unknown as { errors: GraphQLError[] };
          wrapper.errors = wrapper.errors.map((v, i) => (v instanceof GraphQLError && !v.extensions?.code ? codedValidationError(v, i) : v));
          return e;
        }
        if (isUnexpected(e)) logger.error({ err: e.originalError, path: e.path }, 'unexpected resolver error');
        return toGraphQLError(e);
      });
      const formatted = withCodes(mercurius.defaultErrorFormatter({ ...execution, errors }, ctx as never));
      // a request refused before execution (no path: the key itself, its rate, its shape) answers 4xx, not 200
      const refusal = (execution.errors ?? []).flatMap((e) => (e.path ? [] : [publicError(e.originalError)].filter((x) => x !== undefined)))[0];
      if (refusal) {
        for (const [name, value] of Object.entries(refusal.headers ?? {})) (ctx as { reply?: { header(name: string, value: string): unknown } }).reply?.header(name, value);
        return { ...formatted, statusCode: refusal.status };
      }
      // nothing ran (our own checks, an unknown or missing operation name, variables of the wrong
      // type): a bad request; an error a resolver met has a path and keeps the 200 of a partial result
      const raised = execution.errors ?? [];
      const neverExecuted = raised.length > 0 && raised.every((e) => !e.path);
      if (!neverExecuted) return formatted;
      return { ...formatted, statusCode: raised.some((e) => !isValidationWrapper(e) && isUnexpected(e)) ? 500 : 400 };
    },
  });

  // over HTTP a subscription would run its resolver once with nothing to deliver: say where it is served
  // mercurius hands the same document object for the same query text (its cache), and without
  // variables nothing else moves the cost: a document that passed once passes again
  const passed = new WeakSet<object>();
  app.graphql.addHook('preExecution', async (schema, document, _context, variables) => {
    const alone = variables === undefined || variables === null || Object.keys(variables).length === 0;
    if (alone && passed.has(document)) return;
    if (document.definitions.some((d) => d.kind === Kind.OPERATION_DEFINITION && d.operation === 'subscription'))
      throw subscriptionOverHttp();
    checkQueryDepth(document);
    checkQueryCost(schema, document, variables, queryCostLimit);
    if (alone) passed.add(document);
  });

  const subscriptionFields = app.graphql.schema.getSubscriptionType()!.getFields();
  for (const [name, { subscribe, resolve }] of Object.entries(subscriptionResolvers)) Object.assign(subscriptionFields[name]!, { subscribe, resolve });
  const websocket = serveGraphqlWs(app.server, '/graphql', {
    schema: app.graphql.schema,
    authenticate,
    limiter,
    queryCostLimit,
    logger,
    onKeyRevoked,
    addressOf: (request) => clientAddress(request, trustProxy),
  });
  app.addHook('preClose', () => websocket.close());

  // a backstop behind the cost limit: no GraphQL answer grows past this, whatever it asked for
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.routeOptions.url !== '/graphql' || typeof payload !== 'string') return payload;
    if (payload.length <= maxResponseChars) return acceptsGraphQLResponse(request.headers.accept) ? asGraphQLResponse(reply, payload) : payload;
    request.log.warn({ chars: payload.length }, 'GraphQL answer over the size bound: refused');
    reply.code(400).header('content-type', 'application/json; charset=utf-8');
    return JSON.stringify({ errors: [{ message: `the answer would exceed ${maxResponseChars} characters: ask for fewer objects or smaller pages`, extensions: { code: 'RESPONSE_TOO_LARGE' } }] });
  });

  registerGraphiql(app);
  registerDashboard(app);
  registerRest(app, services, authenticate);
  registerWorkloadRest(app, services, authenticate);
  registerMetrics(app, services, authenticate);
  return app;
};
