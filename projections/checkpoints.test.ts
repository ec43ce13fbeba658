import { describe, expect, it } from 'vitest';
import { postgresBackends } from '../tests/support/databases.ts';
import { migrate } from '../infra/postgres/migrate.ts';
import { CHECKPOINT_SCHEMA, lockCheckpoint, readCheckpoint, saveCheckpoint } from './checkpoints.ts';

for (const backend of postgresBackends()) {
  describe(`checkpoints on ${backend.label}`, () => {
    it('only ever move forward: a slower process saving an older position changes nothing', async () => {
      const db = await backend.open();
      try {
        await migrate(db, 'hcp_checkpoints', CHECKPOINT_SCHEMA);
        const save = (commit: bigint, prepare: bigint) =>
          db.transaction(async (tx) => {
            await lockCheckpoint(tx, 'pm:test');
            await saveCheckpoint(tx, 'pm:test', { commit, prepare }, 1);
          });
        await save(10n, 7n);
        await save(9n, 99n); // the slower process, behind
        await save(10n, 3n);
        expect(await readCheckpoint(db, 'pm:test')).toEqual({ commit: 10n, prepare: 7n });
        await save(10n, 8n);
        expect(await readCheckpoint(db, 'pm:test')).toEqual({ commit: 10n, prepare: 8n });
      } finally {
        await db.drop();
      }
    });
  });
}
