-- Training sets: the point-in-time rule, shapes and errors.
SELECT fstore.create_entity('rider', 'rider_id', 'bigint');
SELECT fstore.create_entity('zone', 'zone_id', 'text');
SELECT fstore.create_feature_view('rider_stats', 'rider', $$[
  {"name": "rides", "type": "integer"}, {"name": "rating", "type": "numeric(3,2)"},
  {"name": "old_score", "type": "float8"}]$$, ttl => '2 days');
SELECT fstore.create_feature_view('zone_stats', 'zone', '[{"name": "demand", "type": "float8"}, {"name": "rides", "type": "integer"}]');
INSERT INTO fstore_data.rider_stats (rider_id, event_ts, created_ts, rides, rating, old_score) VALUES
  (1, '2024-01-01', '2024-01-01', 10, 4.5, 1),
  (1, '2024-01-03', '2024-01-03', 30, 4.6, 3),
  (1, '2024-01-03', '2024-01-05', 31, 4.7, 3),   -- same event time, created later: wins
  (1, '2024-01-09', '2024-01-09', 90, NULL, 9),  -- NULL feature value
  (2, '2024-01-02', '2024-01-02', 20, 3.9, 2);
INSERT INTO fstore_data.zone_stats (zone_id, event_ts, demand, rides) VALUES
  ('north', '2024-01-01', 0.5, 100), ('north', '2024-01-04', 0.9, 400), ('south', '2024-01-02', 0.1, 7);
SELECT fstore.set_feature_status('rider_stats:old_score', 'deprecated');

CREATE TABLE labels (rider_id bigint, zone_id text, event_timestamp timestamptz, label boolean);
INSERT INTO labels VALUES
  (1, 'north', '2024-01-02', true),       -- rider: 2024-01-01 row
  (1, 'north', '2024-01-03', false),      -- event_ts = t qualifies; tie broken by created_ts
  (1, 'south', '2024-01-06', true),       -- 2024-01-03 row is older than the 2 day ttl: NULL
  (2, 'north', '2024-01-01', false),      -- before any row: NULL
  (3, 'east', '2024-01-05', true),        -- unknown keys: NULL
  (1, 'north', '2024-01-09', false),      -- winning row has a NULL feature
  (NULL, NULL, '2024-01-05', true),       -- NULL keys: NULL features, row kept
  (2, 'south', NULL, false);              -- NULL time: NULL features, row kept

SELECT fstore.create_training_set('ts_basic', 'labels',
  ARRAY['rider_stats:rides', 'rider_stats:rating', 'zone_stats:demand']);
SELECT * FROM ts_basic;
-- Columns are typed as in their views.
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'ts_basic'::regclass AND attnum > 0 ORDER BY attnum;

-- A SELECT as entity rows, full feature names, view:* (archived and draft left out; deprecated warns)
SELECT fstore.create_training_set('ts_full',
  'SELECT rider_id, zone_id, event_timestamp FROM labels WHERE rider_id = 1 ORDER BY event_timestamp DESC',
  ARRAY['rider_stats:*', 'zone_stats:*'], full_feature_names => true);
SELECT * FROM ts_full;

-- A feature service
SELECT fstore.create_feature_service('rider_model', ARRAY['rider_stats:rides', 'zone_stats:demand']);
SELECT fstore.create_training_set('public.ts_service', 'labels', feature_service => 'rider_model');
SELECT count(*), count(rides), count(demand) FROM ts_service;

-- Empty entity rows give an empty table of the right shape.
SELECT fstore.create_training_set('ts_empty', 'SELECT * FROM labels WHERE false', ARRAY['rider_stats:rides']);
SELECT count(*) FROM ts_empty;

-- A registered view with no created column.
CREATE TABLE rider_events (rider_id bigint, at timestamptz, speed float8);
INSERT INTO rider_events VALUES (1, '2024-01-02', 11.5), (1, '2024-01-04', 14.0);
SELECT fstore.register_feature_view('rider_events', 'rider', 'rider_events', 'at');
SELECT fstore.create_training_set('ts_registered', 'labels', ARRAY['rider_events:speed']);
SELECT rider_id, event_timestamp, speed FROM ts_registered;

