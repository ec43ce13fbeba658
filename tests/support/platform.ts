/** A whole platform on a test database, serving on an ephemeral port. */
import { startCore } from '../../cli/platform.ts';
import { createRng } from '../../simulators/random.ts';
import { createSimulatedDevices } from '../../commands/switching/simulated-devices.ts';
import { systemClock, type Clock } from '../../infra/clock.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres/store.ts';
import { randomIds } from '../../infra/ids.ts';
import { createLogger } from '../../infra/logger.ts';
import { buildServer, type ServerOptions } from '../../read-api/server.ts';
import type { TestDatabase } from './databases.ts';
import type { Sql } from '../../infra/postgres/database.ts';

export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';

export type TestPlatformOptions = Pick<ServerOptions, 'rateLimitPerMinute' | 'queryCostLimit' | 'maxResponseChars' | 'trustedProxies'> & {
  /** Wraps what the API reads read models through (to count its queries, say). */
  wrapReadModels?: (db: Sql) => Sql;
  /** The platform's clock (default: the system's). */
  clock?: Clock;
};

export const startTestPlatform = async (db: TestDatabase, { wrapReadModels = (x) => x, clock = systemClock, ...limits }: TestPlatformOptions = {}) => {
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const store = await createPostgresEventStore(db);
  // device timings are simulated and a thousand times faster than life: a 5 s ramp takes 5 ms
  const devices = createSimulatedDevices({ random: createRng(42).next, speed: 1000 });
  const core = await startCore({ db, store, logger, clock, ids: randomIds, devices });
  const app = await buildServer({ ...core, readModels: wrapReadModels(db), logger, adminKey: ADMIN_KEY, ...limits });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    ...apiClient(url),
    db,
    store,
    core,
    async close() {
      await app.close();
      await core.stop();
      await db.drop();
    },
  };
};

export type TestPlatform = Awaited<ReturnType<typeof startTestPlatform>>;

/** GraphQL over HTTP and the graphql-ws address of an API at `url` (in this process or another). */
export const apiClient = (url: string) => ({
  url,
  wsUrl: url.replace(/^http/, 'ws') + '/graphql',
  async gql(key: string | undefined, query: string, variables?: Record<string, unknown>) {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: (await res.json()) as { data?: any; errors?: any[]; error?: any } };
  },
});
export type ApiClient = ReturnType<typeof apiClient>;

/** Registers a customer with quota and a key, through the API as an admin would. */
export const onboardCustomer = async (p: Pick<ApiClient, 'gql'>, name: string, quota = { gpuHours: 100, budgetUsd: '1000.00' }) => {
  const reg = await p.gql(ADMIN_KEY, `mutation($n: String!) { registerCustomer(input: {name: $n}) { id } }`, { n: name });
  const customerId = reg.body.data.registerCustomer.id as string;
  await p.gql(ADMIN_KEY, `mutation($i: GrantQuotaInput!) { grantQuota(input: $i) { customerId } }`, {
    i: { customerId, ...quota },
  });
  const key = await p.gql(ADMIN_KEY, `mutation($c: ID!) { issueApiKey(role: customer, customerId: $c) { keyId key } }`, {
    c: customerId,
  });
  return { customerId, keyId: key.body.data.issueApiKey.keyId as string, key: key.body.data.issueApiKey.key as string };
};
