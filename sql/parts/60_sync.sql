-- Sync subsystem (issue 5): change capture for online views, the change queue the sync worker of
-- fstore-server consumes, fstore.materialize and fstore.sync_status. Design: docs/sync.md.
--
-- Every statement that changes an online view's table (INSERT, UPDATE, DELETE, COPY, TRUNCATE)
-- adds ONE row to fstore.change_queue holding the distinct entity keys it touched (key::text), or
-- NULL for "the whole view" (TRUNCATE), and sends one payload-free NOTIFY fstore_changes. The
-- worker consumes (deletes) queue rows in the same transaction in which it re-reads the winning
-- rows, and commits only after Redis acknowledged the write, so a change is never lost: NOTIFY only
-- wakes the worker up.


-- Statement-level capture. TG_ARGV: view name, join key column, timestamp column.
-- Kept cheap (it runs inside every ingesting statement): one pass over the transition table, keys
-- aggregated without sorting (the worker removes duplicates). Rows whose event time lies in the
-- future win the point-in-time rule only later, so their keys are queued a second time, due at the
-- earliest such event time (the worker re-queues keys that have still later rows).
CREATE OR REPLACE FUNCTION fstore._sync_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  n bigint;
  src text;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    INSERT INTO fstore.change_queue (view_name, keys) VALUES (TG_ARGV[0], NULL);
    n := 1;
  ELSE
    src := CASE TG_OP
      WHEN 'INSERT' THEN format('SELECT %I AS k, (%I)::timestamptz AS t FROM fstore_sync_new',
                                TG_ARGV[1], TG_ARGV[2])
      WHEN 'UPDATE' THEN format('SELECT %1$I AS k, (%2$I)::timestamptz AS t FROM fstore_sync_new '
                                'UNION ALL SELECT %1$I, NULL FROM fstore_sync_old',
                                TG_ARGV[1], TG_ARGV[2])
      ELSE format('SELECT %I AS k, NULL::timestamptz AS t FROM fstore_sync_old', TG_ARGV[1])
    END;
    EXECUTE 'INSERT INTO fstore.change_queue (view_name, keys, due_at) '
            'SELECT $1, x.keys, x.due FROM ('
            '  SELECT pg_catalog.array_agg(s.k::text) AS all_keys, '
            '         pg_catalog.array_agg(s.k::text) FILTER (WHERE s.t > pg_catalog.statement_timestamp()) AS fut, '
            '         pg_catalog.min(s.t) FILTER (WHERE s.t > pg_catalog.statement_timestamp()) AS fut_at '
            '  FROM (' || src || ') s) a, '
            'LATERAL (VALUES (a.all_keys, NULL::timestamptz), (a.fut, a.fut_at)) x(keys, due) '
            'WHERE x.keys IS NOT NULL'
      USING TG_ARGV[0];
    GET DIAGNOSTICS n = ROW_COUNT;
  END IF;
  IF n > 0 THEN
    -- Constant channel, no payload: PostgreSQL folds it into one notification per transaction.
    PERFORM pg_catalog.pg_notify('fstore_changes', '');
  END IF;
  RETURN NULL;
END
$fn$;
REVOKE EXECUTE ON FUNCTION fstore._sync_capture() FROM PUBLIC;

