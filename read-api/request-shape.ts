/**
 * The shape of a GraphQL-over-HTTP request, checked before mercurius sees it: mercurius takes
 * a non-string `query` for an already parsed document (and fails inside graphql-js), and a
 * repeated query-string parameter arrives as an array.
 */
import { InputError } from './inputs.ts';

const isPlainObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Throws an InputError naming the field when `query`, `operationName` or `variables` has the wrong type. */
export const checkGraphQLRequestShape = (params: unknown, where: 'body' | 'querystring') => {
  if (!isPlainObject(params)) {
    if (where === 'body' && params !== undefined) throw new InputError('body', 'must be a JSON object with a "query" string (batched requests are not served)');
    return; // mercurius answers a missing query itself
  }
  const { query, operationName, variables } = params;
  if (query !== undefined && typeof query !== 'string') throw new InputError('query', 'must be a string holding a GraphQL document');
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') throw new InputError('operationName', 'must be a string or null');
  // over GET, variables are a JSON text that mercurius parses; in a body they are an object
  if (variables !== undefined && variables !== null && !(where === 'querystring' ? typeof variables === 'string' : isPlainObject(variables)))
    throw new InputError('variables', where === 'querystring' ? 'must be given once, as JSON text' : 'must be an object or null');
};
