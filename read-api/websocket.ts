/**
 * GraphQL over WebSocket on /graphql, served by the graphql-ws protocol's reference server
 * (`graphql-ws/use/ws`) rather than mercurius' own, which acks a second connection_init,
 * answers malformed messages instead of closing 4400, never times out a connection that does
 * not initialise, accepts a duplicate operation id and refuses queries. With the reference
 * server every close code of the protocol is what its spec says (4400, 4401, 4403, 4406,
 * 4408, 4409, 4429), and queries and mutations run over the socket too.
 *
 * The same checks as over HTTP: the upgrade counts against its address; the key travels in
 * connection_init's payload (`authorization` or `headers.authorization`: browsers cannot set
 * WebSocket headers), is counted, and is checked again at every operation, so a revoked key
 * cannot start anything new on an old connection: its connections are closed (4403) as soon as
 * the revocation is recorded, when it next tries an operation, and at the latest before its
 * next delivery (checked against the revocations heard, not the database: a delivery to 2,000
 * subscriptions must not cost 2,000 queries); every operation is validated (spec rules), depth- and cost-limited with its
 * variables, and counted; errors are coded, unexpected ones masked. A key holds a bounded
 * number of connections (more: closed 1013, try again later) and a connection a bounded
 * number of operations at once (more: refused, TOO_MANY_OPERATIONS), so what a key keeps
 * running is bounded, not only how fast it starts it. The server pings every 12 s and drops
 * a peer that does not answer.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { GraphQLError, getOperationAST, specifiedRules, validate, type ExecutionArgs, type GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import type { ServerOptions } from 'graphql-ws';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { AuthError, type Authenticator } from './auth.ts';
import { formatGraphQLErrors, publicError } from './errors.ts';
import { codedValidationError } from './validation-field.ts';
import { parseQueryOrRefuse } from './request-shape.ts';
import { checkQueryCost } from './query-cost.ts';
import { checkQueryDepth } from './query-depth.ts';
import { callersOf, RateLimitedError, type RateLimiter } from './rate-limit.ts';
import type { ApiContext } from './resolvers.ts';

type ConnectionParams = { authorization?: unknown; Authorization?: unknown; headers?: Record<string, unknown> } | undefined;

const authorizationOf = (params: ConnectionParams): unknown => {
  const source = params?.headers ?? params ?? {};
  return (source as Record<string, unknown>).authorization ?? (source as Record<string, unknown>).Authorization;
};

/** A refusal of one operation, as the protocol's `error` message carries it. */
const refusal = (error: unknown): GraphQLError[] => {
  if (error instanceof GraphQLError) return [error];
  const known = publicError(error);
  if (!known) throw error;
  return [new GraphQLError(known.message, { extensions: { code: known.code, ...(known.field ? { field: known.field } : {}), ...known.extensions } })];
};

export type GraphqlWsOptions = {
  schema: GraphQLSchema;
  authenticate: Authenticator;
  limiter: RateLimiter;
  queryCostLimit: number;
  logger: Logger;
  /** Calls back with the id of each key revoked from now on; returns the unsubscribe function. */
  onKeyRevoked?: (listener: (keyId: string) => void) => () => void;
  /** The client's address (X-Forwarded-For believed from trusted proxies only). */
  addressOf?: (request: IncomingMessage) => string;
  /** Open connections per key (default 20). */
  maxConnectionsPerKey?: number;
  /** Operations running at once on one connection (default 100). */
  maxOperationsPerConnection?: number;
};

const socketAddress = (request: IncomingMessage) => request.socket.remoteAddress ?? 'unknown';

/** The open, acknowledged connections and the key each authenticated with. */
type Connections = Map<Extra['socket'], string>;
/** Ids of the keys revoked while this server runs (a key revoked earlier is refused when it connects). */
type Revoked = ReadonlySet<string>;

