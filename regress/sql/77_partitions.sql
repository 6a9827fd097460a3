-- Partitioned history (0.2.0): create_feature_view(partition_by, retention), partitions ahead,
-- the default partition catching late and far-future rows and split by maintenance, retention
-- dropping exactly the partitions wholly older than it (their keys queued for the online store),
-- a partitioned table of the user's own registered. Outputs relative to now() (month periods).
SELECT fstore.create_entity('pt_user', 'user_id', 'bigint');
-- Errors: unknown unit, retention without partitioning or not positive, unique validation.
SELECT fstore.create_feature_view('pt_bad', 'pt_user', '[{"name": "x", "type": "float8"}]', partition_by => 'year');
SELECT fstore.create_feature_view('pt_bad', 'pt_user', '[{"name": "x", "type": "float8"}]', retention => '1 day');
SELECT fstore.create_feature_view('pt_bad', 'pt_user', '[{"name": "x", "type": "float8"}]', partition_by => 'day', retention => '-1 day');
SELECT fstore.create_feature_view('pt_bad', 'pt_user', '[{"name": "x", "type": "float8", "validation": {"unique": true}}]', partition_by => 'day');
-- The old positional signature still works (unpartitioned).
SELECT fstore.create_feature_view('pt_plain', 'pt_user', '[{"name": "x", "type": "float8"}]', '1 day', false);
SELECT c.relkind FROM pg_class c WHERE c.oid = 'fstore_data.pt_plain'::regclass;
-- Monthly partitions, six months kept, with a validated and a derived feature.
SELECT fstore.create_feature_view('pt_txn', 'pt_user', '[
  {"name": "amount", "type": "float8", "validation": {"min": 0}},
  {"name": "double_amount", "type": "float8", "expression": "amount * 2"}]',
  partition_by => 'month', retention => '6 months');
SELECT partition_by, retention FROM fstore.feature_views WHERE name = 'pt_txn';
-- The helper: periods of the partition bounds, so the checks below do not depend on today.
CREATE FUNCTION pg_temp.pt_month(k int) RETURNS timestamptz LANGUAGE sql AS
  $$ SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + k * interval '1 month') AT TIME ZONE 'UTC' $$;
CREATE FUNCTION pg_temp.pt_parts() RETURNS TABLE (k int, rows bigint) LANGUAGE sql AS $$
  SELECT round(extract(epoch FROM r.lower - pg_temp.pt_month(0)) / (86400 * 30.44))::int,
         (SELECT count(*) FROM fstore_data.pt_txn t WHERE t.tableoid = r.part)
    FROM fstore._range_partitions('fstore_data.pt_txn'::regclass) r ORDER BY r.lower $$;
-- Created ahead: this month and the next two, and the default partition.
SELECT * FROM pg_temp.pt_parts();
SELECT fstore._default_partition('fstore_data.pt_txn'::regclass);
-- Rows: this month, last month and four months ago (late: into the default), a year ahead
-- (far future: default), +-infinity (default). No insert fails.
INSERT INTO fstore_data.pt_txn (user_id, event_ts, amount) VALUES
  (1, pg_temp.pt_month(0) + interval '1 hour', 10), (2, pg_temp.pt_month(-1) + interval '1 hour', 20),
  (3, pg_temp.pt_month(-4) + interval '1 hour', 30), (3, pg_temp.pt_month(-8) + interval '1 hour', 31),
  (4, pg_temp.pt_month(12), 40), (5, 'infinity', 50), (6, '-infinity', 60);
SELECT count(*) FROM fstore_data.pt_txn_default;
-- Validation and derived features hold on partitions as on a plain table.
INSERT INTO fstore_data.pt_txn (user_id, event_ts, amount) VALUES (7, now(), -1);
SELECT user_id, double_amount FROM fstore_data.pt_txn WHERE user_id = 1;
-- Maintenance splits last month and four months ago out of the default partition, drops the row
-- eight months ago and the -infinity one (older than retention: their keys queued), keeps the
-- far-future and infinity rows in the default; idempotent.
DELETE FROM fstore.change_queue WHERE view_name = 'pt_txn';
SELECT action, count(*) FROM fstore.maintain_partitions('pt_txn') GROUP BY action ORDER BY action;
SELECT * FROM pg_temp.pt_parts();
SELECT user_id FROM fstore_data.pt_txn_default ORDER BY user_id;
SELECT user_id, double_amount FROM fstore_data.pt_txn ORDER BY user_id;
SELECT DISTINCT unnest(keys) AS k FROM fstore.change_queue WHERE view_name = 'pt_txn' ORDER BY k;
SELECT count(*) FROM fstore.maintain_partitions('pt_txn');
-- Rows older than the cut (the start of the month that holds now() - 6 months) are deleted from
-- the default partition (keys queued by the trigger); the month after the cut gets a partition.
INSERT INTO fstore_data.pt_txn (user_id, event_ts, amount) VALUES
  (8, pg_temp.pt_month(-7) + interval '1 day', 1), (9, pg_temp.pt_month(-5) + interval '1 day', 1),
  (3, pg_temp.pt_month(-7) + interval '2 days', 1);
