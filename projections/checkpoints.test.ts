import { describe, expect, it } from 'vitest';
import { postgresBackends } from '../tests/support/databases.ts';
import { migrate } from '../infra/postgres/migrate.ts';
import { advanceCheckpoint, CHECKPOINT_SCHEMA, lockCheckpoint, readCheckpoint, saveCheckpoint } from './checkpoints.ts';

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
        // a process manager's one-statement save: creates the row, then only moves it forward
        await advanceCheckpoint(db, 'pm:other', { commit: 5n, prepare: 2n }, 3);
        await advanceCheckpoint(db, 'pm:other', { commit: 4n, prepare: 9n }, 1);
        expect(await readCheckpoint(db, 'pm:other')).toEqual({ commit: 5n, prepare: 2n });
        await advanceCheckpoint(db, 'pm:other', { commit: 6n, prepare: 1n }, 2);
        expect(await readCheckpoint(db, 'pm:other')).toEqual({ commit: 6n, prepare: 1n });
        const [row] = await db.query<{ n: string }>(`SELECT events_applied::text AS n FROM hcp_checkpoints WHERE projection = 'pm:other'`);
        expect(row!.n).toBe('5');
      } finally {
        await db.drop();
      }
    });
  });
}
