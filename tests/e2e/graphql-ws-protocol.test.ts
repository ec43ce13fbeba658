/**
 * The GraphQL over WebSocket protocol (graphql-ws, "graphql-transport-ws") as its spec states
 * it, checked message by message with a raw WebSocket: the close codes for every misuse, queries
 * and mutations over the socket, and our own checks (key at every operation, depth, cost with
 * variables, roles) on that path too.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteDatabase } from '../support/databases.ts';
import { ADMIN_KEY, onboardCustomer, startTestPlatform, type TestPlatform } from '../support/platform.ts';

type Frame = Record<string, any>;
type Session = { frames: Frame[]; send(message: unknown): void; closed: Promise<{ code: number; reason: string }>; next(match: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>; close(): void };

const open = (url: string, protocol: string | string[] = 'graphql-transport-ws'): Promise<Session> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocol);
    const frames: Frame[] = [];
    const waiters: Array<() => void> = [];
    ws.on('message', (data) => {
      frames.push(JSON.parse(String(data)));
      for (const w of waiters.splice(0)) w();
    });
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: String(reason) })));
    ws.on('error', reject);
    ws.on('open', () =>
      resolve({
        frames,
        closed,
        send: (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m)),
        close: () => ws.close(),
        next: async (match, timeoutMs = 5000) => {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const found = frames.find(match);
            if (found) return found;
            if (Date.now() > deadline) throw new Error(`no matching frame in ${JSON.stringify(frames)}`);
            await new Promise<void>((r) => {
              waiters.push(r);
              setTimeout(r, 50);
            });
          }
        },
      }),
    );
  });

const init = (key: string) => ({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } });
const acked = async (p: TestPlatform, key: string) => {
  const s = await open(p.wsUrl);
  s.send(init(key));
  await s.next((f) => f.type === 'connection_ack');
  return s;
};
const subscribe = (id: string, query: string, variables?: Record<string, unknown>) => ({ id, type: 'subscribe', payload: { query, ...(variables ? { variables } : {}) } });

describe('graphql-ws protocol', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform(await pgliteDatabase());
  });
  afterAll(() => p.close());

  it('closes with the code the spec gives for each misuse', async () => {
    const twice = await acked(p, ADMIN_KEY);
    twice.send(init(ADMIN_KEY));
    expect(await twice.closed).toEqual({ code: 4429, reason: 'Too many initialisation requests' });

    const early = await open(p.wsUrl);
    early.send(subscribe('1', '{ __typename }'));
    expect((await early.closed).code).toBe(4401);

    for (const bad of ['{not json', JSON.stringify({ type: 'no_such_type' }), JSON.stringify({ type: 'subscribe', payload: { query: '{ __typename }' } })]) {
      const s = await acked(p, ADMIN_KEY);
      s.send(bad);
      expect((await s.closed).code).toBe(4400);
    }

    const duplicate = await acked(p, ADMIN_KEY);
    const live = 'subscription { handoverProgress { id } }';
    duplicate.send(subscribe('same', live));
    duplicate.send(subscribe('same', live));
    expect(await duplicate.closed).toEqual({ code: 4409, reason: 'Subscriber for same already exists' });

    const forbidden = await open(p.wsUrl);
    forbidden.send(init('hcp_not_a_key'));
    expect(await forbidden.closed).toEqual({ code: 4403, reason: 'Forbidden' });

    const wrongProtocol = await open(p.wsUrl, []);
    expect((await wrongProtocol.closed).code).toBe(4406);

    const silent = await open(p.wsUrl);
    expect((await silent.closed).code).toBe(4408); // no connection_init within 3 s
  });

  it('answers pings before and after the handshake, and runs queries as well as subscriptions', async () => {
    const s = await open(p.wsUrl);
    s.send({ type: 'ping', payload: { n: 1 } });
    expect(await s.next((f) => f.type === 'pong')).toEqual({ type: 'pong', payload: { n: 1 } });
    s.send(init(ADMIN_KEY));
    await s.next((f) => f.type === 'connection_ack');
    s.send(subscribe('q', '{ me { role } }'));
    expect((await s.next((f) => f.id === 'q' && f.type === 'next')).payload).toEqual({ data: { me: { role: 'admin' } } });
    await s.next((f) => f.id === 'q' && f.type === 'complete');
    // a completed id may be used again; completing an unknown one is ignored
    s.send({ id: 'zz', type: 'complete' });
    s.send(subscribe('q', '{ __typename }'));
    expect((await s.next((f) => f.id === 'q' && f.type === 'next' && f.payload.data?.__typename)).payload.data).toEqual({ __typename: 'Query' });
    s.close();
  });

  it('checks every operation on the socket like a request: validation, depth, cost with variables, role, and the key again', async () => {
    const s = await acked(p, ADMIN_KEY);
    s.send(subscribe('invalid', 'subscription { handoverProgress { noSuchField } }'));
    const invalid = await s.next((f) => f.id === 'invalid');
    expect(invalid).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] });
    expect(invalid.payload[0].message).toContain('noSuchField');

    const deep = `{ __schema { types { fields { type { ${'ofType { '.repeat(13)}name${' }'.repeat(13)} } } } } }`; // 18 levels
    s.send(subscribe('deep', deep));
    expect(await s.next((f) => f.id === 'deep')).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'QUERY_TOO_DEEP', limit: 16 } }] });

    // the page size comes in a variable: the cost counts it
    const flood = `query($n: Int) { ${Array.from({ length: 50 }, (_, i) => `a${i}: handovers(first: $n) { id }`).join(' ')} }`;
    s.send(subscribe('costly', flood, { n: 500 }));
    expect(await s.next((f) => f.id === 'costly')).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'QUERY_TOO_COSTLY' } }] });
    s.close();

    const customer = await onboardCustomer(p, 'Socket Customer');
    const c = await acked(p, customer.key);
    c.send(subscribe('staff', 'subscription { switchProgress { id } }'));
    expect(await c.next((f) => f.id === 'staff' && f.type === 'next')).toMatchObject({ payload: { errors: [{ extensions: { code: 'FORBIDDEN' } }] } });
    c.send(subscribe('prices', '{ latestPrices { feed } }'));
    expect((await c.next((f) => f.id === 'prices' && f.type === 'next')).payload.errors).toBeUndefined();

    // revoked: its idle connection is closed at once, with nothing running on it
    const revoke = await p.gql(ADMIN_KEY, `mutation($k: ID!) { revokeApiKey(keyId: $k) { revoked } }`, { k: customer.keyId });
    expect(revoke.body.data.revokeApiKey.revoked).toBe(true);
    expect(await c.closed).toEqual({ code: 4403, reason: 'Forbidden' });
  });

  it('bounds what one key keeps open: connections per key (1013 beyond), operations per connection (TOO_MANY_OPERATIONS beyond)', async () => {
    const customer = await onboardCustomer(p, 'Hoarder');
    const sockets = await Promise.all(Array.from({ length: 20 }, () => acked(p, customer.key)));
    const extra = await open(p.wsUrl);
    extra.send(init(customer.key));
    expect((await extra.closed).code).toBe(1013);
    // another key is not held back by this one's
    const other = await acked(p, ADMIN_KEY);
    other.close();
    const [s] = sockets;
    for (let i = 0; i < 100; i++) s!.send(subscribe(`p${i}`, 'subscription { priceTicked { feed } }'));
    s!.send(subscribe('one-too-many', 'subscription { priceTicked { feed } }'));
    expect(await s!.next((f) => f.id === 'one-too-many')).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'TOO_MANY_OPERATIONS' } }] });
    expect(s!.frames.filter((f) => f.type === 'error' && f.id !== 'one-too-many')).toEqual([]); // the cap is exactly 100, and refuses the newest
    // completing one makes room
    s!.send({ id: 'p0', type: 'complete' });
    s!.send(subscribe('room', '{ me { role } }'));
    expect((await s!.next((f) => f.id === 'room' && f.type === 'next')).payload).toEqual({ data: { me: { role: 'customer' } } });
    // a connection closed frees its place
    sockets.at(-1)!.close();
    await sockets.at(-1)!.closed;
    await new Promise((r) => setTimeout(r, 50));
    const again = await acked(p, customer.key);
    for (const x of [...sockets, again]) x.close();
  });

  it('closes a revoked key\'s connection before its running subscriptions deliver anything more', async () => {
    const customer = await onboardCustomer(p, 'Revoked Watcher');
    const second = await p.gql(ADMIN_KEY, `mutation($c: ID!) { issueApiKey(role: customer, customerId: $c) { key } }`, { c: customer.customerId });
    const s = await acked(p, customer.key);
    s.send(subscribe('w', 'subscription { workloadUpdated { id status } }'));
    const submit = `mutation($i: SubmitWorkloadInput!) { submitWorkload(input: $i) { id } }`;
    const input = { type: 'ai_inference_batch', model: 'llama-3-8b', gpuType: 'A100', durationHours: 1 };
    expect((await p.gql(customer.key, submit, { i: input })).body.errors).toBeUndefined();
    expect(await s.next((f) => f.id === 'w' && f.type === 'next')).toMatchObject({ payload: { data: { workloadUpdated: { status: 'queued' } } } });
    await p.gql(ADMIN_KEY, `mutation($k: ID!) { revokeApiKey(keyId: $k) { revoked } }`, { k: customer.keyId });
    const delivered = s.frames.length;
    expect((await p.gql(second.body.data.issueApiKey.key, submit, { i: input })).body.errors).toBeUndefined();
    expect((await s.closed).code).toBe(4403);
    expect(s.frames.slice(delivered).filter((f) => f.payload?.data)).toEqual([]);
  });

  it('upgrades only /graphql', async () => {
    await expect(open(p.wsUrl.replace(/\/graphql$/, '/elsewhere'))).rejects.toThrow(/404/);
  });
});
