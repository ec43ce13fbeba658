/**
 * Bad input never crashes the process, never appends anything, and gets a clear
 * error naming the field; idempotent mutations; introspection within the depth limit.
 */
import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteDatabase } from '../support/databases.ts';
import { ADMIN_KEY, onboardCustomer, startTestPlatform, type TestPlatform } from '../support/platform.ts';

const SEED_BODY = { type: 'ai_inference_realtime', model: 'llama-3-70b', gpu_type: 'H100', max_latency_ms: 50, duration_hours: 2 };

describe('API input handling', () => {
  let p: TestPlatform;
  let customer: Awaited<ReturnType<typeof onboardCustomer>>;
  beforeAll(async () => {
    p = await startTestPlatform(await pgliteDatabase());
    customer = await onboardCustomer(p, 'Input Tester');
  });
  afterAll(() => p.close());

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${p.url}/api/v1/workloads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${customer.key}`, ...headers },
      body,
    });

  it("accepts the seed's REST body and answers with the workload id and status", async () => {
    const res = await post(JSON.stringify(SEED_BODY));
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'queued', priority: 'P1', reserved_usd: '7.00' });
    expect(body.workload_id).toMatch(/^w-/);
  });

  it.each([
    ['malformed JSON', '{"type":', 400, 'body'],
    ['an array', '[1,2]', 400, 'body'],
    ['an unknown field', JSON.stringify({ ...SEED_BODY, gpu_typo: 'H100' }), 400, 'gpu_typo'],
    ['a wrong type', JSON.stringify({ ...SEED_BODY, gpu_type: 5 }), 400, 'gpu_type'],
    ['an unknown GPU', JSON.stringify({ ...SEED_BODY, gpu_type: 'RTX9090' }), 400, 'gpu_type'],
    ['a negative duration', JSON.stringify({ ...SEED_BODY, duration_hours: -2 }), 400, 'duration_hours'],
    ['an absurd GPU count', JSON.stringify({ ...SEED_BODY, gpu_count: 1e9 }), 400, 'gpu_count'],
    ['a fractional GPU count', JSON.stringify({ ...SEED_BODY, gpu_count: 1.5 }), 400, 'gpu_count'],
    ['a huge model name', JSON.stringify({ ...SEED_BODY, model: 'x'.repeat(10_000) }), 400, 'model'],
    ['a missing field', JSON.stringify({ type: 'ai_inference_batch', model: 'm', gpu_type: 'A100' }), 400, 'duration_hours'],
    ['an infeasible SLA', JSON.stringify({ ...SEED_BODY, gpu_type: 'L40S' }), 422, 'max_latency_ms'],
    ['a real-time request without a latency target', JSON.stringify({ ...SEED_BODY, max_latency_ms: undefined }), 422, 'max_latency_ms'],
    ['another customer as target', JSON.stringify({ ...SEED_BODY, customer_id: 'someone-else' }), 403, undefined],
  ])('refuses %s, naming the field, and appends nothing', async (_, body, status, field) => {
    const before = (await p.store.readAll()).length;
    const res = await post(body);
    expect(res.status).toBe(status);
    const json = (await res.json()) as { error: { code: string; message: string; field?: string } };
    expect(json.error.message.length).toBeGreaterThan(0);
    if (field) expect(json.error.field).toBe(field);
    expect((await p.store.readAll()).length).toBe(before);
    expect((await fetch(`${p.url}/health`)).status).toBe(200);
  });

  it('answers an unknown route 404 and a method a route does not serve 405 with Allow, in the API’s own error shape', async () => {
    const nope = await fetch(`${p.url}/nope?x=1`, { headers: { authorization: `Bearer ${customer.key}` } });
    expect([nope.status, ((await nope.json()) as any).error]).toEqual([404, { code: 'NOT_FOUND', message: 'no route GET /nope: see README.md for the API' }]);
    for (const [method, path, allow] of [['DELETE', '/api/v1/workloads', 'POST'], ['PUT', '/graphql', 'GET, HEAD, POST']] as const) {
      const r = await fetch(`${p.url}${path}?x=1`, { method, headers: { authorization: `Bearer ${customer.key}` } });
      expect([r.status, r.headers.get('allow'), ((await r.json()) as any).error?.code], `${method} ${path}`).toEqual([405, allow, 'METHOD_NOT_ALLOWED']);
    }
  });

  it('over GET: an operation name that matches nothing is a 400 naming it, a mutation a 405 with Allow: POST, variables an object', async () => {
    const get = async (params: Record<string, string>) => {
      const r = await fetch(`${p.url}/graphql?${new URLSearchParams(params)}`, { headers: { authorization: `Bearer ${customer.key}` } });
      return { status: r.status, allow: r.headers.get('allow'), error: ((await r.json()) as any).errors?.[0] };
    };
    expect(await get({ query: '{ me { role } }', operationName: 'X' })).toMatchObject({ status: 400, error: { extensions: { code: 'BAD_USER_INPUT', field: 'operationName' } } });
    expect(await get({ query: 'query A { me { role } } query B { me { role } }' })).toMatchObject({ status: 400, error: { extensions: { field: 'operationName' } } });
    expect(await get({ query: 'mutation { cancelWorkload(id: "w-x") { id } }' })).toMatchObject({ status: 405, allow: 'POST', error: { extensions: { code: 'METHOD_NOT_ALLOWED' } } });
    expect(await get({ query: '{ me { role } }', variables: '[]' })).toMatchObject({ status: 400, error: { extensions: { field: 'variables' } } });
    expect(await get({ query: '{ me { role } }', variables: 'null' })).toMatchObject({ status: 200 });
    expect(await get({ query: 'subscription { priceTicked { feed } }' })).toMatchObject({ status: 400, error: { extensions: { code: 'BAD_REQUEST' }, message: expect.stringMatching(/WebSocket/) } });
    expect(await get({ query: 'query B { me { role } }', operationName: 'B', variables: '{}' })).toMatchObject({ status: 200 });
    const text = await fetch(`${p.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${customer.key}`, 'content-type': 'text/plain' }, body: '{ me { role } }' });
    expect(text.status).toBe(415);
  });

  it('refuses an oversized body and a missing or unknown key', async () => {
    expect((await post(JSON.stringify({ ...SEED_BODY, model: 'x'.repeat(100_000) }))).status).toBe(413);
    expect((await post(JSON.stringify(SEED_BODY), { authorization: '' })).status).toBe(401);
    expect((await post(JSON.stringify(SEED_BODY), { authorization: 'Bearer hcp_nope' })).status).toBe(401);
    expect((await p.gql(undefined, '{ me { role } }')).status).toBe(401);
  });

  it('names the field of bad GraphQL input and appends nothing', async () => {
    const before = (await p.store.readAll()).length;
    const submit = `mutation($i: SubmitWorkloadInput!, $c: ID) { submitWorkload(input: $i, commandId: $c) { id } }`;
    const input = { type: 'ai_inference_batch', model: 'llama-3-8b', gpuType: 'A100', durationHours: 1 };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ i: { ...input, durationHours: -1 } }, 'input.durationHours'],
      [{ i: { ...input, gpuCount: 100_000 } }, 'input.gpuCount'],
      [{ i: { ...input, model: 'bad model name with spaces' } }, 'input.model'],
      [{ i: input, c: 'x' }, 'commandId'],
    ];
    for (const [variables, field] of cases) {
      const res = await p.gql(customer.key, submit, variables);
      expect(res.body.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    const wrongType = await p.gql(customer.key, submit, { i: { ...input, gpuCount: 'two' } });
    expect(JSON.stringify(wrongType.body.errors)).toContain('gpuCount');
    const hugeName = await p.gql(ADMIN_KEY, `mutation($n: String!) { registerCustomer(input: {name: $n}) { id } }`, { n: 'n'.repeat(5000) });
    expect(hugeName.body.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.name' });
    const badMoney = await p.gql(ADMIN_KEY, `mutation { grantQuota(input: {customerId: "x", gpuHours: 1, budgetUsd: "1e9"}) { customerId } }`);
    expect(badMoney.body.errors?.[0].extensions).toMatchObject({ field: 'input.budgetUsd' });
    expect((await p.store.readAll()).length).toBe(before);
  });

  it('names the input field, not the account’s own, when a grant would pass the account limit', async () => {
    const c = await onboardCustomer(p, 'Big Spender');
    const grant = (budgetUsd: string) =>
      p.gql(ADMIN_KEY, `mutation($i: GrantQuotaInput!) { grantQuota(input: $i) { customerId } }`, { i: { customerId: c.customerId, gpuHours: 1, budgetUsd } });
    expect((await grant('999999000')).body.errors).toBeUndefined();
    const over = await grant('999999000');
    expect(over.body.errors?.[0].extensions).toEqual({ code: 'INVALID_INPUT', field: 'input.budgetUsd' });
    expect(over.body.errors?.[0].message).toMatch(/account limit/);
  });

  it('refuses names and reasons that would not read as stored: control characters, bidi overrides, nothing visible', async () => {
    const before = (await p.store.readAll()).length;
    const register = `mutation($n: String!) { registerCustomer(input: {name: $n}) { id } }`;
    for (const [name, message] of [
      ['a\u0007\u001b[31mb', /control characters/],
      ['evil\u202Etxt.exe', /bidirectional/],
      ['\u200b', /visible/],
      ['   ', /visible/],
    ] as const) {
      const r = await p.gql(ADMIN_KEY, register, { n: name });
      expect(r.body.errors?.[0].extensions, JSON.stringify(name)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.name' });
      expect(r.body.errors?.[0].message).toMatch(message);
    }
    const label = await p.gql(ADMIN_KEY, `mutation { issueApiKey(role: analyst, label: "ops\u0000") { keyId } }`);
    expect(label.body.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'label' });
    expect((await p.store.readAll()).length).toBe(before);
    // what people write in their own scripts stays accepted
    expect((await p.gql(ADMIN_KEY, register, { n: 'Søren & 日本 AI (R&D)' })).body.errors).toBeUndefined();
  });

  it('handles the same commandId twice as one submission', async () => {
    const submit = `mutation($i: SubmitWorkloadInput!, $c: ID) { submitWorkload(input: $i, commandId: $c) { id } }`;
    const input = { type: 'ai_inference_batch', model: 'llama-3-8b', gpuType: 'A100', durationHours: 1 };
    const first = await p.gql(customer.key, submit, { i: input, c: 'client-retry-0001' });
    const events = (await p.store.readAll()).length;
    const again = await p.gql(customer.key, submit, { i: input, c: 'client-retry-0001' });
    expect(again.body.data.submitWorkload.id).toBe(first.body.data.submitWorkload.id);
    // the same request with its fields in another order is the same request
    const reordered = Object.fromEntries(Object.entries(input).reverse());
    expect((await p.gql(customer.key, submit, { i: reordered, c: 'client-retry-0001' })).body.data.submitWorkload.id).toBe(first.body.data.submitWorkload.id);
    expect((await p.store.readAll()).length).toBe(events);
  });

  it('refuses a command id sent again with a different request, instead of answering with the first one', async () => {
    const c = await onboardCustomer(p, 'Careless Retrier');
    const submit = `mutation($i: SubmitWorkloadInput!, $c: ID) { submitWorkload(input: $i, commandId: $c) { id } }`;
    const input = { type: 'ai_inference_batch', model: 'llama-3-8b', gpuType: 'A100', durationHours: 1 };
    expect((await p.gql(c.key, submit, { i: input, c: 'retry-0002' })).body.errors).toBeUndefined();
    const events = (await p.store.readAll()).length;
    const changed = await p.gql(c.key, submit, { i: { ...input, durationHours: 2 }, c: 'retry-0002' });
    expect(changed.body.errors?.[0]).toMatchObject({ message: 'this command id was already used for a different request', extensions: { code: 'ALREADY_EXISTS', field: 'commandId' } });
    const grant = `mutation($i: GrantQuotaInput!) { grantQuota(input: $i, commandId: "grant-0001") { customerId } }`;
    expect((await p.gql(ADMIN_KEY, grant, { i: { customerId: c.customerId, gpuHours: 1, budgetUsd: '5.00' } })).body.errors).toBeUndefined();
    const bigger = await p.gql(ADMIN_KEY, grant, { i: { customerId: c.customerId, gpuHours: 1, budgetUsd: '500.00' } });
    expect(bigger.body.errors?.[0]?.extensions).toMatchObject({ code: 'ALREADY_EXISTS', field: 'commandId' });
    // REST: the same Idempotency-Key with another body
    const rest = (body: object) =>
      fetch(`${p.url}/api/v1/workloads`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${c.key}`, 'idempotency-key': 'rest-0003' }, body: JSON.stringify(body) });
    expect((await rest(SEED_BODY)).status).toBe(201);
    const restChanged = await rest({ ...SEED_BODY, duration_hours: 3 });
    expect([restChanged.status, ((await restChanged.json()) as any).error]).toMatchObject([409, { code: 'ALREADY_EXISTS', field: 'Idempotency-Key' }]);
    expect((await p.store.readAll()).length).toBe(events + 1 + 4); // the grant, and the REST submission's reservation and workload events
  });

  it('answers another customer’s workload alike whatever command id comes with it (no oracle of their command ids)', async () => {
    const [owner, prober] = [await onboardCustomer(p, 'Owner'), await onboardCustomer(p, 'Prober')];
    const input = { type: 'ai_inference_batch', model: 'llama-3-8b', gpuType: 'A100', durationHours: 1 };
    const w = (await p.gql(owner.key, `mutation($i: SubmitWorkloadInput!) { submitWorkload(input: $i) { id } }`, { i: input })).body.data.submitWorkload.id;
    const cancel = (key: string, commandId: string) => p.gql(key, `mutation($w: ID!, $c: ID) { cancelWorkload(id: $w, commandId: $c) { id status } }`, { w, c: commandId });
    expect((await cancel(owner.key, 'owners-cancel-1')).body.data.cancelWorkload.status).toBe('cancelled');
    const answers = await Promise.all(['owners-cancel-1', 'a-fresh-id-1'].map(async (c) => (await cancel(prober.key, c)).body.errors?.[0]));
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]).toMatchObject({ message: 'workload not found', extensions: { code: 'NOT_FOUND', field: 'id' } });
  });

  it('refuses a command id already used for another command on the customer, naming it', async () => {
    const customer = await onboardCustomer(p, 'Command Id Reuser');
    const grant = await p.gql(ADMIN_KEY, `mutation($i: GrantQuotaInput!, $c: ID) { grantQuota(input: $i, commandId: $c) { customerId } }`, {
      i: { customerId: customer.customerId, gpuHours: 1, budgetUsd: '1.00' },
      c: 'shared-command-id-1',
    });
    expect(grant.body.errors).toBeUndefined();
    const input = { type: 'ai_inference_batch', model: 'llama-3-8b', gpuType: 'A100', durationHours: 1 };
    const reused = await p.gql(customer.key, `mutation($i: SubmitWorkloadInput!, $c: ID) { submitWorkload(input: $i, commandId: $c) { id } }`, { i: input, c: 'shared-command-id-1' });
    expect(reused.body.errors?.[0]?.extensions).toMatchObject({ code: 'ALREADY_EXISTS', field: 'commandId' });
  });

  it('keeps callers\' command ids apart from the platform\'s own: an id like release-quota:<w> cannot stop a cancelled workload\'s quota coming back', async () => {
    const c = await onboardCustomer(p, 'Namespace Prober');
    const submit = `mutation($i: SubmitWorkloadInput!, $c: ID) { submitWorkload(input: $i, commandId: $c) { id reserved { gpuSeconds } } }`;
    const input = { type: 'ai_inference_batch', model: 'llama-3-8b', gpuType: 'A100', durationHours: 11 };
    const w1 = (await p.gql(c.key, submit, { i: input })).body.data.submitWorkload;
    // the customer names a second submission with the id the platform uses to release w1's quota
    const w2 = await p.gql(c.key, submit, { i: input, c: `release-quota:${w1.id}` });
    expect(w2.body.errors).toBeUndefined();
    const cancelled = await p.gql(c.key, `mutation($w: ID!) { cancelWorkload(id: $w) { status } }`, { w: w1.id });
    expect(cancelled.body.data.cancelWorkload.status).toBe('cancelled');
    const balance = await p.gql(c.key, `{ balance { reserved { gpuSeconds } } }`);
    // only w2's reservation is left (before: w1's 39,600 GPU-seconds stayed reserved for good)
    expect(balance.body.data.balance.reserved.gpuSeconds).toBe(w2.body.data.submitWorkload.reserved.gpuSeconds);
  });

  it('registers one customer for one command id, however often it is sent', async () => {
    const register = `mutation($c: ID) { registerCustomer(input: { name: "Twice Sent" }, commandId: $c) { id } }`;
    const first = await p.gql(ADMIN_KEY, register, { c: 'register-once-0001' });
    const again = await p.gql(ADMIN_KEY, register, { c: 'register-once-0001' });
    expect(again.body.data.registerCustomer.id).toBe(first.body.data.registerCustomer.id);
    const all = await p.gql(ADMIN_KEY, `{ customers(first: 500) { name } }`);
    expect(all.body.data.customers.filter((x: { name: string }) => x.name === 'Twice Sent')).toHaveLength(1);
  });

  it('serves the introspection query (GraphiQL) and refuses queries deeper than the limit', async () => {
    const introspection = await p.gql(customer.key, getIntrospectionQuery());
    expect(introspection.body.errors).toBeUndefined();
    expect(introspection.body.data.__schema.queryType.name).toBe('Query');
    const deep = `{ __schema { types { fields { type ${'{ ofType '.repeat(16)}{ name }${' }'.repeat(16)} } } } }`;
    const res = await p.gql(customer.key, deep);
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]).toMatchObject({ message: 'query depth 21 exceeds the limit of 16', extensions: { code: 'QUERY_TOO_DEEP', depth: 21, limit: 16 } });
    expect(res.body.data ?? null).toBeNull();
  });

  it('refuses what PostgreSQL would refuse before it gets there: forged cursors, times it cannot store, NUL and lone surrogates in text', async () => {
    const forged = ['0|w-x', '2020-02-30T00:00:00.000Z|w-1', '+275760-09-13T00:00:00.000Z|w-1', '2024-01-01T00:00:00.000Z|w\u0000x'].map((c) => Buffer.from(c).toString('base64url'));
    for (const after of forged) {
      const r = await p.gql(customer.key, `query($a: String) { workloads(after: $a) { nodes { id } } }`, { a: after });
      expect(r.body.errors?.[0]?.extensions, after).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    }
    for (const [from, field] of [['0000-01-01T00:00:00Z', 'from'], ['2023-01-01T00:00:00-23:59', undefined]] as const) {
      const r = await p.gql(customer.key, `query($f: String!) { prices(feed: "btc-usd", from: $f, to: "2023-01-02T00:00:00Z") { start } }`, { f: from });
      if (field) expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      else expect(r.body.errors).toBeUndefined();
    }
    for (const name of ['a\u0000b', 'a\ud800b']) {
      const r = await p.gql(ADMIN_KEY, `mutation($n: String!) { registerCustomer(input: { name: $n }) { id } }`, { n: name });
      expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.name' });
    }
  });

  it('refuses an empty id filter and a page size below 1 like every other argument', async () => {
    const empty = await p.gql(ADMIN_KEY, `{ workloads(customerId: "") { nodes { id } } }`);
    expect(empty.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'customerId' });
    for (const first of [0, -5]) {
      const r = await p.gql(ADMIN_KEY, `query($n: Int) { recommendations(facilityId: "texas-north", first: $n) { intervalStart } }`, { n: first });
      expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    }
  });

  it('answers a malformed GraphQL request 4xx with a code, never an internal error', async () => {
    const post = (body: string, type = 'application/json') =>
      fetch(`${p.url}/graphql`, { method: 'POST', headers: { 'content-type': type, authorization: `Bearer ${ADMIN_KEY}` }, body }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    for (const [body, status, code] of [
      ['', 400, 'BAD_REQUEST'],
      ['{bad', 400, 'BAD_REQUEST'],
      ['{}', 400, 'BAD_REQUEST'],
      [JSON.stringify({ query: '{ me { role } }', variables: { x: 'a'.repeat(100_000) } }), 413, 'PAYLOAD_TOO_LARGE'],
    ] as const) {
      const r = await post(body);
      expect([r.status, r.body.errors?.[0]?.extensions?.code], body.slice(0, 20)).toEqual([status, code]);
    }
    // fields of the wrong type: mercurius would take a non-string query for a parsed document
    for (const [body, field] of [
      [{ query: 123 }, 'query'],
      [{ query: { kind: 'Document', definitions: [] } }, 'query'],
      [{ query: '{ me { role } }', operationName: 5 }, 'operationName'],
      [{ query: '{ me { role } }', variables: [1] }, 'variables'],
      [[{ query: '{ me { role } }' }], 'body'],
    ] as const) {
      const r = await post(JSON.stringify(body));
      expect([r.status, r.body.errors?.[0]?.extensions], JSON.stringify(body)).toEqual([400, { code: 'BAD_USER_INPUT', field }]);
    }
    const repeated = await fetch(`${p.url}/graphql?query=${encodeURIComponent('{ me { role } }')}&query=x`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect([repeated.status, ((await repeated.json()) as any).errors?.[0]?.extensions?.field]).toEqual([400, 'query']);
    expect((await post('a=b', 'application/x-www-form-urlencoded')).status).toBe(415);
  });

  it('gives parse and validation errors a code too, with status 400', async () => {
    const invalid = await p.gql(customer.key, `{ workloads(status: sideways) { nodes { id } } }`);
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors?.[0]?.extensions).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED', field: 'status' });
    // a literal of the wrong type names the argument it is in, down into input objects
    for (const [query, field] of [
      ['{ workloads(first: 99999999999) { nodes { id } } }', 'first'],
      ['{ workloads(nope: 1) { nodes { id } } }', 'nope'],
      ['mutation { submitWorkload(input: {type: ai_inference_batch, model: "m", gpuType: A100, durationHours: "long"}) { id } }', 'input.durationHours'],
    ] as const) {
      const r = await p.gql(customer.key, query);
      expect([r.status, r.body.errors?.[0]?.extensions], query).toEqual([400, { code: 'GRAPHQL_VALIDATION_FAILED', field }]);
    }
    const unknownField = await p.gql(customer.key, `{ workloads { nodes { nope } } }`);
    expect(unknownField.body.errors?.[0]?.extensions).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED' }); // not in an argument: no field
    const typed = await p.gql(customer.key, `query($n: Int) { workloads(first: $n) { nodes { id } } }`, { n: 'many' });
    expect(typed.status).toBe(400);
    expect(typed.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'n' });
    const overHttp = await p.gql(customer.key, `subscription { workloadUpdated { id } }`);
    expect(overHttp.status).toBe(400);
    expect(overHttp.body.errors?.[0]?.extensions.code).toBe('BAD_REQUEST');
    expect(overHttp.body.errors?.[0]?.message).toMatch(/WebSocket/);
    // an operation name the document does not hold, or none where it holds several: nothing runs
    const unnamed = await p.gql(customer.key, `query A { me { role } } query B { me { role } }`);
    expect([unnamed.status, unnamed.body.errors?.[0]?.extensions.code], JSON.stringify(unnamed.body)).toEqual([400, 'GRAPHQL_VALIDATION_FAILED']);
    const broken = await p.gql(customer.key, `{ workloads( `);
    expect(broken.status).toBe(400);
    expect(broken.body.errors?.[0]?.extensions.code).toBe('GRAPHQL_PARSE_FAILED');
  });

  it('shows a customer only its own balance, and staff any', async () => {
    const own = await p.gql(customer.key, `{ balance { customerId granted { gpuHours budgetUsd } } }`);
    expect(own.body.data.balance).toMatchObject({ customerId: customer.customerId, granted: { gpuHours: 100, budgetUsd: '1000.00' } });
    const staff = await p.gql(ADMIN_KEY, `query($c: ID) { balance(customerId: $c) { customerId } }`, { c: customer.customerId });
    expect(staff.body.data.balance.customerId).toBe(customer.customerId);
    const customers = await p.gql(customer.key, `{ customers { id } }`);
    expect(customers.body.errors?.[0].extensions.code).toBe('FORBIDDEN');
  });
});

