import { parse } from 'graphql';
import { getIntrospectionQuery } from 'graphql';
import { describe, expect, it } from 'vitest';
import { checkQueryCost, queryCost, QUERY_COST_LIMIT } from './query-cost.ts';

describe('query cost', () => {
  it('counts each field once, times the page size of the lists around it', () => {
    expect(queryCost(parse(`{ facilities { id name } }`))).toBe(3);
    expect(queryCost(parse(`{ workloads(first: 100) { nodes { id history { at } } } }`))).toBe(1 + 100 * 4);
    expect(queryCost(parse(`query($n: Int) { switches(first: $n) { id } }`), { n: 50 })).toBe(51);
    // fragments count where they are spread
    expect(queryCost(parse(`{ a: facilities { ...F } b: facilities { ...F } } fragment F on Facility { id name }`))).toBe(6);
  });

  it('admits the GraphiQL introspection query and refuses an alias flood, saying why', () => {
    expect(() => checkQueryCost(parse(getIntrospectionQuery()), {})).not.toThrow();
    const flood = `{ ${Array.from({ length: 50 }, (_, i) => `a${i}: workloads(first: 500) { nodes { id status } }`).join(' ')} }`;
    expect(queryCost(parse(flood))).toBeGreaterThan(QUERY_COST_LIMIT);
    expect(() => checkQueryCost(parse(flood), {})).toThrow(/query too costly: \d+ > 20000/);
  });
});
