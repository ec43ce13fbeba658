/**
 * How errors reach callers: expected ones (bad input, auth, domain rejections)
 * precisely, with a code and the field; unexpected ones masked, and logged.
 */
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { CommandRejectedError } from '../commands/errors.ts';
import type { ConcurrencyExhaustedError } from '../commands/handle.ts';
import type { AuthError } from './auth.ts';
import type { InputError } from './inputs.ts';
import type { RateLimitedError } from './rate-limit.ts';
import type { SubscriberTooSlowError } from './live.ts';
import { HcpError } from '../infra/errors.ts';

export type PublicError = {
  status: number;
  code: string;
  message: string;
  field?: string;
  /** HTTP headers the answer carries (Retry-After, Allow). */
  headers?: Record<string, string>;
  /** More for the GraphQL error's extensions (retryAfterSeconds). */
  extensions?: Record<string, unknown>;
};

/** A request sent with a method its route does not serve (a mutation by GET). */
export class MethodNotAllowedError extends HcpError {
  readonly type = 'method_not_allowed' as const;
  constructor(
    message: string,
    readonly allow: readonly string[],
  ) {
    super(message);
    this.name = 'MethodNotAllowedError';
  }
}

const REJECTION_STATUS: Record<string, number> = {
  not_found: 404,
  already_exists: 409,
  invalid_state: 409,
  quota_exceeded: 422,
  budget_exceeded: 422,
  sla_infeasible: 422,
  forbidden: 403,
  invalid_input: 400,
};

/** Fastify's and mercurius' refusals of a malformed request (no query, bad JSON, body too large, media type), not their GraphQL validation. */
export const isMalformedRequest = (error: unknown): error is { statusCode: number; code: string; message: string } => {
  const e = error as { statusCode?: unknown; code?: unknown; errors?: unknown } | undefined;
  return typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 && typeof e.code === 'string' && /^(MER_ERR|FST_)/.test(e.code) && !Array.isArray(e.errors);
};

/** The errors answered precisely, by kind. */
type Expected = InputError | AuthError | CommandRejectedError | RateLimitedError | MethodNotAllowedError | SubscriberTooSlowError | ConcurrencyExhaustedError;

/** Each expected kind's public face: its status, code, message and field. */
const PUBLIC: { [T in Expected['type']]: (error: Extract<Expected, { type: T }>) => PublicError } = {
  input_error: (e) => ({ status: 400, code: 'BAD_USER_INPUT', message: e.message, field: e.field }),
  auth_error: (e) => ({ status: e.code === 'FORBIDDEN' ? 403 : 401, code: e.code, message: e.message }),
  command_rejected: ({ rejection: { code, message, field } }) => ({ status: REJECTION_STATUS[code] ?? 422, code: code.toUpperCase(), message, ...(field ? { field } : {}) }),
  rate_limited: (e) => ({
    status: 429,
    code: 'RATE_LIMITED',
    message: e.message,
    headers: { 'retry-after': String(e.retryAfterSeconds) },
    extensions: { retryAfterSeconds: e.retryAfterSeconds },
  }),
  method_not_allowed: (e) => ({ status: 405, code: 'METHOD_NOT_ALLOWED', message: e.message, headers: { allow: e.allow.join(', ') } }),
  subscriber_too_slow: (e) => ({ status: 429, code: 'SUBSCRIBER_TOO_SLOW', message: e.message }),
  concurrency_exhausted: () => ({ status: 503, code: 'CONFLICT_RETRY', message: 'too many concurrent changes; retry' }),
};

const isExpected = (error: unknown): error is Expected => error instanceof HcpError && Object.hasOwn(PUBLIC, error.type);

/** The public face of an error, or undefined when it is unexpected (and must be masked). */
export const publicError = (error: unknown): PublicError | undefined => {
  if (isExpected(error)) return (PUBLIC[error.type] as (e: Expected) => PublicError)(error);
  if (isMalformedRequest(error)) {
    const { statusCode: status, message } = error;
    return { status, code: status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_REQUEST', message, field: 'body' };
  }
  return undefined;
};

/** Rethrows a domain rejection with its field named as this API's caller spelled it (`rename` gives undefined to keep it). */
export const renameRejectedField =
  (rename: (field: string) => string | undefined) =>
  (error: unknown): never => {
    const field = error instanceof CommandRejectedError && error.rejection.field ? rename(error.rejection.field) : undefined;
    throw field ? new CommandRejectedError({ ...(error as CommandRejectedError).rejection, field }) : error;
  };

export const toGraphQLError = (error: GraphQLError): GraphQLError => {
  const original = error.originalError;
  if (!original) return error; // GraphQL's own parse and validation errors: precise already
  if (original instanceof GraphQLError) return original.extensions?.code ? original : error;
  const known = publicError(original);
  if (known)
    return new GraphQLError(known.message, {
      ...(error.path ? { path: error.path } : {}),
      extensions: { code: known.code, ...(known.field ? { field: known.field } : {}), ...known.extensions },
    });
  return new GraphQLError('internal error', {
    ...(error.path ? { path: error.path } : {}),
    extensions: { code: 'INTERNAL_SERVER_ERROR' },
  });
};

export const isUnexpected = (error: GraphQLError) => {
  const original = error.originalError;
  return original !== undefined && !(original instanceof GraphQLError) && publicError(original) === undefined;
};

/** A code for GraphQL's own errors that come without one: parse, validation, a variable of the wrong type (named as the field). */
export const codeOfUncoded = (message: string): { code: string; field?: string } => {
  if (message.startsWith('Syntax Error')) return { code: 'GRAPHQL_PARSE_FAILED' };
  const variable = /^Variable "\$([A-Za-z_][A-Za-z0-9_]*)"/.exec(message);
  return variable ? { code: 'BAD_USER_INPUT', field: variable[1]! } : { code: 'GRAPHQL_VALIDATION_FAILED' };
};

/** Every formatted error with a code. */
export const withCode = (e: GraphQLFormattedError): GraphQLFormattedError => (e.extensions?.code ? e : { ...e, extensions: { ...e.extensions, ...codeOfUncoded(e.message) } });

/** Errors as a caller sees them: expected ones precise and coded, unexpected ones masked and logged. */
export const formatGraphQLErrors = (errors: readonly GraphQLError[], logger: Pick<Logger, 'error'>): GraphQLFormattedError[] =>
  errors.map((e) => {
    if (isUnexpected(e)) logger.error({ err: e.originalError, path: e.path }, 'unexpected resolver error');
    return withCode(toGraphQLError(e).toJSON());
  });

/** Fastify's error handler for every HCP server: expected errors as their code (and field), the rest masked and logged. */
export const replyWithError = (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
  const known = publicError(error);
  if (known) return reply.code(known.status).headers(known.headers ?? {}).send({ error: { code: known.code, message: known.message, ...(known.field ? { field: known.field } : {}) } });
  const status = (error as { statusCode?: number }).statusCode;
  if (status && status >= 400 && status < 500)
    return reply.code(status).send({ error: { code: 'BAD_REQUEST', message: (error as Error).message, field: 'body' } });
  request.log.error({ err: error }, 'unexpected error');
  return reply.code(500).send({ error: { code: 'INTERNAL_SERVER_ERROR', message: 'internal error' } });
};
