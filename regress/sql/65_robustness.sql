-- Robustness (0.1.1): mistakes refused up front with clear errors; several views over one table;
-- infinite times and NULL keys in the change capture.
SELECT fstore.create_entity('rob_driver', 'driver_id', 'bigint');

-- Join keys and features named like system columns, min above max, a created column equal to
-- the time column: clear 22023 errors before any DDL.
SELECT regress_error($q$SELECT fstore.create_entity('rob_x', 'ctid', 'bigint')$q$);
SELECT regress_error($q$SELECT fstore.create_entity('rob_x', 'xmin', 'bigint')$q$);
SELECT regress_error($q$SELECT fstore.create_feature_view('rob_v', 'rob_driver', '[{"name": "tableoid", "type": "int"}]')$q$);
SELECT regress_error($q$SELECT fstore.create_feature_view('rob_v', 'rob_driver', '[{"name": "a", "type": "int", "validation": {"min": 0, "max": -1}}]')$q$);
SELECT regress_error($q$SELECT fstore.create_feature_view('rob_v', 'rob_driver', '[{"name": "a", "type": "text", "validation": {"min": "b", "max": "a"}}]')$q$);
SELECT fstore.create_feature_view('rob_v', 'rob_driver', '[{"name": "a", "type": "int", "validation": {"min": 1, "max": 1}}]');
CREATE TABLE rob_src (driver_id bigint, event_ts timestamptz, created timestamptz, val float8, other float8);
CREATE INDEX ON rob_src (driver_id, event_ts);
SELECT regress_error($q$SELECT fstore.register_feature_view('rob_reg', 'rob_driver', 'rob_src', created_column => 'event_ts')$q$);

-- Two features whose first 50 characters agree get distinct constraint names.
SELECT fstore.add_features('rob_v', format('[{"name": "%s_one", "type": "int", "validation": {"min": 0}},
                                             {"name": "%s_two", "type": "int", "validation": {"min": 0}}]',
                                           repeat('f', 50), repeat('f', 50))::jsonb);
SELECT count(DISTINCT conname) AS distinct_min_constraints FROM pg_constraint
 WHERE conrelid = 'fstore_data.rob_v'::regclass AND conname LIKE 'fffff%';

-- Several views over one table: each is captured (one queue row per view and statement).
SELECT fstore.register_feature_view('rob_reg_a', 'rob_driver', 'rob_src', features => ARRAY['val']);
SELECT fstore.register_feature_view('rob_reg_b', 'rob_driver', 'rob_src', created_column => 'created', features => ARRAY['other']);
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'rob_src'::regclass AND NOT tgisinternal;
DELETE FROM fstore.change_queue;
INSERT INTO rob_src VALUES (1, now() - interval '1 hour', now(), 1, 2), (2, now() - interval '1 hour', now(), 3, 4);
SELECT view_name, keys, due_at IS NOT NULL AS later FROM fstore.change_queue ORDER BY view_name, id;
-- Dropping one view leaves the other captured and its columns readable.
SELECT fstore.drop_feature_view('rob_reg_a');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'rob_src'::regclass AND NOT tgisinternal;
SELECT attname, has_column_privilege('fstore_reader', 'rob_src', attname, 'SELECT') AS reader_may_select
  FROM pg_attribute WHERE attrelid = 'rob_src'::regclass AND attnum > 0 ORDER BY attnum;
DELETE FROM fstore.change_queue;
UPDATE rob_src SET other = 5 WHERE driver_id = 2;
SELECT view_name, keys FROM fstore.change_queue ORDER BY view_name, id;

-- Infinite times: an 'infinity' row is never due (no queue row waiting forever), '-infinity' is
-- an ordinary old row; a NULL key is never queued; nothing fails.
DELETE FROM fstore.change_queue;
INSERT INTO rob_src VALUES (3, 'infinity', now(), 1, 1), (4, '-infinity', now(), 1, 1), (NULL, now(), now(), 1, 1),
                           (5, now() + interval '1 day', now(), 1, 1);
SELECT view_name, keys, due_at IS NOT NULL AS later FROM fstore.change_queue ORDER BY view_name, id;
SELECT fstore.ingest('rob_v', '[{"driver_id": 1, "event_ts": "infinity", "a": 1}, {"driver_id": 2, "event_ts": "-infinity", "a": 1}]');
SELECT view, pending_changes FROM fstore.sync_status WHERE view LIKE 'rob%' ORDER BY view;
SELECT fstore.materialize('rob_v');

-- Reject mode stores bad data, but a missing privilege still fails the call.
CREATE ROLE rob_writer LOGIN IN ROLE fstore_writer;
REVOKE INSERT ON fstore_data.rob_v FROM fstore_writer;
SET ROLE rob_writer;
SELECT regress_error($q$SELECT fstore.ingest('rob_v', '{"driver_id": 1, "event_ts": "2024-01-01", "a": 1}', 'reject')$q$);
RESET ROLE;
GRANT INSERT ON fstore_data.rob_v TO fstore_writer;
SET ROLE rob_writer;
SELECT fstore.ingest('rob_v', '[{"driver_id": 1, "event_ts": "2024-01-01", "a": 1}, {"driver_id": 1, "event_ts": "2024-01-01", "a": 7}]', 'reject');
RESET ROLE;
SELECT view, sqlstate, actor FROM fstore.rejected_rows WHERE view = 'rob_v';

SELECT fstore.drop_feature_view('rob_reg_b');
SELECT fstore.drop_feature_view('rob_v', drop_data => true);
DROP TABLE rob_src;
DROP ROLE rob_writer;