-- Errors
SELECT fstore.set_feature_status('zone_stats:rides', 'archived');
SELECT regress_error($$SELECT fstore.create_training_set('ts_basic', 'labels', ARRAY['rider_stats:rides'])$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'labels', ARRAY['rider_stats:nope'])$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'labels', ARRAY['nope:rides'])$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'labels', ARRAY['zone_stats:rides'])$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'labels', ARRAY['rides'])$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'labels', ARRAY['rider_stats:rides', 'rider_events:*', 'rider_stats:rides'])$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'labels', ARRAY['rider_stats:rides'], 'rider_model')$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'labels')$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'labels', feature_service => 'nope')$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'no_such_table', ARRAY['rider_stats:rides'])$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'SELECT zone_id, event_timestamp FROM labels', ARRAY['rider_stats:rides'])$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'SELECT rider_id FROM labels', ARRAY['rider_stats:rides'])$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'SELECT rider_id, event_timestamp::date AS event_timestamp FROM labels', ARRAY['rider_stats:rides'])$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'SELECT zone_id AS rider_id, event_timestamp FROM labels', ARRAY['rider_stats:rides'])$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'SELECT rider_id, event_timestamp, 1 AS rides FROM labels', ARRAY['rider_stats:rides'])$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'SELECT rider_id, event_timestamp FROM labels; DROP TABLE labels', ARRAY['rider_stats:rides'])$$);
SELECT regress_error($$SELECT fstore.create_training_set('t1', 'SELECT 1/0 AS rider_id, now() AS event_timestamp', ARRAY['rider_stats:rides'])$$);
SELECT regress_error($$SELECT fstore.create_training_set(NULL, 'labels', ARRAY['rider_stats:rides'])$$);
SELECT regress_error($$SELECT fstore.create_training_set('bad"name.x.y.z', 'labels', ARRAY['rider_stats:rides'])$$);
SELECT count(*) AS labels_intact FROM labels;
-- Memory is bounded: a call that would need more than fstore.training_set_memory_limit is refused.
SET fstore.training_set_memory_limit = '1MB';
SELECT regress_error($$SELECT fstore.create_training_set('t_big', 'SELECT 1::bigint AS rider_id, now() AS event_timestamp FROM generate_series(1, 50000)', ARRAY['rider_stats:rides'])$$);
RESET fstore.training_set_memory_limit;
SELECT regress_error($$SET fstore.training_set_memory_limit = '10kB'$$);
-- A hostile target name is just a (quoted) name.
SELECT fstore.create_training_set('"ts; DROP TABLE labels"', 'labels', ARRAY['rider_stats:rides']);
SELECT count(*) FROM "ts; DROP TABLE labels";

-- A registered table dropped behind fstore's back: a clear error.
CREATE TABLE gone_events (rider_id bigint, event_ts timestamptz, x int);
CREATE INDEX ON gone_events (rider_id, event_ts);
SELECT fstore.register_feature_view('gone_events', 'rider', 'gone_events', online => false);
DROP TABLE gone_events;
SELECT regress_error($$SELECT fstore.create_training_set('t_gone', 'labels', ARRAY['gone_events:x'])$$);

-- A reader without SELECT on a registered table cannot read it through a training set.
CREATE TABLE secret_events (rider_id bigint, event_ts timestamptz, secret int);
SELECT fstore.register_feature_view('secret_events', 'rider', 'secret_events');
-- Registration shares the view's columns through fstore_owner; the owner withdraws them from
-- every reader by revoking that grant with CASCADE.
REVOKE SELECT ON secret_events FROM fstore_owner CASCADE;
SET ROLE regress_reader;
SELECT regress_error($$SELECT fstore.create_training_set('t_secret', 'SELECT 1::bigint AS rider_id, now() AS event_timestamp', ARRAY['secret_events:secret'])$$);
RESET ROLE;

-- Output columns follow the requested feature order, across views.
SELECT fstore.create_training_set('ts_order', 'labels',
  ARRAY['zone_stats:demand', 'rider_stats:rides', 'rider_events:speed', 'rider_stats:rating']);
SELECT string_agg(attname, ', ' ORDER BY attnum) AS columns FROM pg_attribute
 WHERE attrelid = 'ts_order'::regclass AND attnum > 0;
-- Two features with one output name (rides of two views): 42710 before any work; full names work.
SELECT fstore.set_feature_status('zone_stats:rides', 'active');
SELECT regress_error($$SELECT fstore.create_training_set('t_dup', 'SELECT 1/0 AS rider_id', ARRAY['rider_stats:rides', 'zone_stats:rides'])$$);
SELECT fstore.create_training_set('ts_dup_full', 'labels', ARRAY['rider_stats:rides', 'zone_stats:rides'], full_feature_names => true);
SELECT string_agg(attname, ', ' ORDER BY attnum) AS columns FROM pg_attribute
 WHERE attrelid = 'ts_dup_full'::regclass AND attnum > 0;

-- A registered partitioned table, read by a reader through its partitions (each with its own index
-- or none), by every scan path; NULL created times rank below every value, also below 1990.
CREATE TABLE part_events (rider_id bigint, at timestamptz, loaded timestamptz, level int) PARTITION BY RANGE (at);
CREATE TABLE part_events_2023 PARTITION OF part_events FOR VALUES FROM (MINVALUE) TO ('2024-01-01');
CREATE TABLE part_events_2024 PARTITION OF part_events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE part_events_rest PARTITION OF part_events DEFAULT;
CREATE INDEX ON part_events_2024 (rider_id, at);
INSERT INTO part_events VALUES
  (1, '2023-12-31', '2023-12-31', 1), (1, '2024-01-02', NULL, 2), (1, '2024-01-02', '1990-01-01', 3),
  (2, '-infinity', '2020-01-01', 4), (2, 'infinity', '2020-01-01', 5), (1, '2024-01-04', NULL, 6);
