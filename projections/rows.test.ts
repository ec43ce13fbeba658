import { describe, expect, it } from 'vitest';
import { postgresBackends } from '../tests/support/databases.ts';
import { addInt8, insertRows, loadRows, saveRows, type Int8, type Time } from './rows.ts';

type Account = { owner: string; month: string; amount: Int8; tags: string[] | null; at: Time; note: string | null };

for (const backend of postgresBackends()) {
  describe(`a batch's rows on ${backend.label}`, () => {
    it('loads by composite key, writes back only what changed, exactly, with every column type', async () => {
      const db = await backend.open();
      try {
        await db.exec(`CREATE TABLE rm_accounts (owner text NOT NULL, month text NOT NULL, amount bigint NOT NULL, tags text[], at timestamptz NOT NULL, note text, PRIMARY KEY (owner, month))`);
        await insertRows(db, 'rm_accounts', [
          { owner: 'a', month: '2023-08', amount: '9007199254740993', tags: ['x', 'y'], at: '2023-08-01T00:00:00.000Z', note: null },
          { owner: 'b', month: '2023-08', amount: 5, tags: null, at: '2023-08-01T00:00:00.000Z', note: 'untouched' },
        ]);
        await db.transaction(async (tx) => {
          const rows = await loadRows<Account>(tx, { name: 'rm_accounts', key: ['owner', 'month'] }, [['a', '2023-08'], ['c', '2023-09'], ['a', '2023-08'], ['b', '2023-08']]);
          expect(rows.get('b', '2023-08')?.note).toBe('untouched');
          expect(rows.get('c', '2023-09')).toBeUndefined(); // asked for, absent
          const a = rows.get('a', '2023-08')!;
          a.amount = addInt8(a.amount, 2); // past 2^53: a Number would round it
          rows.changed(a);
          rows.put({ owner: 'c', month: '2023-09', amount: 1, tags: [], at: '2023-09-02T12:00:00.000Z', note: "it's new" });
          expect(rows.change(rows.get('d', '2023-09'), { note: 'nobody' })).toBeUndefined(); // not loaded: nothing to change
          rows.change(rows.get('c', '2023-09'), { tags: ['z'] });
          // b was loaded but not changed: its stale copy must not be written over this
          await tx.query(`UPDATE rm_accounts SET note = 'meanwhile' WHERE owner = 'b'`);
          await saveRows(tx, rows);
          // a row inserted twice in one statement is skipped, not an error
          await insertRows(tx, 'rm_accounts', [{ owner: 'b', month: '2023-08', amount: 0, tags: null, at: '2023-08-01T00:00:00.000Z', note: 'again' }]);
        });
        const all = await db.query<Record<string, unknown>>(`SELECT owner, month, amount::text AS amount, tags, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS at, note FROM rm_accounts ORDER BY owner`);
        expect(all).toEqual([
          { owner: 'a', month: '2023-08', amount: '9007199254740995', tags: ['x', 'y'], at: '2023-08-01 00:00', note: null },
          { owner: 'b', month: '2023-08', amount: '5', tags: null, at: '2023-08-01 00:00', note: 'meanwhile' },
          { owner: 'c', month: '2023-09', amount: '1', tags: ['z'], at: '2023-09-02 12:00', note: "it's new" },
        ]);
      } finally {
        await db.drop();
      }
    });
  });
}