/** The protocol handlers: who may connect, what each operation must pass, how results and errors are formatted. */
export const graphqlWsOptions = (
  { schema, authenticate, limiter, queryCostLimit, logger, addressOf = socketAddress, maxConnectionsPerKey = 20, maxOperationsPerConnection = 100 }: GraphqlWsOptions,
  connections: Connections = new Map(),
  revoked: Revoked = new Set(),
): ServerOptions<ConnectionParams, Extra> => {
  const forbidden = (socket: Extra['socket']) => socket.close(4403, 'Forbidden');
  return {
    schema,
    onConnect: async (ctx) => {
      const authorization = authorizationOf(ctx.connectionParams);
      const { socket } = ctx.extra;
      try {
        // each connection_init counts against its key, like a request (the upgrade counted against the address)
        for (const caller of callersOf(authorization, 'websocket').slice(1)) limiter.take(caller);
        const { keyId } = await authenticate(authorization);
        if ([...connections.values()].filter((k) => k === keyId).length >= maxConnectionsPerKey) {
          socket.close(1013, `Try again later: this key already holds ${maxConnectionsPerKey} connections`);
          return false;
        }
        if (socket.readyState !== socket.OPEN) return false; // gone while we looked
        connections.set(socket, keyId);
        socket.once('close', () => connections.delete(socket));
        return true;
      } catch (error) {
        if (error instanceof AuthError || error instanceof RateLimitedError) return false; // 4403 Forbidden
        throw error;
      }
    },
    onSubscribe: async (ctx, id, payload) => {
      try {
        // graphql-ws has already entered this operation: the others are counted, before any await
        if (Object.keys(ctx.subscriptions).filter((k) => k !== id).length >= maxOperationsPerConnection)
          throw new GraphQLError(`this connection already runs ${maxOperationsPerConnection} operations: complete some, or open another connection`, {
            extensions: { code: 'TOO_MANY_OPERATIONS' },
          });
        // counted like a request, before anything reads the database
        const authorization = authorizationOf(ctx.connectionParams);
        for (const caller of callersOf(authorization, addressOf(ctx.extra.request))) limiter.take(caller);
        const principal = await authenticate(authorization).catch((error: unknown) => {
          if (error instanceof AuthError) forbidden(ctx.extra.socket); // revoked since the connection began
          throw error;
        });
        if (typeof payload.query !== 'string') throw new GraphQLError('query: a GraphQL document is required', { extensions: { code: 'BAD_REQUEST', field: 'query' } });
        const document = parseQueryOrRefuse(payload.query);
        const errors = validate(schema, document, specifiedRules);
        if (errors.length > 0) return errors.map(codedValidationError);
        if (!getOperationAST(document, payload.operationName ?? undefined))
          throw new GraphQLError('operationName: name one of the document\'s operations', { extensions: { code: 'BAD_REQUEST', field: 'operationName' } });
        checkQueryDepth(document, payload.operationName);
        const variables = payload.variables ?? {};
        checkQueryCost(schema, document, variables, queryCostLimit);
        const contextValue: ApiContext = { principal, correlationId: randomUUID() };
        return { schema, document, variableValues: variables, operationName: payload.operationName ?? null, contextValue } satisfies ExecutionArgs;
      } catch (error) {
        return refusal(error);
      }
    },
    onNext: async (ctx, _id, _payload, _args, result) => {
      // a key revoked while its subscriptions run: the connection is closed before the next delivery
      const keyId = connections.get(ctx.extra.socket);
      if (keyId === undefined || revoked.has(keyId)) {
        forbidden(ctx.extra.socket);
        return { errors: [{ message: 'unknown or revoked API key', extensions: { code: 'UNAUTHENTICATED' } }] };
      }
      return result.errors?.length ? { ...result, errors: formatGraphQLErrors(result.errors, logger) } : undefined;
    },
    // a send to a peer that went away fails here too (EPIPE): kept at debug, not reported as a fault
    onError: (ctx, id, _payload, errors) => {
      if (ctx.extra.socket.readyState === ctx.extra.socket.OPEN) return formatGraphQLErrors(errors, logger);
      logger.debug({ operationId: id, errors: errors.map((e) => e.message) }, 'operation ended after its WebSocket closed');
      return errors;
    },
  };
};

/**
 * Serves graphql-ws on `path` of `server`: upgrades elsewhere are refused 404, an address over
 * its rate 429. Returns `close`, which ends every connection (1001 going away) and stops.
 */
export const serveGraphqlWs = (
  server: { on(event: 'upgrade', listener: (request: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown },
  path: string,
  options: GraphqlWsOptions,
): { close(): Promise<void> } => {
  // closeTimeout: a peer that never answers the close frame is cut off before fastify's close gives up
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, closeTimeout: 2000 } as ConstructorParameters<typeof WebSocketServer>[0]); // ws ≥ 8.18 (its types lag)
  // isProd: an internal error's message never reaches a close reason
  const connections: Connections = new Map();
  const revoked = new Set<string>();
  const served = useServer({ ...graphqlWsOptions(options, connections, revoked), isProd: true } as ServerOptions<ConnectionParams, Extra>, wss);
  // a revoked key's connections close at once, not at their next operation or delivery
  const stopRevocations = options.onKeyRevoked?.((keyId) => {
    revoked.add(keyId);
    for (const [socket, k] of connections) if (k === keyId) socket.close(4403, 'Forbidden');
  });
  // the answer, then the socket is destroyed: a peer that keeps its side open holds nothing
  const refuse = (socket: Duplex, status: string, headers: string[] = []) => {
    socket.once('finish', () => socket.destroy());
    socket.end([`HTTP/1.1 ${status}`, 'Connection: close', 'Content-Length: 0', ...headers, '', ''].join('\r\n'));
  };
  server.on('upgrade', (request, socket, head) => {
    // runs inside the HTTP parser's callback: nothing may throw from here
    try {
      socket.on('error', () => socket.destroy());
      const pathname = (request.url ?? '').split('?')[0];
      if (pathname !== path) return refuse(socket, '404 Not Found');
      options.limiter.take(callersOf(undefined, (options.addressOf ?? socketAddress)(request))[0]!);
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
    } catch (error) {
      if (error instanceof RateLimitedError) return refuse(socket, '429 Too Many Requests', [`Retry-After: ${error.retryAfterSeconds}`]);
      options.logger.error({ err: error }, 'WebSocket upgrade failed');
      refuse(socket, '400 Bad Request');
    }
  });
  let closing: Promise<void> | undefined;
  return {
    close: () =>
      (closing ??= (async () => {
        stopRevocations?.();
        await served.dispose();
      })()),
  };
};
