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
REVOKE SELECT ON secret_events FROM fstore_reader;
SET ROLE regress_reader;
SELECT regress_error($$SELECT fstore.create_training_set('t_secret', 'SELECT 1::bigint AS rider_id, now() AS event_timestamp', ARRAY['secret_events:secret'])$$);
RESET ROLE;