SELECT action, count(*) FROM fstore.maintain_partitions('pt_txn') GROUP BY action ORDER BY action;
SELECT * FROM pg_temp.pt_parts();
DELETE FROM fstore.change_queue WHERE view_name = 'pt_txn';
-- Retention shortened to 4 months: the partition five months back is wholly older and dropped,
-- its keys queued (DROP fires no trigger); the one four months back holds days within retention.
UPDATE fstore.view_registry SET retention = '4 months' WHERE name = 'pt_txn';
SELECT action, count(*) FROM fstore.maintain_partitions() WHERE view_name = 'pt_txn' GROUP BY action ORDER BY action;
SELECT * FROM pg_temp.pt_parts();
SELECT DISTINCT unnest(keys) AS k FROM fstore.change_queue WHERE view_name = 'pt_txn' ORDER BY k;
SELECT fstore.maintain_partitions('pt_nope');
-- Writers cannot reach a partition directly (only through the view's table).
SET ROLE fstore_writer;
INSERT INTO fstore_data.pt_txn_default (user_id, event_ts, amount) VALUES (1, 'infinity', 1);
SELECT fstore.maintain_partitions();
RESET ROLE;
-- A partitioned table of the user's own can be registered.
CREATE TABLE public.pt_own (user_id bigint NOT NULL, ts timestamptz NOT NULL, score float8) PARTITION BY RANGE (ts);
CREATE TABLE public.pt_own_2024 PARTITION OF public.pt_own FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE INDEX ON public.pt_own (user_id, ts);
INSERT INTO public.pt_own VALUES (1, '2024-06-01', 0.5);
SELECT fstore.register_feature_view('pt_own', 'pt_user', 'public.pt_own', 'ts', NULL, ARRAY['score'], online => false);
SELECT fstore.create_training_set('public.pt_ts',
  $$SELECT 1::bigint AS user_id, '2024-07-01'::timestamptz AS event_timestamp$$, ARRAY['pt_own:score']);
SELECT * FROM public.pt_ts;
DROP TABLE public.pt_ts;
-- Online too: the capture triggers sit on the partitioned table, so rows inserted through it,
-- also into a partition created after registration, reach the change queue.
SELECT fstore.register_feature_view('pt_own_online', 'pt_user', 'public.pt_own', 'ts', NULL, ARRAY['score']);
CREATE TABLE public.pt_own_2025 PARTITION OF public.pt_own FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
DELETE FROM fstore.change_queue WHERE view_name = 'pt_own_online';
INSERT INTO public.pt_own VALUES (2, '2024-06-02', 0.7), (3, '2025-03-01', 0.9);
SELECT DISTINCT unnest(keys) AS k FROM fstore.change_queue WHERE view_name = 'pt_own_online' ORDER BY k;
SELECT fstore.drop_feature_view('pt_own_online');
SELECT fstore.drop_feature_view('pt_own');
DROP TABLE public.pt_own;
-- A partition whose name another view's table has is named with a hash instead.
SELECT fstore.create_feature_view('pt_col_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD'), 'pt_user',
  '[{"name": "x", "type": "float8"}]', online => false) IS NOT NULL AS created;
SELECT fstore.create_feature_view('pt_col', 'pt_user', '[{"name": "x", "type": "float8"}]', online => false,
  partition_by => 'day') IS NOT NULL AS created;
SELECT count(*) AS partitions, count(*) FILTER (WHERE part::text LIKE 'fstore_data.pt_col\_________\_p%') AS hashed
  FROM fstore._range_partitions('fstore_data.pt_col'::regclass);
SELECT fstore.drop_feature_view('pt_col', drop_data => true);
SELECT fstore.drop_feature_view('pt_col_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD'), drop_data => true);
-- Pruning: a daily view with a ttl of two days over ten days of 2024, split out of the default
-- partition by maintenance. A training set opens (and locks) only the partitions its entity rows
-- can reach, [earliest time - ttl, latest time], and the default partition; the statistics only
-- those of their window.
SELECT fstore.create_feature_view('pt_day', 'pt_user', '[{"name": "v", "type": "int4"}, {"name": "s", "type": "text"}]',
  ttl => '2 days', online => false, partition_by => 'day');
