/**
 * The depth of a GraphQL operation, checked before it runs (docs/design.md §4), the same on HTTP and
 * WebSocket: the deepest chain of nested fields, a fragment spread adding its fragment's depth
 * (not a level of its own). Runs after validation, which refuses fragment cycles; a cycle met
 * anyway counts as too deep rather than looping.
 */
import { GraphQLError, Kind, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';

/** Deep enough for GraphiQL's full introspection query (depth 15), shallow enough to stop abuse. */
export const QUERY_DEPTH_LIMIT = 16;

export const queryDepth = (document: DocumentNode, operationName?: string | null): number => {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const known = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (set: SelectionSetNode | undefined): number => {
    let deepest = 0;
    for (const s of set?.selections ?? []) {
      if (s.kind === Kind.FIELD) deepest = Math.max(deepest, s.selectionSet ? 1 + depthOf(s.selectionSet) : 1);
      else if (s.kind === Kind.INLINE_FRAGMENT) deepest = Math.max(deepest, depthOf(s.selectionSet));
      else {
        const name = s.name.value;
        if (visiting.has(name)) return Infinity;
        if (!known.has(name)) {
          visiting.add(name);
          known.set(name, depthOf(fragments.get(name)?.selectionSet));
          visiting.delete(name);
        }
        deepest = Math.max(deepest, known.get(name)!);
      }
    }
    return deepest;
  };
  let deepest = 0;
  for (const d of document.definitions)
    if (d.kind === Kind.OPERATION_DEFINITION && (!operationName || d.name?.value === operationName)) deepest = Math.max(deepest, depthOf(d.selectionSet));
  return deepest;
};

/** Throws a GraphQLError (code QUERY_TOO_DEEP) when the operation nests deeper than `limit`. */
export const checkQueryDepth = (document: DocumentNode, operationName?: string | null, limit = QUERY_DEPTH_LIMIT) => {
  const depth = queryDepth(document, operationName);
  if (depth > limit)
    throw new GraphQLError(`query depth ${Number.isFinite(depth) ? depth : 'unbounded'} exceeds the limit of ${limit}`, {
      extensions: { code: 'QUERY_TOO_DEEP', depth: Number.isFinite(depth) ? depth : null, limit },
    });
};
