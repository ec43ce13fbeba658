/**
 * The argument a validation error is about. graphql-js says "Value "x" does not exist in
 * "WorkloadStatus" enum" without naming where; the error's node lies inside an argument (or
 * an input object's field) of the document, and that path is the field a caller should fix:
 * `status`, `input.gpuHours`.
 */
import { GraphQLError, Kind, parse, visit, type ASTNode } from 'graphql';
import { codeOfUncoded } from './errors.ts';

const NAMED = new Set<string>([Kind.ARGUMENT, Kind.OBJECT_FIELD]);

export const argumentPathOf = (error: GraphQLError): string | undefined => {
  const at = error.nodes?.[0]?.loc;
  if (!at) return undefined;
  let document;
  try {
    document = parse(at.source, { maxTokens: 10_000 });
  } catch {
    return undefined;
  }
  const names: string[] = [];
  let path: string | undefined;
  const contains = (n: ASTNode) => n.loc !== undefined && n.loc.start <= at.start && n.loc.end >= at.end;
  visit(document, {
    enter(n) {
      if (!contains(n)) return false; // not on the way to the error's node
      if (NAMED.has(n.kind)) {
        names.push((n as { name: { value: string } }).name.value);
        path = names.join('.');
      }
      return undefined;
    },
    leave(n) {
      if (NAMED.has(n.kind)) names.pop();
    },
  });
  return path;
};

/**
 * A validation error (or a variable's, which mercurius reports alike) with its code and field:
 * a variable by its name, a literal by the path of the argument it lies in.
 */
export const codedValidationError = (error: GraphQLError): GraphQLError => {
  const coded = codeOfUncoded(error.message);
  const field = coded.field ?? (coded.code === 'GRAPHQL_VALIDATION_FAILED' ? argumentPathOf(error) : undefined);
  return new GraphQLError(error.message, {
    nodes: error.nodes ?? null,
    extensions: { ...error.extensions, code: coded.code, ...(field ? { field } : {}) },
  });
};
