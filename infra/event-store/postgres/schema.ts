/**
 * Schema of the PostgreSQL event store (runs on PostgreSQL 15 and on PGlite).
 *
 * Global order: each event records the id of the transaction that wrote it
 * (`pg_current_xact_id()`), and readers only read events of transactions below
 * the oldest one still in flight (`pg_snapshot_xmin(pg_current_snapshot())`),
 * ordered by (transaction id, position). Every transaction below that horizon has
 * ended, so the set of readable events only ever grows at the end of that order:
 * a transaction that commits late is read late, never skipped.
 *
 * The append is one function call, one statement, one round trip: it locks the
 * stream row, checks the expected revision in all four modes, detects a retried
 * append by its event ids (looked up only where a retry could pass the check; on the
 * common path a stored id surfaces as the insert's unique violation, which the client
 * classifies alike), and inserts. A failed check raises HC001 (wrong
 * expected revision, actual revision in DETAIL) or HC002 (idempotency mismatch,
 * event id in DETAIL), so nothing of a rejected append is kept.
 *
 * `hcp_append_many` does the same for several streams in one statement, all or none.
 *
 * Each stream is a hash chain (../chain.ts): the append computes every event's hash from the
 * stream's head hash, kept on the stream row it has locked, in the same statement. Events stored
 * before the chain existed are chained once, in stream order, when this script runs.
 */
export const EVENT_STORE_SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS hcp_streams (
  stream_name text PRIMARY KEY,
  revision    bigint NOT NULL
);
ALTER TABLE hcp_streams ADD COLUMN IF NOT EXISTS hash text;

CREATE TABLE IF NOT EXISTS hcp_events (
  position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transaction_id  xid8 NOT NULL DEFAULT pg_current_xact_id(),
  stream_name     text NOT NULL,
  stream_revision bigint NOT NULL,
  event_id        uuid NOT NULL,
  event_type      text NOT NULL,
  data            jsonb NOT NULL,
  metadata        jsonb NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT hcp_events_event_id UNIQUE (event_id),
  CONSTRAINT hcp_events_stream_revision UNIQUE (stream_name, stream_revision)
);

CREATE INDEX IF NOT EXISTS hcp_events_global_order ON hcp_events (transaction_id, position);

ALTER TABLE hcp_events ADD COLUMN IF NOT EXISTS hash text;
-- empty once every event is chained: finding the unchained is then free at every start
CREATE INDEX IF NOT EXISTS hcp_events_unchained ON hcp_events (stream_name) WHERE hash IS NULL;

-- The canonical text is jsonb's own rendering, which chain.ts reproduces byte for byte.
CREATE OR REPLACE FUNCTION hcp_event_hash(p_previous text, p_stream text, p_revision bigint, p_id uuid, p_type text, p_data jsonb, p_metadata jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
  SELECT encode(sha256(convert_to(
    jsonb_build_array(p_previous, p_stream, p_revision, p_id::text, p_type, p_data, p_metadata)::text, 'UTF8')), 'hex')
$fn$;

DO $do$
DECLARE
  r record;
  v_stream text;
  v_previous text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM hcp_events WHERE hash IS NULL) THEN
    RETURN;
  END IF;
  FOR r IN
    SELECT e.position, e.stream_name, e.stream_revision, e.event_id, e.event_type, e.data, e.metadata
      FROM hcp_events e
     WHERE e.stream_name IN (SELECT u.stream_name FROM hcp_events u WHERE u.hash IS NULL)
     ORDER BY e.stream_name, e.stream_revision
  LOOP
    IF v_stream IS DISTINCT FROM r.stream_name THEN
      v_stream := r.stream_name;
      v_previous := '';
    END IF;
    v_previous := hcp_event_hash(v_previous, r.stream_name, r.stream_revision, r.event_id, r.event_type, r.data, r.metadata);
    UPDATE hcp_events SET hash = v_previous WHERE position = r.position;
  END LOOP;
  UPDATE hcp_streams s
     SET hash = (SELECT e.hash FROM hcp_events e WHERE e.stream_name = s.stream_name ORDER BY e.stream_revision DESC LIMIT 1)
   WHERE s.hash IS NULL AND s.revision >= 0;
END
$do$;

CREATE OR REPLACE FUNCTION hcp_append(p_stream text, p_expected text, p_events jsonb)
RETURNS TABLE (next_revision text, commit_position text, prepare_position text, appended boolean)
LANGUAGE plpgsql
AS $fn$
DECLARE
  v_count   int := jsonb_array_length(p_events);
  v_current bigint;
  v_stored  int;
  v_foreign int;
  v_first_stored uuid;
  v_last    bigint;
  v_head    text;
  v_hashes  text[] := '{}';
  v_event   record;
  v_ids     uuid[];
  v_matches boolean;
