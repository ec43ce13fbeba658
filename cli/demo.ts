/**
 * Demo data for a first run: two customers with quota and a key each. Keys are
 * shown once by design, so the first run keeps them in the data folder (mode
 * 0600) to print them again at later starts.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { issueApiKey } from '../commands/api-keys.ts';
import type { CommandDeps } from '../commands/context.ts';
import { grantQuota, registerCustomer } from '../commands/customers.ts';
import { CommandRejectedError } from '../commands/errors.ts';
import type { CustomerTier } from '../domain/workload/request.ts';

export type DemoKey = { customerId: string; name: string; key: string };

const DEMO_CUSTOMERS: Array<{ customerId: string; name: string; tier: CustomerTier }> = [
  { customerId: 'acme', name: 'Acme AI', tier: 'enterprise' },
  { customerId: 'globex', name: 'Globex Research', tier: 'standard' },
];

export const ensureDemo = async (deps: CommandDeps, dataDir: string): Promise<DemoKey[]> => {
  const file = path.resolve(dataDir, 'demo-keys.json');
  const known = await readFile(file, 'utf8')
    .then((t) => JSON.parse(t) as DemoKey[])
    .catch(() => [] as DemoKey[]);
  if (known.length === DEMO_CUSTOMERS.length) return known;
  const caller = (step: string) => ({ commandId: `demo:${step}`, correlationId: 'demo', actor: 'system:demo' });
  const keys: DemoKey[] = [];
  for (const c of DEMO_CUSTOMERS) {
    await registerCustomer(deps, caller(`register:${c.customerId}`), c).catch((e) => {
      if (!(e instanceof CommandRejectedError && e.rejection.code === 'already_exists')) throw e;
    });
    await grantQuota(deps, caller(`grant:${c.customerId}`), {
      customerId: c.customerId,
      gpuSeconds: 1000 * 3600,
      budgetMicroUsd: 5000 * 1_000_000,
    });
    const issued = await issueApiKey(deps, { ...caller(`key:${c.customerId}`), commandId: deps.ids.id('cmd') }, {
      role: 'customer',
      customerId: c.customerId,
      label: 'demo',
    });
    keys.push({ customerId: c.customerId, name: c.name, key: issued.key });
  }
  // the folder may not exist yet: with HCP_ADMIN_KEY and DATABASE_URL set, nothing else creates it
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, JSON.stringify(keys, null, 2), { mode: 0o600 });
  return keys;
};