-- Attaches change capture (four statement triggers) to an online view's table. Called by the
-- registry after the view's row exists. Idempotent.
CREATE OR REPLACE FUNCTION fstore._attach_sync(view_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v record;
BEGIN
  SELECT fv.table_name, fv.join_key, fv.timestamp_column INTO v
    FROM fstore.feature_views fv WHERE fv.name = _attach_sync.view_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'feature view "%" does not exist', view_name USING ERRCODE = '42704';
  END IF;
  PERFORM fstore._detach_triggers(v.table_name);
  EXECUTE format('CREATE TRIGGER fstore_sync_insert AFTER INSERT ON %s '
                 'REFERENCING NEW TABLE AS fstore_sync_new FOR EACH STATEMENT '
                 'EXECUTE FUNCTION fstore._sync_capture(%L, %L, %L)',
                 v.table_name, view_name, v.join_key, v.timestamp_column);
  EXECUTE format('CREATE TRIGGER fstore_sync_update AFTER UPDATE ON %s '
                 'REFERENCING OLD TABLE AS fstore_sync_old NEW TABLE AS fstore_sync_new '
                 'FOR EACH STATEMENT EXECUTE FUNCTION fstore._sync_capture(%L, %L, %L)',
                 v.table_name, view_name, v.join_key, v.timestamp_column);
  EXECUTE format('CREATE TRIGGER fstore_sync_delete AFTER DELETE ON %s '
                 'REFERENCING OLD TABLE AS fstore_sync_old FOR EACH STATEMENT '
                 'EXECUTE FUNCTION fstore._sync_capture(%L, %L, %L)',
                 v.table_name, view_name, v.join_key, v.timestamp_column);
  EXECUTE format('CREATE TRIGGER fstore_sync_truncate AFTER TRUNCATE ON %s '
                 'FOR EACH STATEMENT EXECUTE FUNCTION fstore._sync_capture(%L, %L, %L)',
                 v.table_name, view_name, v.join_key, v.timestamp_column);
  -- Rows the table already holds (register_feature_view adopts a filled table) reach Redis through
  -- the worker's view resync: it sees a view without a stored signature.
END
$fn$;
REVOKE EXECUTE ON FUNCTION fstore._attach_sync(text) FROM PUBLIC;

-- Drops the capture triggers of a table, if any.
CREATE OR REPLACE FUNCTION fstore._detach_triggers(rel regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT tg.tgname FROM pg_catalog.pg_trigger tg
            WHERE tg.tgrelid = rel AND NOT tg.tgisinternal
              AND tg.tgname IN ('fstore_sync_insert', 'fstore_sync_update', 'fstore_sync_delete',
                                'fstore_sync_truncate') LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', t, rel);
  END LOOP;
END
$fn$;
REVOKE EXECUTE ON FUNCTION fstore._detach_triggers(regclass) FROM PUBLIC;

-- Removes change capture from a view's table; called by the registry before the view is dropped.
-- The view's pending changes go; the worker deletes its Redis keys once the view is gone from the
-- registry (it still has the view's row in fstore.sync_views).
CREATE OR REPLACE FUNCTION fstore._detach_sync(view_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  rel regclass;
BEGIN
  SELECT fv.table_name INTO rel FROM fstore.feature_views fv WHERE fv.name = _detach_sync.view_name;
  IF rel IS NOT NULL THEN
    PERFORM fstore._detach_triggers(rel);
  END IF;
  DELETE FROM fstore.change_queue q WHERE q.view_name = _detach_sync.view_name;
  PERFORM pg_catalog.pg_notify('fstore_changes', '');
END
$fn$;
REVOKE EXECUTE ON FUNCTION fstore._detach_sync(text) FROM PUBLIC;

-- Queues the latest values of every entity of `view` with an event in [start_ts, end_ts) for the
-- online store. A repair and backfill tool: ordinary ingestion reaches Redis on its own.
-- Returns the number of entities queued. Errors: 42704 unknown view, 22023 offline view or bad range.
CREATE OR REPLACE FUNCTION fstore.materialize(view text, start_ts timestamptz DEFAULT '-infinity',
                                   end_ts timestamptz DEFAULT 'infinity') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v record;
  n bigint;
BEGIN
  IF view IS NULL OR start_ts IS NULL OR end_ts IS NULL THEN
    RAISE EXCEPTION 'fstore.materialize: arguments must not be NULL' USING ERRCODE = '22023';
  END IF;
  SELECT fv.table_name, fv.join_key, fv.timestamp_column, fv.online INTO v
    FROM fstore.feature_views fv WHERE fv.name = materialize.view;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'feature view "%" does not exist', view USING ERRCODE = '42704';
  END IF;
  IF NOT v.online THEN
    RAISE EXCEPTION 'feature view "%" is not online', view USING ERRCODE = '22023',
      HINT = 'Only online views are materialized to Redis.';
  END IF;
  IF start_ts > end_ts THEN
    RAISE EXCEPTION 'fstore.materialize: start_ts % is after end_ts %', start_ts, end_ts
      USING ERRCODE = '22023';
  END IF;
  EXECUTE format('WITH k AS (SELECT DISTINCT (%1$I)::text COLLATE "C" AS k FROM %2$s '
                 'WHERE (%3$I)::timestamptz >= $2 AND (%3$I)::timestamptz < $3), '
                 'q AS (INSERT INTO fstore.change_queue (view_name, keys) '
                 'SELECT $1, pg_catalog.array_agg(k) FROM k HAVING pg_catalog.count(*) > 0) '
                 'SELECT pg_catalog.count(*) FROM k',
                 v.join_key, v.table_name, v.timestamp_column)
    INTO n USING view, start_ts, end_ts;
  IF n > 0 THEN
    PERFORM pg_catalog.pg_notify('fstore_changes', '');
  END IF;
  RETURN n;
END
$fn$;
REVOKE EXECUTE ON FUNCTION fstore.materialize(text, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fstore.materialize(text, timestamptz, timestamptz) TO fstore_writer;

-- Per online view: changes not yet in Redis and when the worker last synced it.
--   pending_changes: queued statements (or materialize calls) not yet applied
--   pending_keys:    entity keys they name (a whole-view resync counts as 1)
--   oldest_pending_at / lag_seconds: age of the oldest change that is due
--   last_sync_at:    commit time of the worker's last batch for the view
CREATE OR REPLACE VIEW fstore.sync_status AS
SELECT fv.name AS view,
       coalesce(q.pending_changes, 0) AS pending_changes,
       coalesce(q.pending_keys, 0) AS pending_keys,
       q.oldest_pending_at,
       coalesce(extract(epoch FROM pg_catalog.clock_timestamp() - q.oldest_pending_at), 0)::float8
         AS lag_seconds,
       sv.last_sync_at,
       coalesce(sv.keys_synced, 0) AS keys_synced
  FROM fstore.feature_views fv
  LEFT JOIN (SELECT cq.view_name,
                    pg_catalog.count(*) AS pending_changes,
                    pg_catalog.sum(coalesce(pg_catalog.cardinality(cq.keys), 1))::bigint AS pending_keys,
                    pg_catalog.min(cq.queued_at) AS oldest_pending_at
               FROM fstore.change_queue cq
              WHERE cq.due_at IS NULL OR cq.due_at <= pg_catalog.now()
              GROUP BY cq.view_name) q ON q.view_name = fv.name
  LEFT JOIN fstore.sync_views sv ON sv.view_name = fv.name
 WHERE fv.online;
GRANT SELECT ON fstore.sync_status TO fstore_reader;

-- The sync worker's role needs these (tests and the default setup run it as a superuser).
GRANT SELECT, INSERT, DELETE, UPDATE ON fstore.change_queue TO fstore_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON fstore.sync_state, fstore.sync_views TO fstore_admin;
GRANT USAGE ON SEQUENCE fstore.change_queue_id_seq TO fstore_admin;
