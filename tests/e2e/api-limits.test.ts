/** Rate limits per key and query cost limits, against a running server (docs/design.md §4). */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { getIntrospectionQuery, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteDatabase } from '../support/databases.ts';
import { ADMIN_KEY, onboardCustomer, startTestPlatform, type TestPlatform } from '../support/platform.ts';

describe('API limits', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform(await pgliteDatabase(), { rateLimitPerMinute: 8 });
  });
  afterAll(() => p.close());

  it('answers 429 with Retry-After once a key has used its requests for the minute; other keys and /health go on', async () => {
    const customer = await onboardCustomer(p, 'Busy'); // a few admin requests
    let limited: Response | undefined;
    for (let i = 0; i < 12 && !limited; i++) {
      const res = await fetch(`${p.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${customer.key}` },
        body: JSON.stringify({ query: '{ me { role } }' }),
      });
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(200);
    }
    expect(limited).toBeDefined();
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await limited!.json()).toMatchObject({ errors: [{ extensions: { code: 'RATE_LIMITED' } }] });
    // REST answers in its own shape
    const rest = await fetch(`${p.url}/api/v1/workloads`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${customer.key}` }, body: '{}' });
    expect(rest.status).toBe(429);
    expect(await rest.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
    const other = await onboardCustomer(p, 'Calm').catch((e: unknown) => e); // the admin key has its own count
    expect(other).not.toBeInstanceOf(Error);
    for (let i = 0; i < 20; i++) expect((await fetch(`${p.url}/health`)).status).toBe(200);
  });
});

describe('X-Forwarded-For', () => {
  /** Requests without a key from `forwardedFor` (through this machine's loopback) until refused, at most 30. */
  const untilLimited = async (p: TestPlatform, forwardedFor: string) => {
    for (let i = 1; i <= 30; i++) {
      const res = await fetch(`${p.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor }, body: '{"query":"{ __typename }"}' });
      if (res.status === 429) return i;
      expect(res.status).toBe(401);
    }
    return undefined;
  };

  it('is believed from a configured proxy only: each forwarded client has its own address window', async () => {
    const proxied = await startTestPlatform(await pgliteDatabase(), { rateLimitPerMinute: 2, trustedProxies: ['loopback'] });
    const direct = await startTestPlatform(await pgliteDatabase(), { rateLimitPerMinute: 2 });
    try {
      // behind the trusted proxy (here: loopback), two clients are two addresses
      expect(await untilLimited(proxied, '203.0.113.1')).toBeDefined();
      expect(await untilLimited(proxied, '203.0.113.1')).toBe(1);
      expect(await untilLimited(proxied, '203.0.113.2')).toBeGreaterThan(1);
      // from anyone else the header is ignored: a made-up address buys no fresh window
      expect(await untilLimited(direct, '203.0.113.1')).toBeDefined();
      expect(await untilLimited(direct, '203.0.113.2')).toBe(1);
    } finally {
      await proxied.close();
      await direct.close();
    }
  });
});

