import { buildSchema, getIntrospectionQuery, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { checkQueryCost, queryCost, QUERY_COST_LIMIT } from './query-cost.ts';

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
