-- Sync subsystem (issue 5): change capture triggers, the change queue, fstore.materialize and
-- fstore.sync_status. The worker is not running here: the queue is inspected directly.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS fstore;
RESET client_min_messages;
CREATE VIEW sync_queue AS
  SELECT view_name, (SELECT array_agg(k ORDER BY k) FROM unnest(keys) k) AS keys, due_at IS NOT NULL AS later
  FROM fstore.change_queue ORDER BY id;

SELECT fstore.create_entity('sync_driver', 'driver_id', 'bigint');
SELECT fstore.create_feature_view('sync_stats', 'sync_driver',
  '[{"name": "conv_rate", "type": "float8"}, {"name": "city", "type": "text"}]');
SELECT fstore.create_feature_view('sync_offline', 'sync_driver',
  '[{"name": "x", "type": "int4"}]', online => false);

-- Online views get the four statement triggers, offline ones none.
SELECT tgrelid::regclass, tgname, tgtype FROM pg_trigger
 WHERE tgname LIKE 'fstore_sync_%' AND tgrelid::regclass::text LIKE 'fstore_data.sync_%' ORDER BY 1, 2;

-- One queue row per statement, whatever the row count; DELETE, UPDATE (old and new key), TRUNCATE.
TRUNCATE fstore.change_queue;
INSERT INTO fstore_data.sync_stats (driver_id, event_ts, conv_rate, city)
  SELECT i % 3, now() - interval '1 hour', 0.5, 'c' FROM generate_series(1, 100) i;
INSERT INTO fstore_data.sync_stats (driver_id, event_ts, conv_rate, city) VALUES (7, now(), 0.1, NULL);
INSERT INTO fstore_data.sync_stats (driver_id, event_ts, conv_rate, city) SELECT 1, now(), 1, 'x' WHERE false;
UPDATE fstore_data.sync_stats SET driver_id = 8 WHERE driver_id = 7;
DELETE FROM fstore_data.sync_stats WHERE driver_id = 8;
DELETE FROM fstore_data.sync_stats WHERE false;
INSERT INTO fstore_data.sync_offline (driver_id, event_ts, x) VALUES (1, now(), 1);
TRUNCATE fstore_data.sync_stats;
SELECT view_name, array_length(keys, 1) AS n, (SELECT array_agg(DISTINCT k) FROM unnest(keys) k) AS distinct_keys, later
  FROM sync_queue;

-- A row with a future event time is queued twice: now, and due at its event time.
TRUNCATE fstore.change_queue;
INSERT INTO fstore_data.sync_stats (driver_id, event_ts, conv_rate, city) VALUES
  (1, now() + interval '1 hour', 0.5, 'later'), (2, now(), 0.5, 'now');
SELECT view_name, keys, later FROM sync_queue;
SELECT due_at = (SELECT max(event_ts) FROM fstore_data.sync_stats) AS due_at_event_time
  FROM fstore.change_queue WHERE due_at IS NOT NULL;

-- sync_status: per online view, pending changes; due-later rows are not pending yet.
SELECT view, pending_changes, pending_keys, lag_seconds >= 0 AS lag_ok, last_sync_at, keys_synced
  FROM fstore.sync_status WHERE view LIKE 'sync_%' ORDER BY 1;

-- materialize queues the entities with events in [start, end).
TRUNCATE fstore.change_queue;
SELECT fstore.materialize('sync_stats');
SELECT fstore.materialize('sync_stats', now() - interval '1 minute', now() + interval '1 minute');
SELECT fstore.materialize('sync_stats', '2000-01-01', '2000-01-02');
SELECT view_name, keys, later FROM sync_queue;
SELECT regress_error($$SELECT fstore.materialize('no_such_view')$$);
SELECT regress_error($$SELECT fstore.materialize('sync_offline')$$);
SELECT regress_error($$SELECT fstore.materialize('sync_stats', 'infinity', '-infinity')$$);
SELECT regress_error($$SELECT fstore.materialize(NULL)$$);

-- Privileges: writers materialize, readers read sync_status, nobody else calls the hooks.
SELECT has_function_privilege('fstore_writer', 'fstore.materialize(text, timestamptz, timestamptz)', 'EXECUTE') AS writer_materializes,
       has_function_privilege('fstore_reader', 'fstore.materialize(text, timestamptz, timestamptz)', 'EXECUTE') AS reader_materializes,
       has_table_privilege('fstore_reader', 'fstore.sync_status', 'SELECT') AS reader_reads_status,
       has_function_privilege('public', 'fstore._attach_sync(text)', 'EXECUTE') AS public_attaches,
       has_table_privilege('fstore_writer', 'fstore.change_queue', 'INSERT') AS writer_inserts_queue;

-- A writer without any right on the queue still ingests (the trigger is SECURITY DEFINER).
CREATE ROLE sync_regress_writer IN ROLE fstore_writer;
GRANT INSERT ON fstore_data.sync_stats TO sync_regress_writer;
TRUNCATE fstore.change_queue;
SET ROLE sync_regress_writer;
INSERT INTO fstore_data.sync_stats (driver_id, event_ts, conv_rate, city) VALUES (5, now(), 0.5, 'w');
SELECT fstore.materialize('sync_stats', now() - interval '1 minute');
RESET ROLE;
SELECT view_name, keys, later FROM sync_queue;

-- Quoted table and column names, and keys full of quotes and commas, are handled as data.
SELECT fstore.create_entity('sync_rider', 'rider_id', 'text');
CREATE TABLE public."sync trips" (rider_id text NOT NULL, "when" timestamptz NOT NULL, fare int);
CREATE INDEX ON public."sync trips" (rider_id, "when");
SELECT fstore.register_feature_view('sync_rides', 'sync_rider', 'public."sync trips"', timestamp_column => 'when');
TRUNCATE fstore.change_queue;
INSERT INTO public."sync trips" VALUES ('a''b', now(), 1), ('c,d', now(), 2), ('"e"', now(), 3);
SELECT view_name, keys, later FROM sync_queue;

-- Dropping a view removes its triggers and its pending changes.
SELECT fstore.drop_feature_view('sync_rides');
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'public."sync trips"'::regclass AND NOT tgisinternal;
SELECT count(*) AS queued_for_dropped FROM fstore.change_queue WHERE view_name = 'sync_rides';

-- Clean up.
SELECT fstore.drop_feature_view('sync_stats', drop_data => true);
SELECT fstore.drop_feature_view('sync_offline', drop_data => true);
DROP TABLE public."sync trips";
REVOKE ALL ON SCHEMA fstore, fstore_data FROM sync_regress_writer;
DROP ROLE sync_regress_writer;
DROP VIEW sync_queue;
DROP FUNCTION regress_error(text);
TRUNCATE fstore.change_queue;
