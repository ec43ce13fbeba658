/** Projection checkpoints, stored beside the read models and updated in the same transaction. */
import type { Sql } from '../infra/postgres/database.ts';
import { START, type GlobalPosition } from '../infra/event-store/position.ts';

export const CHECKPOINT_SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS hcp_checkpoints (
  projection       text PRIMARY KEY,
  commit_position  bigint NOT NULL,
  prepare_position bigint NOT NULL,
  events_applied   bigint NOT NULL DEFAULT 0
);
-- the projection definition's version its read model was built by (projections/definitions.ts)
ALTER TABLE hcp_checkpoints ADD COLUMN IF NOT EXISTS definition_version int NOT NULL DEFAULT 1;
CREATE OR REPLACE FUNCTION hcp_write_batch(expected text, statements text[], payloads text[]) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM 1 FROM hcp_checkpoints WHERE projection IN (SELECT name FROM json_to_recordset(expected::json) AS e(name text)) FOR UPDATE;
  IF EXISTS (SELECT 1 FROM json_to_recordset(expected::json) AS e(name text, c bigint, p bigint)
               LEFT JOIN hcp_checkpoints k ON k.projection = e.name
              WHERE k.projection IS NULL OR (k.commit_position, k.prepare_position) <> (e.c, e.p)) THEN
    RETURN false;
  END IF;
  FOR i IN 1 .. coalesce(array_length(statements, 1), 0) LOOP
    EXECUTE statements[i] USING payloads[i]::json;
  END LOOP;
  RETURN true;
END
$fn$;
`;

/**
 * A batch's writes in one round trip (the live runner's): each statement takes its values as one
 * JSON parameter ($1), and all are run only if every checkpoint in `expected` stands where the
 * runner believes it does (locked until the transaction ends, so no rebuild moves it meanwhile).
 * False: one does not (a rebuild reset it, another process moved it), and nothing was written.
 * Commits without waiting for the WAL flush, as the runner's batches always have.
 */
export const writeBatch = async (tx: Sql, expected: ReadonlyMap<string, GlobalPosition>, writes: ReadonlyArray<readonly [string, string]>) => {
  const [row] = await tx.query<{ ok: boolean }>(`SELECT hcp_write_batch($1, $2::text[], $3::text[]) AS ok`, [
    JSON.stringify([...expected].map(([name, at]) => ({ name, c: at.commit.toString(), p: at.prepare.toString() }))),
    writes.map((w) => w[0]),
    writes.map((w) => w[1]),
  ]);
  return row!.ok;
};

/** Moves checkpoints forward (never back), as a write of writeBatch: `[name, position, events applied]` each. */
export const moveCheckpoints = (moved: ReadonlyArray<readonly [string, GlobalPosition, number]>): [string, string] => [
  `UPDATE hcp_checkpoints c SET commit_position = m.c, prepare_position = m.p, events_applied = events_applied + m.n
     FROM json_to_recordset($1::json) AS m(name text, c bigint, p bigint, n int)
    WHERE c.projection = m.name AND (c.commit_position, c.prepare_position) < (m.c, m.p)`,
  JSON.stringify(moved.map(([name, at, n]) => ({ name, c: at.commit.toString(), p: at.prepare.toString(), n }))),
];

const toPosition = (row: { c: string; p: string }): GlobalPosition => ({ commit: BigInt(row.c), prepare: BigInt(row.p) });

/**
 * Reads the checkpoint, locking its row until the transaction ends (one writer per projection),
 * in one statement: the upsert creates the row or locks the one there and returns it either way.
 */
export const lockCheckpoint = async (tx: Sql, projection: string): Promise<GlobalPosition> => {
  const [row] = await tx.query<{ c: string; p: string }>(
    `INSERT INTO hcp_checkpoints (projection, commit_position, prepare_position) VALUES ($1, $2, $3)
     ON CONFLICT (projection) DO UPDATE SET projection = excluded.projection
     RETURNING commit_position::text AS c, prepare_position::text AS p`,
    [projection, START.commit.toString(), START.prepare.toString()],
  );
  return toPosition(row!);
};

/**
 * Moves a checkpoint forward, never back: with two processes on one database, the slower one
 * saving an older position would make the next start redo (or, for a process manager, redo
 * the reactions of) everything since.
 */
export const saveCheckpoint = (tx: Sql, projection: string, position: GlobalPosition, applied: number) => {
  const [text, values] = moveCheckpoints([[projection, position, applied]]);
  return tx.query(text, [values]);
};

/**
 * The same, on its own (no transaction, no lock first): one statement that creates the row or
 * moves it forward. For a process manager, whose reactions are idempotent and whose checkpoint
 * only says where to start again.
 */
export const advanceCheckpoint = (db: Sql, projection: string, position: GlobalPosition, applied: number) =>
  db.query(
    `INSERT INTO hcp_checkpoints AS c (projection, commit_position, prepare_position, events_applied) VALUES ($1, $2, $3, $4)
     ON CONFLICT (projection) DO UPDATE SET commit_position = excluded.commit_position, prepare_position = excluded.prepare_position,
       events_applied = c.events_applied + excluded.events_applied
     WHERE (c.commit_position, c.prepare_position) < (excluded.commit_position, excluded.prepare_position)`,
    [projection, position.commit.toString(), position.prepare.toString(), applied],
  );

export const readCheckpoint = async (db: Sql, projection: string): Promise<GlobalPosition> => {
  const [row] = await db.query<{ c: string; p: string }>(
    `SELECT commit_position::text AS c, prepare_position::text AS p FROM hcp_checkpoints WHERE projection = $1`,
    [projection],
  );
  return row ? toPosition(row) : START;
};
