/**
 * The argument a validation error is about. graphql-js says "Value "x" does not exist in
 * "WorkloadStatus" enum" without naming where; the error's node lies inside an argument (or
 * an input object's field) of the document, and that path is the field a caller should fix:
 * `status`, `input.gpuHours`.
 */
import { GraphQLError, Kind, visit, type ASTNode, type DocumentNode, type Source } from 'graphql';
import { parseQuery } from './request-shape.ts';
import { codeOfUncoded } from './errors.ts';

const NAMED = new Set<string>([Kind.ARGUMENT, Kind.OBJECT_FIELD]);
const NAMED_ERRORS = 10;

/** One parse per request's source, however many errors it has (graphql-js reports up to 100). */
const parsed = new WeakMap<Source, DocumentNode | null>();
const documentOf = (source: Source): DocumentNode | null => {
  if (!parsed.has(source)) {
    let document: DocumentNode | null = null;
    try {
      document = parseQuery(source);
    } catch {
      // unparsable here: no field named
    }
    parsed.set(source, document);
  }
  return parsed.get(source)!;
};

export const argumentPathOf = (error: GraphQLError): string | undefined => {
  const at = error.nodes?.[0]?.loc;
  if (!at) return undefined;
  const document = documentOf(at.source);
  if (!document) return undefined;
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
export const codedValidationError = (error: GraphQLError, index = 0): GraphQLError => {
  const coded = codeOfUncoded(error.message);
  // the first few are named: a document of a hundred bad literals costs no more than ten
  const field = coded.field ?? (coded.code === 'GRAPHQL_VALIDATION_FAILED' && index < NAMED_ERRORS ? argumentPathOf(error) : undefined);
  return new GraphQLError(error.message, {
    nodes: error.nodes ?? null,
    extensions: { ...error.extensions, code: coded.code, ...(field ? { field } : {}) },
  });
};
