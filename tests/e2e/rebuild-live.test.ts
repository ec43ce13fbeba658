/**
 * `hcp projections rebuild` beside a running server on PostgreSQL: while the customers read model
 * (which holds the API keys) is rebuilt, a valid key is never refused and a revoked key never
 * accepted. (Embedded PGlite cannot be shared by two processes at all: cli.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresEventStore } from '../../infra/event-store/postgres/store.ts';
import { customersProjection } from '../../projections/customers.ts';
import { rebuildProjection } from '../../projections/runner.ts';
import { pgServerDatabase, TEST_DATABASE_URL } from '../support/databases.ts';
import { ADMIN_KEY, onboardCustomer, startTestPlatform, type TestPlatform } from '../support/platform.ts';

describe.runIf(TEST_DATABASE_URL)('rebuilding the customers read model beside a running server (PostgreSQL)', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform(await pgServerDatabase(TEST_DATABASE_URL!), { rateLimitPerMinute: 0 });
  });
  afterAll(() => p.close());

  it('never serves keys from a half-built read model', async () => {
    const kept = await onboardCustomer(p, 'Kept');
    const gone = await onboardCustomer(p, 'Gone');
    await p.gql(ADMIN_KEY, `mutation($k: ID!) { revokeApiKey(keyId: $k) { revoked } }`, { k: gone.keyId });
    // history for the rebuild to go through: many accounts and grants after the two keys
    for (let i = 0; i < 40; i++) await onboardCustomer(p, `Filler ${i}`);

    const answers: Array<{ who: string; status: number }> = [];
    let rebuilding = true;
    const probe = (async () => {
      while (rebuilding)
        for (const [who, key] of [['kept', kept.key], ['gone', gone.key]] as const) answers.push({ who, status: (await p.gql(key, '{ me { role } }')).status });
    })();
    // what `hcp projections rebuild customers` does, on connections of its own, three times over
    for (let round = 0; round < 3; round++) await rebuildProjection(p.db, await createPostgresEventStore(p.db), customersProjection, 50);
    rebuilding = false;
    await probe;
    expect(answers.filter((a) => a.who === 'kept').length).toBeGreaterThan(3);
    expect(answers.filter((a) => a.who === 'kept' && a.status !== 200)).toEqual([]);
    expect(answers.filter((a) => a.who === 'gone' && a.status !== 401)).toEqual([]);
  });
});