describe('query cost limit', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform(await pgliteDatabase());
  });
  afterAll(() => p.close());

  it('keeps an idle WebSocket alive by answering the client\'s pings', async () => {
    let pongs = 0;
    const client = createClient({
      url: p.wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${ADMIN_KEY}` },
      retryAttempts: 0,
      keepAlive: 50,
      on: { pong: () => void pongs++ },
    });
    const dispose = client.subscribe({ query: `subscription { handoverProgress { id } }` }, { next: () => {}, error: () => {}, complete: () => {} });
    await new Promise((r) => setTimeout(r, 400));
    dispose();
    await client.dispose();
    expect(pongs).toBeGreaterThan(1);
  });

  it('refuses an alias flood before running it, and says how much it cost', async () => {
    const flood = `{ ${Array.from({ length: 50 }, (_, i) => `a${i}: handovers(first: 500) { id status }`).join(' ')} }`;
    const r = await p.gql(ADMIN_KEY, flood);
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0]).toMatchObject({ extensions: { code: 'QUERY_TOO_COSTLY', limit: 20_000 } });
    expect(r.body.data ?? null).toBeNull();
    expect((await p.gql(ADMIN_KEY, `{ handovers(first: 500) { id status } }`)).body.errors).toBeUndefined();
  });

  it('checks the cost again whenever variables come with a document that passed without them', async () => {
    const paged = `query($n: Int = 1) { ${Array.from({ length: 50 }, (_, i) => `a${i}: handovers(first: $n) { id status }`).join(' ')} }`;
    for (let i = 0; i < 2; i++) expect((await p.gql(ADMIN_KEY, paged)).body.errors).toBeUndefined();
    const costly = await p.gql(ADMIN_KEY, paged, { n: 500 });
    expect(costly.status).toBe(400);
    expect(costly.body.errors?.[0]).toMatchObject({ extensions: { code: 'QUERY_TOO_COSTLY' } });
    expect((await p.gql(ADMIN_KEY, paged, { n: 2 })).body.errors).toBeUndefined();
  });
});

describe('introspection and document size over HTTP POST', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform(await pgliteDatabase());
  });
  afterAll(() => p.close());

  const post = (key: string, query: string) =>
    fetch(`${p.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query }) }).then(async (r) => ({
      status: r.status,
      text: await r.text(),
    }));

  it('admits GraphiQL\'s introspection query, refuses an alias flood of __schema before running it', async () => {
    const customer = await onboardCustomer(p, 'Curious');
    const full = await post(customer.key, getIntrospectionQuery());
    expect(full.status).toBe(200);
    expect(JSON.parse(full.text).data.__schema.types.length).toBeGreaterThan(20);
    // the reproduction was 2,000 aliases of __schema { ...F } (now over the token limit too); 1,200 fit under it
    const F = `fragment F on __Schema { types { name kind fields { name args { name type { name kind ofType { name kind } } } type { name kind ofType { name kind } } } } }`;
    const flood = `{ ${Array.from({ length: 1200 }, (_, i) => `s${i}: __schema { ...F }`).join(' ')} } ${F}`;
    const started = Date.now();
    const [refused, health] = await Promise.all([post(customer.key, flood), fetch(`${p.url}/health`).then(() => Date.now() - started)]);
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.text).errors[0].extensions.code).toBe('QUERY_TOO_COSTLY');
    expect(refused.text.length).toBeLessThan(2000);
    expect(health).toBeLessThan(2000);
  });

  it('holds POST to the same token limit as GET and WebSocket, and never reads a query as a JSON syntax tree', async () => {
    const many = `{ ${"a:__typename ".repeat(3500)}}`; // 3 tokens each, 45 KB
    const long = await post(ADMIN_KEY, many);
    expect(long.status).toBe(400);
    expect(JSON.parse(long.text).errors[0]).toMatchObject({ extensions: { code: 'GRAPHQL_PARSE_FAILED' } });
    expect(JSON.parse(long.text).errors[0].message).toMatch(/10000 tokens/);
    // mercurius takes a document that fails to parse for JSON text of an AST, bypassing parse limits
    const ast = JSON.stringify(parse('{ me { role } }'));
    const asTree = await post(ADMIN_KEY, ast);
    expect(asTree.status).toBe(400);
    expect(JSON.parse(asTree.text).errors[0].extensions.code).toBe('GRAPHQL_PARSE_FAILED');
  });
});

describe('response size bound', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform(await pgliteDatabase(), { maxResponseChars: 3000 });
  });
  afterAll(() => p.close());

  it('refuses an answer over the bound with a small error instead of sending it', async () => {
    const small = await p.gql(ADMIN_KEY, `{ me { role } }`);
    expect(small.status).toBe(200);
    const big = await p.gql(ADMIN_KEY, getIntrospectionQuery());
    expect(big.status).toBe(400);
    expect(big.body.errors?.[0]).toMatchObject({ extensions: { code: 'RESPONSE_TOO_LARGE' } });
  });
});

describe('GET /metrics', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform(await pgliteDatabase());
  });
  afterAll(() => p.close());

  it('serves Prometheus text to staff keys only', async () => {
    const customer = await onboardCustomer(p, 'Metered');
    await p.gql(customer.key, `{ me { role } }`);
    expect((await fetch(`${p.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${p.url}/metrics`, { headers: { authorization: `Bearer ${customer.key}` } })).status).toBe(403);
    const res = await fetch(`${p.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/^# TYPE hcp_http_requests_total counter$/m);
    expect(text).toMatch(/^hcp_http_requests_total\{method="POST",route="\/graphql",status="200"\} \d+$/m);
    expect(text).toMatch(/^hcp_events_applied\{consumer="customers"\} [1-9]\d*$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
    // latency histograms: requests by route, projection batches
    expect(text).toMatch(/^# TYPE hcp_http_request_duration_seconds histogram$/m);
    expect(text).toMatch(/^hcp_http_request_duration_seconds_bucket\{le="\+Inf",method="POST",route="\/graphql"\} [1-9]\d*$/m);
    expect(text).toMatch(/^hcp_projection_batch_duration_seconds_count [1-9]\d*$/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
    // every sample line is name{labels} value
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) expect(line).toMatch(/^[a-z_][a-z0-9_]*(\{[^}]*\})? (-?\d+(\.\d+)?(e[+-]?\d+)?|NaN)$/);
    expect(text).not.toContain(customer.key);
  });
});
