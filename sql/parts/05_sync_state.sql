-- Sync subsystem state (install only): the change queue and the state the sync workers share.

-- The change queue. Rows are consumed (deleted) by the sync worker; never read with an id cursor.
-- keys: distinct key::text values touched by one statement; NULL = resync the whole view.
-- due_at: NULL = now; otherwise the change only becomes visible at that time (rows whose event_ts
--         lies in the future win the point-in-time rule later, so they are re-queued for then).
CREATE TABLE fstore.change_queue (
  id        bigserial PRIMARY KEY,
  view_name text NOT NULL,
  keys      text[],
  due_at    timestamptz,
  queued_at timestamptz NOT NULL DEFAULT statement_timestamp()
);
COMMENT ON TABLE fstore.change_queue IS
  'fstore sync: changes of online views not yet applied to Redis (consumed by fstore-server)';

-- State shared by the sync workers of one database: the leader epoch (fencing token written into
-- the Redis marker) and the number of the last batch committed (detects a Redis that lost writes).
CREATE TABLE fstore.sync_state (
  id          boolean PRIMARY KEY DEFAULT true CHECK (id),
  epoch       bigint NOT NULL DEFAULT 0,
  applied_seq bigint NOT NULL DEFAULT 0,
  leader_pid  integer,
  leader_since timestamptz,
  last_sync_at timestamptz
);
INSERT INTO fstore.sync_state DEFAULT VALUES;
-- Big key arrays (a COPY of a million rows is one queue row): lz4 compresses them far faster than pglz.
DO $$ BEGIN
  ALTER TABLE fstore.change_queue ALTER COLUMN keys SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN NULL;
END $$;

-- Per online view: what the worker last synced, and the signature (table, columns, ttl) Redis was
-- built with; a changed signature (features added or archived, view re-created) resyncs the view.
CREATE TABLE fstore.sync_views (
  view_name    text PRIMARY KEY,
  signature    text,
  last_sync_at timestamptz,
  keys_synced  bigint NOT NULL DEFAULT 0,
  state        text NOT NULL DEFAULT 'ok',   -- 'ok', or 'error': the worker skips the view (0.1.1)
  reason       text                          -- why the view cannot be synced
);

-- Neither table is dumped by pg_dump (pg_extension_config_dump is deliberately not called): after
-- a restore the worker finds no signature for any view and rebuilds Redis from the restored data.

