-- Sync subsystem (issue 5): change capture for online views, the change queue the sync worker of
-- fstore-server consumes, fstore.materialize and fstore.sync_status. Design: docs/sync.md.
--
-- Every statement that changes an online view's table (INSERT, UPDATE, DELETE, COPY, TRUNCATE)
-- adds ONE row to fstore.change_queue holding the distinct entity keys it touched (key::text), or
-- NULL for "the whole view" (TRUNCATE), and sends one payload-free NOTIFY fstore_changes. The
-- worker consumes (deletes) queue rows in the same transaction in which it re-reads the winning
-- rows, and commits only after Redis acknowledged the write, so a change is never lost: NOTIFY only
-- wakes the worker up.


-- Statement-level capture, installed once per table (fstore._attach_sync). The registry, looked up
-- by the table's OID, says which online views the table backs; the trigger's arguments are not
-- trusted (0.1.0 passed the view and columns there). Per view, one queue row with the distinct
-- keys the statement touched; rows whose event time lies in the future win the point-in-time rule
-- only later, so their keys are queued a second time, due at the earliest such (finite) time.
-- Nothing here evaluates user code with fstore_owner's rights: the key and time columns are
-- compared with the registry's types by OID first, and when they differ (the owner altered the
-- table) no value is read at all: the whole view is queued and the worker reports it.
CREATE OR REPLACE FUNCTION fstore._sync_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v record;
  n bigint := 0;
  added bigint;
  src text;
BEGIN
  FOR v IN SELECT r.name, r.key_column, r.timestamp_column,
                  fstore._column_type(TG_RELID, r.key_column) IS NOT DISTINCT FROM e.key_type
                    AND fstore._column_type(TG_RELID, r.timestamp_column) IS NOT DISTINCT FROM 'timestamptz'::regtype
                    AS types_match
             FROM fstore.view_registry r JOIN fstore.entity_registry e ON e.name = r.entity
            WHERE r.table_oid = TG_RELID AND r.online LOOP
    IF TG_OP = 'TRUNCATE' OR NOT v.types_match THEN
      INSERT INTO fstore.change_queue (view_name, keys) VALUES (v.name, NULL);
      n := n + 1;
      CONTINUE;
    END IF;
    src := CASE TG_OP
      WHEN 'INSERT' THEN format('SELECT %I AS k, %I AS t FROM fstore_sync_new', v.key_column, v.timestamp_column)
      WHEN 'UPDATE' THEN format('SELECT %1$I AS k, %2$I AS t FROM fstore_sync_new '
                                'UNION ALL SELECT %1$I, NULL FROM fstore_sync_old',
                                v.key_column, v.timestamp_column)
      ELSE format('SELECT %I AS k, NULL::timestamptz AS t FROM fstore_sync_old', v.key_column)
    END;
    -- A NULL key can never be looked up: it is not queued. An 'infinity' row is never due.
    EXECUTE 'INSERT INTO fstore.change_queue (view_name, keys, due_at) '
            'SELECT $1, x.keys, x.due FROM ('
            '  SELECT pg_catalog.array_agg(s.k::text) FILTER (WHERE s.k IS NOT NULL) AS all_keys, '
            '         pg_catalog.array_agg(s.k::text) FILTER (WHERE s.k IS NOT NULL AND s.t > $2 AND s.t < $3) AS fut, '
            '         pg_catalog.min(s.t) FILTER (WHERE s.k IS NOT NULL AND s.t > $2 AND s.t < $3) AS fut_at '
            '  FROM (' || src || ') s) a, '
            'LATERAL (VALUES (a.all_keys, NULL::timestamptz), (a.fut, a.fut_at)) x(keys, due) '
            'WHERE x.keys IS NOT NULL'
      USING v.name, pg_catalog.statement_timestamp(), 'infinity'::timestamptz;
    GET DIAGNOSTICS added = ROW_COUNT;
    n := n + added;
  END LOOP;
  IF n > 0 THEN
    -- Constant channel, no payload: PostgreSQL folds it into one notification per transaction.
    PERFORM pg_catalog.pg_notify('fstore_changes', '');
  END IF;
  RETURN NULL;