SELECT fstore.register_feature_view('part_events', 'rider', 'part_events', 'at', 'loaded');
CREATE TABLE part_labels (ord int, rider_id bigint, event_timestamp timestamptz);
INSERT INTO part_labels VALUES (1, 1, '2024-01-01'), (2, 1, '2024-01-03'), (3, 1, '2024-01-05'),
  (4, 2, '2024-06-01'), (5, 2, 'infinity'), (6, 2, '-infinity'), (7, 1, '-infinity');
GRANT SELECT ON part_labels TO regress_reader;
SET ROLE regress_reader;
SET fstore.training_set_scan = seq;
SELECT fstore.create_training_set('ts_part_seq', 'part_labels', ARRAY['part_events:level']);
SET fstore.training_set_scan = index;
SELECT fstore.create_training_set('ts_part_index', 'part_labels', ARRAY['part_events:level']);
SET fstore.training_set_scan = probe;
SELECT fstore.create_training_set('ts_part_probe', 'part_labels', ARRAY['part_events:level']);
RESET fstore.training_set_scan;
SELECT * FROM ts_part_seq;
SELECT (SELECT array_agg(level ORDER BY ord) FROM ts_part_index) = (SELECT array_agg(level ORDER BY ord) FROM ts_part_seq) AS index_agrees,
       (SELECT array_agg(level ORDER BY ord) FROM ts_part_probe) = (SELECT array_agg(level ORDER BY ord) FROM ts_part_seq) AS probe_agrees;
-- The parent's privileges decide, as for a SELECT on it: none on the parent, no training set
-- (SELECT on a partition does not help).
RESET ROLE;
REVOKE SELECT ON part_events FROM fstore_owner CASCADE;
GRANT SELECT ON part_events_2024 TO regress_reader;
SET ROLE regress_reader;
SELECT regress_error($$SELECT fstore.create_training_set('t_part', 'part_labels', ARRAY['part_events:level'])$$);
RESET ROLE;
-- Column privileges on what the view reads are enough.
GRANT SELECT (rider_id, at, loaded, level) ON part_events TO regress_reader;
SET ROLE regress_reader;
SELECT fstore.create_training_set('ts_part_cols', 'part_labels', ARRAY['part_events:level']);
SELECT count(level) FROM ts_part_cols;
RESET ROLE;
-- Row-level security on the parent is refused, as on a plain table.
ALTER TABLE part_events ENABLE ROW LEVEL SECURITY;
SET ROLE regress_reader;
SELECT regress_error($$SELECT fstore.create_training_set('t_part', 'part_labels', ARRAY['part_events:level'])$$);
RESET ROLE;
ALTER TABLE part_events DISABLE ROW LEVEL SECURITY;

-- ttl arithmetic is UTC whatever the session's TimeZone: a day before 2024-03-31 12:00 in Berlin
-- (just after the DST change) is 2024-03-30 10:00 UTC, not 11:00; a month before
-- 2024-05-01 00:30 Berlin is 2024-03-30 22:30 UTC.
SELECT fstore.create_feature_view('ttl_day', 'rider', '[{"name": "d", "type": "int"}]', ttl => '1 day');
SELECT fstore.create_feature_view('ttl_month', 'rider', '[{"name": "m", "type": "int"}]', ttl => '1 month');
INSERT INTO fstore_data.ttl_day (rider_id, event_ts, d) VALUES (1, '2024-03-30 10:30+00', 1), (2, 'infinity', 2), (3, '-infinity', 3);
INSERT INTO fstore_data.ttl_month (rider_id, event_ts, m) VALUES (1, '2024-03-31 10:00+00', 1), (2, 'infinity', 2), (3, '-infinity', 3);
SET TimeZone = 'Europe/Berlin';
SELECT fstore.create_training_set('ts_ttl', $$SELECT * FROM (VALUES
    (1, 1::bigint, '2024-03-31 12:00'::timestamptz), (2, 1, '2024-05-01 00:30'), (3, 2, 'infinity'),
    (4, 3, '-infinity'), (5, 3, '2024-01-01'), (6, 1, '294276-12-31 00:00+00'), (7, 1, '4714-11-24 00:00+00 BC'))
  AS l(ord, rider_id, event_timestamp)$$, ARRAY['ttl_day:d', 'ttl_month:m']);
RESET TimeZone;
SELECT ord, d, m FROM ts_ttl ORDER BY ord;
-- A registered table whose key column changed kind since registration: a clear error.
CREATE TABLE retyped_events (rider_id bigint, event_ts timestamptz, y int);
SELECT fstore.register_feature_view('retyped_events', 'rider', 'retyped_events', online => false);
ALTER TABLE retyped_events ALTER COLUMN rider_id TYPE text;
SELECT regress_error($$SELECT fstore.create_training_set('t_retyped', 'labels', ARRAY['retyped_events:y'])$$);
