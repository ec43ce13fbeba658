import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../infra/clock.ts';
import { createMemoryEventStore } from '../infra/event-store/memory.ts';
import { sequentialIds } from '../infra/ids.ts';
import { ensureDemo } from './demo.ts';

describe('demo customers', () => {
  it('creates a data folder that does not exist yet (a container with HCP_ADMIN_KEY and DATABASE_URL set) and keeps their keys there', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'hcp-demo-'));
    try {
      const dataDir = path.join(root, 'not', 'there', 'yet');
      const deps = { store: createMemoryEventStore(), readModels: { query: async () => [] }, clock: manualClock(), ids: sequentialIds('demo') };
      const keys = await ensureDemo(deps, dataDir);
      expect(keys.map((k) => k.customerId)).toEqual(['acme', 'globex']);
      expect(JSON.parse(await readFile(path.join(dataDir, 'demo-keys.json'), 'utf8'))).toEqual(keys);
      // a second start prints the same keys
      expect(await ensureDemo(deps, dataDir)).toEqual(keys);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
