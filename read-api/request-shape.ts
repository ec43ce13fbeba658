/**
 * The shape of a GraphQL-over-HTTP request, checked before mercurius sees it: mercurius takes
 * a non-string `query` for an already parsed document (and fails inside graphql-js), and a
 * repeated query-string parameter arrives as an array.
 */
import { GraphQLError, getOperationAST, parse, type DocumentNode, type Source } from 'graphql';
import { InputError } from './inputs.ts';
import { MethodNotAllowedError } from './errors.ts';

/** Tokens a GraphQL document may hold: parsing stops there, before a huge document costs time (over HTTP and WebSocket alike). */
export const MAX_QUERY_TOKENS = 10_000;
export const parseQuery = (source: string | Source): DocumentNode => parse(source, { maxTokens: MAX_QUERY_TOKENS });

const isPlainObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** A subscription sent over HTTP, by any method: it would run its resolver once with nothing to deliver. */
export const subscriptionOverHttp = () =>
  new GraphQLError('subscriptions are served over WebSocket (graphql-ws protocol) on /graphql, not over HTTP', { extensions: { code: 'BAD_REQUEST' } });

/** Throws an InputError naming the field when `query`, `operationName` or `variables` has the wrong type. */
export const checkGraphQLRequestShape = (params: unknown, where: 'body' | 'querystring') => {
  if (!isPlainObject(params)) {
    if (where === 'body' && params !== undefined) throw new InputError('body', 'must be a JSON object with a "query" string (batched requests are not served)');
    return; // mercurius answers a missing query itself
  }
  const { query, operationName, variables, extensions } = params;
  if (extensions !== undefined && extensions !== null && !(where === 'querystring' ? isJsonObjectText(extensions) : isPlainObject(extensions)))
    throw new InputError('extensions', where === 'querystring' ? 'must be given once, as the JSON text of an object' : 'must be an object or null');
  if (query !== undefined && typeof query !== 'string') throw new InputError('query', 'must be a string holding a GraphQL document');
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') throw new InputError('operationName', 'must be a string or null');
  // over GET, variables are a JSON text that mercurius parses; in a body they are an object
  if (variables !== undefined && variables !== null && !(where === 'querystring' ? isJsonObjectText(variables) : isPlainObject(variables)))
    throw new InputError('variables', where === 'querystring' ? 'must be given once, as the JSON text of an object' : 'must be an object or null');
  if (where === 'querystring' && typeof query === 'string') checkGetOperation(query, operationName as string | null | undefined);
  // a document that does not parse is refused here: mercurius would take its text for a JSON-encoded
  // syntax tree, which no token limit bounds
  if (where === 'body' && typeof query === 'string' && !parsedBefore(query)) {
    parseQueryOrRefuse(query);
    rememberParsed(query);
  }
};

/**
 * Query texts that parsed, the most recent ones: a client sends the same few queries again and
 * again, and parsing each (mercurius parses it again anyway, from its own cache) was a good share
 * of a small query's time. Bounded in count and in the length of a text kept.
 */
const PARSED_KEPT = 1_000;
const PARSED_TEXT_MAX = 4_096;
const parsed = new Set<string>();
const parsedBefore = (query: string) => parsed.has(query);
const rememberParsed = (query: string) => {
  if (query.length > PARSED_TEXT_MAX) return;
  if (parsed.size >= PARSED_KEPT) parsed.delete(parsed.values().next().value!);
  parsed.add(query);
};

/** Parses within the token limit, or throws the parse error coded GRAPHQL_PARSE_FAILED. */
export const parseQueryOrRefuse = (query: string): DocumentNode => {
  try {
    return parseQuery(query);
  } catch (error) {
    if (!(error instanceof GraphQLError)) throw error;
    throw new GraphQLError(error.message, { ...(error.source ? { source: error.source } : {}), ...(error.positions ? { positions: error.positions } : {}), extensions: { code: 'GRAPHQL_PARSE_FAILED' } });
  }
};

const isJsonObjectText = (text: unknown) => {
  if (typeof text !== 'string') return false;
  try {
    const value: unknown = JSON.parse(text);
    return value === null || isPlainObject(value);
  } catch {
    return false;
  }
};

/**
 * Over GET, mercurius looks the operation up itself to refuse mutations, and fails inside
 * when the name matches none: the operation is found here first. A document that does not
 * parse is left to mercurius, which reports it as such.
 */
const checkGetOperation = (query: string, operationName: string | null | undefined) => {
  let document: DocumentNode;
  try {
    document = parseQuery(query);
  } catch {
    return;
  }
  const operation = getOperationAST(document, operationName ?? undefined);
  if (!operation)
    throw new InputError('operationName', operationName == null ? 'the query holds several operations: name the one to run' : `the query holds no operation named "${operationName.slice(0, 100)}"`);
  if (operation.operation === 'subscription') throw subscriptionOverHttp();
  if (operation.operation !== 'query') throw new MethodNotAllowedError(`a ${operation.operation} is sent by POST; GET runs queries only`, ['POST']);
};