END
$fn$;

-- Attaches change capture (four statement triggers) to the table of online view `view_name`,
-- unless the table has them already (several views may share a table). Called by the registry
-- after the view's row exists, as fstore_owner: it owns managed tables and was granted TRIGGER on
-- registered ones by their owner.
CREATE OR REPLACE FUNCTION fstore._attach_sync(view_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  rel regclass;
  op text;
BEGIN
  SELECT r.table_oid INTO rel FROM fstore.view_registry r WHERE r.name = _attach_sync.view_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'feature view "%" does not exist', view_name USING ERRCODE = '42704';
  END IF;
  FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
    CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_trigger tg
                           WHERE tg.tgrelid = rel AND tg.tgname = 'fstore_sync_' || op);
    EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION fstore._sync_capture()',
                   'fstore_sync_' || op, upper(op), rel,
                   CASE op WHEN 'insert' THEN 'REFERENCING NEW TABLE AS fstore_sync_new'
                           WHEN 'update' THEN 'REFERENCING OLD TABLE AS fstore_sync_old NEW TABLE AS fstore_sync_new'
                           WHEN 'delete' THEN 'REFERENCING OLD TABLE AS fstore_sync_old'
                           ELSE '' END);
  END LOOP;
  -- Rows the table already holds (register_feature_view adopts a filled table) reach Redis through
  -- the worker's view resync: it sees a view without a stored signature.
END
$fn$;