BEGIN
  -- writers of one stream queue here, before anything gives their transaction an id: the row lock
  -- below assigns the id before it waits, so a writer could hold an older id than the one it
  -- waited for, and store order (by transaction id) would put a later revision before earlier ones.
  -- The key names the schema: advisory locks are the database's, and two stores in schemas of one
  -- database (parallel tests, two benchmarks) would otherwise queue on, and deadlock over, each
  -- other's streams of the same name
  PERFORM pg_advisory_xact_lock(hashtextextended(current_schema() || '.' || p_stream, 0));
  -- an existing stream (most appends) is locked at once; a new one is created first
  SELECT s.revision, coalesce(s.hash, '') INTO v_current, v_head FROM hcp_streams s WHERE s.stream_name = p_stream FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO hcp_streams (stream_name, revision) VALUES (p_stream, -1) ON CONFLICT (stream_name) DO NOTHING;
    SELECT s.revision, coalesce(s.hash, '') INTO v_current, v_head FROM hcp_streams s WHERE s.stream_name = p_stream FOR UPDATE;
  END IF;

  v_matches := p_expected = 'any'
    OR (p_expected = 'no_stream' AND v_current = -1)
    OR (p_expected = 'stream_exists' AND v_current >= 0)
    OR (p_expected ~ '^[0-9]+$' AND v_current = p_expected::bigint);

  -- a retried append (lost acknowledgement): every id is stored already in this stream. Looked
  -- for only where a retry could pass the revision check ('any', 'stream_exists') or where the
  -- check fails: a retry expecting a revision or no stream finds the stream past it. On the
  -- common path (the expected revision holds) stored ids surface as the event id's unique
  -- violation, and the client asks again with an expectation nothing meets ('ids-only', store.ts)
  -- to have it classified here, so that path reads nothing.
  -- EXECUTE plans the look-up afresh each time: a generic plan cached per connection while
  -- hcp_events was nearly empty kept scanning the whole table.
  IF NOT v_matches OR p_expected IN ('any', 'stream_exists') THEN
    v_ids := ARRAY(SELECT (x ->> 'id')::uuid FROM jsonb_array_elements(p_events) x);
    EXECUTE 'SELECT count(*)::int, count(*) FILTER (WHERE e.stream_name <> $1)::int, min(e.event_id::text)::uuid
               FROM hcp_events e WHERE e.event_id = ANY ($2)'
      INTO v_stored, v_foreign, v_first_stored USING p_stream, v_ids;
    IF v_count > 0 AND v_stored = v_count AND v_foreign = 0 THEN
      RETURN QUERY
        SELECT e.stream_revision::text, e.transaction_id::text, e.position::text, false
          FROM hcp_events e
         WHERE e.event_id = v_ids[v_count];
      RETURN;
    ELSIF v_stored > 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'HC002', MESSAGE = 'idempotency mismatch', DETAIL = v_first_stored::text;
    END IF;
    IF NOT v_matches THEN
      RAISE EXCEPTION USING ERRCODE = 'HC001', MESSAGE = 'wrong expected revision', DETAIL = v_current::text;
    END IF;
  END IF;

  IF v_count = 0 THEN
    RETURN QUERY SELECT v_current::text, '0', '-1', false;
    RETURN;
  END IF;

  -- one event (most appends): no loop over the array, one row inserted
  IF v_count = 1 THEN
    v_head := hcp_event_hash(v_head, p_stream, v_current + 1, (p_events -> 0 ->> 'id')::uuid,
                             p_events -> 0 ->> 'type', p_events -> 0 -> 'data', p_events -> 0 -> 'metadata');
    INSERT INTO hcp_events (stream_name, stream_revision, event_id, event_type, data, metadata, hash)
    VALUES (p_stream, v_current + 1, (p_events -> 0 ->> 'id')::uuid, p_events -> 0 ->> 'type', p_events -> 0 -> 'data', p_events -> 0 -> 'metadata', v_head)
    RETURNING position INTO v_last;
    UPDATE hcp_streams SET revision = v_current + 1, hash = v_head WHERE stream_name = p_stream;
    RETURN QUERY SELECT (v_current + 1)::text, pg_current_xact_id()::text, v_last::text, true;
    RETURN;
  END IF;

  -- a chain is sequential: each hash needs the one before
  FOR v_event IN SELECT x.e, x.ord FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(e, ord) ORDER BY x.ord LOOP
    v_head := hcp_event_hash(v_head, p_stream, v_current + v_event.ord, (v_event.e ->> 'id')::uuid,
                             v_event.e ->> 'type', v_event.e -> 'data', v_event.e -> 'metadata');
    v_hashes := v_hashes || v_head;
  END LOOP;

  WITH inserted AS (
    INSERT INTO hcp_events (stream_name, stream_revision, event_id, event_type, data, metadata, hash)
    SELECT p_stream, v_current + x.ord, (x.e ->> 'id')::uuid, x.e ->> 'type', x.e -> 'data', x.e -> 'metadata', v_hashes[x.ord]
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(e, ord)
     ORDER BY x.ord
    RETURNING position
  )
  SELECT max(position) INTO v_last FROM inserted;

  UPDATE hcp_streams SET revision = v_current + v_count, hash = v_head WHERE stream_name = p_stream;

  RETURN QUERY SELECT (v_current + v_count)::text, pg_current_xact_id()::text, v_last::text, true;
END
$fn$;

-- Appends to several streams at once, all or none: one statement, one round trip, one commit. Each
-- is hcp_append's, in the order given (streams locked in that order). A refusal of any raises,
-- and the statement keeps nothing. A stored id is not told apart here: the client then appends
-- one stream at a time, where it is.
CREATE OR REPLACE FUNCTION hcp_append_many(p_appends jsonb)
RETURNS TABLE (next_revision text, commit_position text, prepare_position text, appended boolean)
LANGUAGE plpgsql
AS $fn$
DECLARE
  v_append record;
BEGIN
  FOR v_append IN SELECT x.a, x.ord FROM jsonb_array_elements(p_appends) WITH ORDINALITY AS x(a, ord) ORDER BY x.ord LOOP
    RETURN QUERY SELECT * FROM hcp_append(v_append.a ->> 'stream', v_append.a ->> 'expected', v_append.a -> 'events');
  END LOOP;
END
$fn$;
`;