describe('workload listing', () => {
  it('pages through a customer’s workloads newest first with cursors, and filters by status', async () => {
    const p = await startTestPlatform(await pgliteDatabase());
    try {
      const c = await onboardCustomer(p, 'Pager');
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await p.gql(c.key, `mutation($i: SubmitWorkloadInput!) { submitWorkload(input: $i) { id } }`, {
          i: { type: 'model_training', model: 'm-1b', gpuType: 'L40S', durationHours: 1 },
        });
        ids.push(r.body.data.submitWorkload.id);
      }
      await p.gql(c.key, `mutation($id: ID!) { cancelWorkload(id: $id) { id } }`, { id: ids[0] });
      const seen: string[] = [];
      let after: string | null = null;
      for (let page = 0; page < 5; page++) {
        const r: any = await p.gql(c.key, `query($a: String) { workloads(first: 2, after: $a) { nodes { id } pageInfo { hasNextPage endCursor } } }`, { a: after });
        seen.push(...r.body.data.workloads.nodes.map((n: { id: string }) => n.id));
        if (!r.body.data.workloads.pageInfo.hasNextPage) break;
        after = r.body.data.workloads.pageInfo.endCursor;
      }
      expect(seen).toEqual([...ids].reverse());
      const cancelled = await p.gql(c.key, `{ workloads(status: cancelled) { nodes { id status } } }`);
      expect(cancelled.body.data.workloads.nodes).toEqual([{ id: ids[0], status: 'cancelled' }]);
      const badCursor = await p.gql(c.key, `{ workloads(after: "nope") { nodes { id } } }`);
      expect(badCursor.body.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
      const tooMany = await p.gql(c.key, `{ workloads(first: 100000) { nodes { id } } }`);
      expect(tooMany.body.errors?.[0].extensions).toMatchObject({ field: 'first' });
    } finally {
      await p.close();
    }
  });
});