SELECT setseed(0.25);
INSERT INTO fstore_data.pt_day (user_id, event_ts, created_ts, v, s)
SELECT 1 + (random() * 20)::int,
       CASE WHEN i % 4 = 0 THEN timestamptz '2024-01-01 00:00+00' + (random() * 9)::int * interval '1 day'
            ELSE timestamptz '2024-01-01 00:00+00' + random() * interval '10 days' END,
       timestamptz '2024-01-01 00:00+00' + i * interval '1 second', i, 's' || i
  FROM generate_series(1, 3000) i;
SELECT action, count(*) FROM fstore.maintain_partitions('pt_day') WHERE partition_name LIKE '%2024%' GROUP BY action;
SELECT count(*) AS rows_left_in_default FROM fstore_data.pt_day_default;
BEGIN;
SELECT fstore.create_training_set('pg_temp.pt_one', $$SELECT 3::bigint AS user_id, timestamptz '2024-01-05 12:00+00' AS event_timestamp$$, ARRAY['pt_day:v']);
SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
 WHERE l.pid = pg_backend_pid() AND c.relname LIKE 'pt\_day%' AND c.relkind = 'r' ORDER BY 1;
ROLLBACK;
BEGIN;
SELECT feature, row_count = (SELECT count(*) FROM fstore_data.pt_day WHERE event_ts >= '2024-01-02 00:00+00' AND event_ts < '2024-01-04 00:00+00') AS all_rows
  FROM fstore._statistics_pass('pt_day', '2024-01-02 00:00+00', '2024-01-04 00:00+00') ORDER BY feature;
SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
 WHERE l.pid = pg_backend_pid() AND c.relname LIKE 'pt\_day%' AND c.relkind = 'r' ORDER BY 1;
ROLLBACK;
-- Randomized entity rows (times on and between partition bounds, before and after the data,
-- keys without rows) by every scan path equal the LATERAL reference.
CREATE TABLE pg_temp.pt_labels AS
SELECT i AS ord, 1 + (random() * 22)::int::bigint AS user_id,
       CASE WHEN i % 3 = 0 THEN timestamptz '2023-12-31 00:00+00' + (random() * 13)::int * interval '1 day'
            ELSE timestamptz '2023-12-31 00:00+00' + random() * interval '13 days' END AS event_timestamp
  FROM generate_series(1, 400) i;
CREATE TABLE pg_temp.pt_ref AS
SELECT l.ord, l.user_id, l.event_timestamp, f.v, f.s FROM pg_temp.pt_labels l LEFT JOIN LATERAL (
  SELECT d.v, d.s FROM fstore_data.pt_day d
   WHERE d.user_id = l.user_id AND d.event_ts <= l.event_timestamp AND d.event_ts >= l.event_timestamp - interval '2 days'
   ORDER BY d.event_ts DESC, d.created_ts DESC LIMIT 1) f ON true;
CREATE INDEX ON fstore_data.pt_day (user_id, event_ts);
ANALYZE fstore_data.pt_day;
SET fstore.training_set_scan = seq;
SELECT fstore.create_training_set('pg_temp.pt_seq', 'pg_temp.pt_labels', ARRAY['pt_day:v', 'pt_day:s']);
SET fstore.training_set_scan = index;
SELECT fstore.create_training_set('pg_temp.pt_index', 'pg_temp.pt_labels', ARRAY['pt_day:v', 'pt_day:s']);
SET fstore.training_set_scan = probe;
SELECT fstore.create_training_set('pg_temp.pt_probe', 'pg_temp.pt_labels', ARRAY['pt_day:v', 'pt_day:s']);
RESET fstore.training_set_scan;
SELECT count(*) FILTER (WHERE v IS NOT NULL) > 100 AS many_found, count(*) FILTER (WHERE v IS NULL) > 20 AS some_missing FROM pg_temp.pt_ref;
SELECT (SELECT count(*) FROM (TABLE pg_temp.pt_seq EXCEPT TABLE pg_temp.pt_ref) x) +
       (SELECT count(*) FROM (TABLE pg_temp.pt_ref EXCEPT TABLE pg_temp.pt_seq) x) AS seq_differs,
       (SELECT count(*) FROM (TABLE pg_temp.pt_index EXCEPT TABLE pg_temp.pt_ref) x) +
       (SELECT count(*) FROM (TABLE pg_temp.pt_ref EXCEPT TABLE pg_temp.pt_index) x) AS index_differs,
       (SELECT count(*) FROM (TABLE pg_temp.pt_probe EXCEPT TABLE pg_temp.pt_ref) x) +
       (SELECT count(*) FROM (TABLE pg_temp.pt_ref EXCEPT TABLE pg_temp.pt_probe) x) AS probe_differs;
SELECT fstore.drop_feature_view('pt_day', drop_data => true);
SELECT fstore.drop_feature_view('pt_txn', drop_data => true);
SELECT fstore.drop_feature_view('pt_plain', drop_data => true);
SELECT count(*) FROM pg_class WHERE relname LIKE 'pt\_txn%';
