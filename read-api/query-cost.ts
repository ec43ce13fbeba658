/**
 * The cost of a GraphQL operation, checked before it runs (docs/design.md §4 "query depth and cost
 * limits"): each object it asks for counts 1 (scalars are free: they come with their object),
 * times the size of every list around it, so an alias flood or pages of pages are refused
 * before they touch a database. A list's size is its `first`
 * (from the query, the variables, the variable's default or the argument's default in the
 * schema, capped at the largest page any field serves), or, for a list without paging, a
 * fixed estimate (LIST_SIZE; `prices` up to 5,000 buckets). Introspection is costed like
 * everything else, by what it can return: a `__schema` field as many objects as the whole
 * schema's introspection holds, a `__type` field as many as the largest type's (both counted
 * once per schema, by running the introspection), so aliasing them cannot multiply a
 * many-megabyte answer. Fragments are costed once each (cost is linear in the multiplier),
 * so nesting them cannot make the count itself explode; the walk stops as soon as the
 * limit is passed. Depth is limited apart (QUERY_DEPTH_LIMIT).
 */
import {
  execute,
  getIntrospectionQuery,
  getNamedType,
  getNullableType,
  GraphQLError,
  isListType,
  isObjectType,
  isInterfaceType,
  Kind,
  parse,
  valueFromASTUntyped,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

export const QUERY_COST_LIMIT = 20_000;
/** The largest page any list field serves; a bigger `first` is refused by the field itself, naming it. */
export const MAX_PAGE = 500;
/** Lists without paging: how many items they may hold (by field name; others DEFAULT_LIST_SIZE). */
export const LIST_SIZE: Record<string, number> = {
  prices: 5_000,
  resources: 200,
  facilities: 20,
  latestPrices: 20,
  history: 20,
  phases: 10,
  // the items of a paged connection: its `first` already counted them
  nodes: 1,
  edges: 1,
};
const DEFAULT_LIST_SIZE = 50;

type Variables = Record<string, unknown>;

const listSize = (node: FieldNode, parent: GraphQLNamedType | undefined, def: GraphQLField<unknown, unknown> | undefined, variables: Variables, op: OperationDefinitionNode): number => {
  if (!def || (!isListType(getNullableType(def.type)) && !hasConnection(def))) return 1;
  const arg = node.arguments?.find((a) => a.name.value === 'first');
  const schemaDefault = def.args.find((a) => a.name === 'first')?.defaultValue;
  let v: unknown;
  if (arg?.value.kind === Kind.VARIABLE) {
    const name = arg.value.name.value;
    const declared = op.variableDefinitions?.find((d) => d.variable.name.value === name)?.defaultValue;
    v = variables[name] ?? (declared ? valueFromASTUntyped(declared) : undefined) ?? schemaDefault;
  } else v = arg ? valueFromASTUntyped(arg.value) : schemaDefault;
  if (typeof v === 'number' && Number.isFinite(v)) return Math.min(Math.max(v, 1), MAX_PAGE);
  return hasConnection(def) ? MAX_PAGE : (LIST_SIZE[node.name.value] ?? DEFAULT_LIST_SIZE);
};

/** A paged connection (a `first` argument over an object holding the list) counts as a list of its page. */
const hasConnection = (def: GraphQLField<unknown, unknown>) => def.args.some((a) => a.name === 'first');

/** Objects in a value (arrays hold them; scalars are free, as for every other field). */
const objectsIn = (v: unknown): number =>
  Array.isArray(v) ? v.reduce((n: number, x) => n + objectsIn(x), 0) : v !== null && typeof v === 'object' ? 1 + Object.values(v).reduce((n: number, x) => n + objectsIn(x), 0) : 0;

/** What introspection can return on this schema, in objects: the whole schema, and the largest single type. */
export type IntrospectionCost = { schema: number; type: number };
const introspectionCosts = new WeakMap<GraphQLSchema, IntrospectionCost>();
export const introspectionCost = (schema: GraphQLSchema): IntrospectionCost => {
  let known = introspectionCosts.get(schema);
  if (known) return known;
  // the fullest selection a tool asks for (GraphiQL's, with everything optional turned on)
  const full = getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true });
  const data = execute({ schema, document: parse(full) }) as { data?: { __schema?: { types?: unknown[] } } };
  const types = data.data?.__schema?.types ?? [];
  known = { schema: objectsIn(data.data?.__schema), type: Math.max(1, ...types.map(objectsIn)) };
  introspectionCosts.set(schema, known);
  return known;
};

const fieldsOf = (type: GraphQLNamedType | undefined) => (type && (isObjectType(type) || isInterfaceType(type)) ? type.getFields() : undefined);

export const queryCost = (schema: GraphQLSchema, document: DocumentNode, variables: Variables = {}, limit = Infinity): number => {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  let worst = 0;
  for (const op of document.definitions) {
    if (op.kind !== Kind.OPERATION_DEFINITION) continue;
    const fragmentCost = new Map<string, number>(); // at multiplier 1
    const visiting = new Set<string>();
    const walk = (set: SelectionSetNode, parent: GraphQLNamedType | undefined): number => {
      let cost = 0;
      for (const s of set.selections) {
        if (s.kind === Kind.FIELD) {
          if (!s.selectionSet) continue;
          // introspection reads the schema: at most what the schema holds, whatever is selected
          if (s.name.value === '__schema' || s.name.value === '__type') {
            const most = introspectionCost(schema);
            cost += s.name.value === '__schema' ? most.schema : most.type;
            if (cost > limit) return cost;
            continue;
          }
          const def = fieldsOf(parent)?.[s.name.value];
          cost += listSize(s, parent, def, variables, op) * (1 + walk(s.selectionSet, def ? getNamedType(def.type) : undefined));
        } else if (s.kind === Kind.INLINE_FRAGMENT) {
          cost += walk(s.selectionSet, s.typeCondition ? schema.getType(s.typeCondition.name.value) ?? parent : parent);
        } else {
          const name = s.name.value;
          const f = fragments.get(name);
          if (!f || visiting.has(name)) continue; // cycles are refused by validation; this guards anyway
          let c = fragmentCost.get(name);
          if (c === undefined) {
            visiting.add(name);
            c = walk(f.selectionSet, schema.getType(f.typeCondition.name.value) ?? parent);
            visiting.delete(name);
            fragmentCost.set(name, c);
          }
          cost += c;
        }
        if (cost > limit) return cost;
      }
      return cost;
    };
    const root = op.operation === 'query' ? schema.getQueryType() : op.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
    worst = Math.max(worst, walk(op.selectionSet, root ?? undefined));
    if (worst > limit) break;
  }
  return worst;
};

export const checkQueryCost = (schema: GraphQLSchema, document: DocumentNode, variables: Variables | undefined, limit = QUERY_COST_LIMIT) => {
  const cost = queryCost(schema, document, variables ?? {}, limit);
  if (cost > limit)
    throw new GraphQLError(
      `query too costly: over ${limit} (each object counts 1, times the size of every list around it: its \`first\`, or up to ${MAX_PAGE} when not given); ask for fewer objects or smaller pages`,
      { extensions: { code: 'QUERY_TOO_COSTLY', limit } },
    );
};
