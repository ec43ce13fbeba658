/**
 * The cost of a GraphQL operation, checked before it runs (DESIGN.md §4 "query depth and cost
 * limits"): each field counts 1, times the page size (`first`) of every list around it, so an
 * alias flood or pages of pages are refused before they touch a database. Fragments count
 * where they are spread. Depth is limited apart (QUERY_DEPTH_LIMIT).
 */
import { GraphQLError, Kind, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode, type ValueNode } from 'graphql';

export const QUERY_COST_LIMIT = 20_000;

/** The largest page any list field serves; a bigger `first` is refused by the field itself, naming it. */
export const MAX_PAGE = 500;

const pageSize = (value: ValueNode | undefined, variables: Record<string, unknown>): number => {
  if (!value) return 1;
  const v = value.kind === Kind.VARIABLE ? variables[value.name.value] : value.kind === Kind.INT ? Number(value.value) : undefined;
  return typeof v === 'number' && Number.isFinite(v) && v > 1 ? Math.min(v, MAX_PAGE) : 1;
};

export const queryCost = (document: DocumentNode, variables: Record<string, unknown> = {}): number => {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const seen: string[] = []; // spread cycles are refused by validation; this guards anyway
  const walk = (set: SelectionSetNode, multiplier: number): number => {
    let cost = 0;
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) {
        cost += multiplier;
        if (s.selectionSet) cost += walk(s.selectionSet, multiplier * pageSize(s.arguments?.find((a) => a.name.value === 'first')?.value, variables));
      } else if (s.kind === Kind.INLINE_FRAGMENT) cost += walk(s.selectionSet, multiplier);
      else {
        const f = fragments.get(s.name.value);
        if (!f || seen.includes(f.name.value)) continue;
        seen.push(f.name.value);
        cost += walk(f.selectionSet, multiplier);
        seen.pop();
      }
      if (cost > Number.MAX_SAFE_INTEGER / 2) return cost;
    }
    return cost;
  };
  // the costliest operation of the document (one of them runs)
  return Math.max(0, ...document.definitions.map((d) => (d.kind === Kind.OPERATION_DEFINITION ? walk(d.selectionSet, 1) : 0)));
};

export const checkQueryCost = (document: DocumentNode, variables: Record<string, unknown> | undefined, limit = QUERY_COST_LIMIT) => {
  const cost = queryCost(document, variables ?? {});
  if (cost > limit)
    throw new GraphQLError(`query too costly: ${cost} > ${limit} (each field counts 1, times the \`first\` of every list around it); ask for fewer fields or smaller pages`, {
      extensions: { code: 'QUERY_TOO_COSTLY', cost, limit },
    });
};
