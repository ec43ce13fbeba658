import { buildSchema, getIntrospectionQuery, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { checkQueryCost, introspectionCost, queryCost, QUERY_COST_LIMIT } from './query-cost.ts';

const schema = buildSchema(`
  type Query { facilities: [Facility!]!, handovers(first: Int = 20): [H!]!, workloads(first: Int): Page!, prices(feed: String): [Bar!]! }
  type Facility { id: ID!, name: String!, resources: [R!]! }
  type R { id: ID! }
  type H { id: ID!, status: String! }
  type Page { nodes: [W!]! }
  type W { id: ID!, history: [E!]! }
  type E { at: String! }
  type Bar { close: Float! }
`);
const cost = (q: string, v?: Record<string, unknown>) => queryCost(schema, parse(q), v);

describe('query cost', () => {
  it('counts each object once, times the size of the lists around it', () => {
    expect(cost(`{ handovers(first: 5) { id status } }`)).toBe(5);
    // the schema's default page, a variable, a variable's default
    expect(cost(`{ handovers { id } }`)).toBe(20);
    expect(cost(`query($n: Int) { handovers(first: $n) { id } }`, { n: 50 })).toBe(50);
    expect(cost(`query($n: Int = 300) { handovers(first: $n) { id } }`)).toBe(300);
    // a paged field with no page given: the largest page (its nodes come with the page)
    expect(cost(`{ workloads { nodes { id history { at } } } }`)).toBe(500 * (1 + 1 * (1 + 20)));
    // lists without paging: their estimate (prices: 5,000 buckets)
    expect(cost(`{ prices(feed: "x") { close } }`)).toBe(5000);
    expect(cost(`{ facilities { id resources { id } } }`)).toBe(20 * (1 + 200));
    // fragments count where they are spread
    expect(cost(`{ a: handovers(first: 2) { ...F } b: handovers(first: 3) { ...F } } fragment F on H { id status }`)).toBe(5);
  });

  it('admits the GraphiQL introspection query and refuses an alias flood', () => {
    const real = buildSchema(`type Query { a: Int }`);
    expect(() => checkQueryCost(real, parse(getIntrospectionQuery()), {})).not.toThrow();
    const flood = `{ ${Array.from({ length: 50 }, (_, i) => `a${i}: handovers(first: 500) { id status }`).join(' ')} }`;
    expect(() => checkQueryCost(schema, parse(flood), {})).toThrow(/query too costly: over 20000/);
    expect(QUERY_COST_LIMIT).toBe(20_000);
  });

  it('costs nested fragments once each: a small document cannot make the count itself slow', () => {
    const n = 40; // each fragment spreads the next twice: 2^40 fields if walked naively
    const doc = `{ ...F0 } ${Array.from({ length: n }, (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`).join(' ')} fragment F${n} on Query { handovers(first: 1) { id } }`;
    const started = performance.now();
    expect(() => checkQueryCost(schema, parse(doc), {})).toThrow(/too costly/);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('introspection cost', () => {
  const big = buildSchema(`
    type Query { ${Array.from({ length: 40 }, (_, i) => `f${i}(a: Int, b: String): T${i % 8}`).join(' ')} }
    ${Array.from({ length: 8 }, (_, i) => `type T${i} { ${Array.from({ length: 12 }, (_, j) => `x${j}(y: Int): [String!]`).join(' ')} }`).join('\n')}
  `);
  const F = `fragment F on __Schema { types { name fields { name args { name type { name ofType { name } } } type { name ofType { name } } } } }`;

  it('charges a __schema field what the whole schema holds, and a __type what the largest type holds', () => {
    const { schema: whole, type: one } = introspectionCost(big);
    expect(whole).toBeGreaterThan(500);
    expect(one).toBeGreaterThan(10);
    expect(one).toBeLessThan(whole);
    expect(queryCost(big, parse(`{ __schema { types { name } } }`))).toBe(whole);
    expect(queryCost(big, parse(`{ a: __type(name: "T1") { name } b: __type(name: "T2") { name } }`))).toBe(2 * one);
  });

  it('admits one full introspection and refuses an alias flood of them, over any selection', () => {
    expect(() => checkQueryCost(big, parse(getIntrospectionQuery()), {})).not.toThrow();
    const flood = `{ ${Array.from({ length: 2000 }, (_, i) => `s${i}: __schema { ...F }`).join(' ')} } ${F}`;
    const started = performance.now();
    expect(() => checkQueryCost(big, parse(flood, { maxTokens: 100_000 }), {})).toThrow(/query too costly/);
    expect(performance.now() - started).toBeLessThan(1000);
    // before, each alias counted a handful of objects: 2,000 of them fitted
    expect(queryCost(big, parse(`{ ${Array.from({ length: 40 }, (_, i) => `s${i}: __schema { ...F }`).join(' ')} } ${F}`))).toBeGreaterThan(QUERY_COST_LIMIT);
  });
});