-- Drops the capture triggers of a table, if any, with the caller's rights (fstore_owner's for
-- managed tables, the owner's through drop_feature_view for registered ones).
CREATE OR REPLACE FUNCTION fstore._detach_triggers(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
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

-- Removes change capture of a view; called by the registry before the view is dropped. The
-- triggers go when no other online view uses the table and fstore owns it (a registered table's
-- triggers can only be dropped by its owner; left alone they do nothing once no view uses them).
-- The view's pending changes go; the worker deletes its Redis keys once the view is gone from the
-- registry (it still has the view's row in fstore.sync_views).
CREATE OR REPLACE FUNCTION fstore._detach_sync(view_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v fstore.view_registry;
BEGIN
  SELECT * INTO v FROM fstore.view_registry r WHERE r.name = _detach_sync.view_name;
  IF FOUND AND NOT EXISTS (SELECT FROM fstore.view_registry o
                            WHERE o.table_oid = v.table_oid AND o.name <> v.name AND o.online) THEN
    IF v.managed THEN
      PERFORM fstore._detach_triggers(v.table_oid);
    ELSIF NOT pg_catalog.pg_has_role(fstore._caller(),
                                     (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = v.table_oid), 'USAGE') THEN
      RAISE NOTICE 'the change-capture triggers fstore_sync_* stay on % (only its owner can drop them); they do nothing now',
        v.table_oid USING HINT = format('DROP TRIGGER fstore_sync_insert ON %1$s; DROP TRIGGER fstore_sync_update ON %1$s; '
                                        'DROP TRIGGER fstore_sync_delete ON %1$s; DROP TRIGGER fstore_sync_truncate ON %1$s;',
                                        v.table_oid);
    END IF;
  END IF;
  DELETE FROM fstore.change_queue q WHERE q.view_name = _detach_sync.view_name;
  PERFORM pg_catalog.pg_notify('fstore_changes', '');
END
$fn$;

-- Queues `keys` of online view `view` for the sync worker, due now or at `due_at` (the
-- writer-facing half of materialize).
CREATE OR REPLACE FUNCTION fstore._queue_keys(view text, keys text[], due_at timestamptz DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF NOT EXISTS (SELECT FROM fstore.view_registry r WHERE r.name = _queue_keys.view AND r.online) THEN
    RAISE EXCEPTION 'feature view "%" does not exist or is not online', view USING ERRCODE = '42704';
  END IF;
  IF cardinality(keys) > 0 THEN
    INSERT INTO fstore.change_queue (view_name, keys, due_at) VALUES (view, keys, _queue_keys.due_at);
    PERFORM pg_catalog.pg_notify('fstore_changes', '');
  END IF;
END
$fn$;

-- Queues the latest values of every entity of `view` with an event in [start_ts, end_ts) for the
-- online store. A repair and backfill tool: ordinary ingestion reaches Redis on its own.
-- SECURITY INVOKER: the caller reads the view's table with its own rights. Returns the number of
-- entities queued. Errors: 42704 unknown view, 22023 offline view or bad range, 42804 when the
-- table's columns no longer have the registry's types.
CREATE OR REPLACE FUNCTION fstore.materialize(view text, start_ts timestamptz DEFAULT '-infinity',
                                   end_ts timestamptz DEFAULT 'infinity') RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v record;
  keys text[];
  future_keys text[];
  future_at timestamptz;
BEGIN
  IF view IS NULL OR start_ts IS NULL OR end_ts IS NULL THEN
    RAISE EXCEPTION 'fstore.materialize: arguments must not be NULL' USING ERRCODE = '22023';
  END IF;
  SELECT fv.table_name, fv.join_key, fv.key_type, fv.timestamp_column, fv.online INTO v
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
  IF fstore._column_type(v.table_name, v.join_key) IS DISTINCT FROM v.key_type
     OR fstore._column_type(v.table_name, v.timestamp_column) IS DISTINCT FROM 'timestamptz'::regtype THEN
    RAISE EXCEPTION 'feature view "%": columns "%" and "%" of % no longer have the registered types',
      view, v.join_key, v.timestamp_column, v.table_name USING ERRCODE = '42804';
  END IF;
  -- The keys with events in the range, queued now; those of them with rows still in the future
  -- queued again, due at the earliest such (finite) time, as the capture trigger does.
  EXECUTE format('SELECT pg_catalog.array_agg(DISTINCT %1$I::text COLLATE "C"), '
                 '       pg_catalog.array_agg(DISTINCT %1$I::text COLLATE "C") FILTER (WHERE %3$I > $3 AND %3$I < $4), '
                 '       pg_catalog.min(%3$I) FILTER (WHERE %3$I > $3 AND %3$I < $4) '
                 'FROM %2$s WHERE %1$I IS NOT NULL AND %3$I >= $1 AND %3$I < $2',
                 v.join_key, v.table_name, v.timestamp_column)
    INTO keys, future_keys, future_at USING start_ts, end_ts, pg_catalog.statement_timestamp(), 'infinity'::timestamptz;
  PERFORM fstore._queue_keys(view, keys);
  IF future_keys IS NOT NULL THEN
    PERFORM fstore._queue_keys(view, future_keys, future_at);
  END IF;
  RETURN COALESCE(cardinality(keys), 0);
END
$fn$;

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
       coalesce(sv.keys_synced, 0) AS keys_synced,
       coalesce(sv.state, 'ok') AS state,
       sv.reason
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

-- What the sync worker's role needs (fstore_sync; see docs/operations.md), and nothing for admins.
REVOKE ALL ON fstore.change_queue, fstore.sync_state, fstore.sync_views FROM fstore_admin;
REVOKE ALL ON SEQUENCE fstore.change_queue_id_seq FROM fstore_admin;
GRANT SELECT, INSERT, DELETE, UPDATE ON fstore.change_queue TO fstore_sync;
GRANT SELECT, INSERT, UPDATE, DELETE ON fstore.sync_state, fstore.sync_views TO fstore_sync;
GRANT USAGE ON SEQUENCE fstore.change_queue_id_seq TO fstore_sync;
GRANT EXECUTE ON FUNCTION fstore._queue_keys(text, text[], timestamptz) TO fstore_writer;
