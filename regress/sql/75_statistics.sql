-- Statistics, drift and monitors (0.2.0): compute_statistics against SQL's own aggregates,
-- feature_drift against values computed independently here and against scipy's for fixed
-- inputs, monitors and their runs, errors and rights.
SELECT setseed(0.25);
SELECT fstore.create_entity('st_card', 'card_id', 'bigint');
SELECT fstore.create_feature_view('st_txn', 'st_card', '[
  {"name": "amount", "type": "float8"}, {"name": "n", "type": "integer"}, {"name": "big", "type": "bigint"},
  {"name": "price", "type": "numeric"}, {"name": "city", "type": "text"}, {"name": "flag", "type": "boolean"},
  {"name": "one", "type": "float8"}, {"name": "nothing", "type": "float8"}]');
INSERT INTO fstore_data.st_txn (card_id, event_ts, amount, n, big, price, city, flag, one, nothing)
SELECT i, '2024-01-01'::timestamptz + i * interval '1 minute',
       CASE WHEN i % 17 = 0 THEN NULL ELSE round((random() * 1000 - 200)::numeric, 2)::float8 END,
       CASE WHEN i % 11 = 0 THEN NULL ELSE (random() * 50)::int END,
       (i::bigint * 1000000007) % 9007199254740993,
       round((random() * 100)::numeric, 3),
       CASE WHEN i % 13 = 0 THEN NULL ELSE (ARRAY['Paris', 'Berlin', 'Rome', 'Lyon', '<b>x</b>'])[1 + (random() * 4.99)::int] END,
       random() < 0.3, 42.5, NULL
  FROM generate_series(1, 3000) i;
-- NaN and infinities are counted aside; every other statistic is over the finite values.
INSERT INTO fstore_data.st_txn (card_id, event_ts, amount) VALUES
  (5001, '2024-01-01 12:00', 'NaN'), (5002, '2024-01-01 12:00', 'Infinity'), (5003, '2024-01-01 12:00', '-Infinity');

-- The whole view, then a window: one snapshot id each, one row per feature.
SELECT fstore.compute_statistics('st_txn') AS all_rows \gset
SELECT fstore.compute_statistics('st_txn', '2024-01-01 10:00', '2024-01-02 10:00') AS window_rows \gset
SELECT feature, row_count, computed_by = current_user AS by_me FROM fstore.statistics
 WHERE snapshot_id = :all_rows ORDER BY feature;

-- Numbers against SQL's aggregates of the same rows (finite values only).
CREATE TEMP VIEW st_expect AS
SELECT s.snapshot_id, s.feature, x.*
  FROM fstore.statistics s,
  LATERAL (SELECT count(*) AS rows, count(*) FILTER (WHERE v IS NULL) AS nulls, count(DISTINCT v) AS distinct_values,
                  avg(v) FILTER (WHERE v NOT IN ('NaN', 'Infinity', '-Infinity')) AS avg,
                  stddev_samp(v) FILTER (WHERE v NOT IN ('NaN', 'Infinity', '-Infinity')) AS stddev,
                  min(v) FILTER (WHERE v NOT IN ('NaN', 'Infinity', '-Infinity')) AS min,
                  max(v) FILTER (WHERE v NOT IN ('NaN', 'Infinity', '-Infinity')) AS max,
                  percentile_cont(ARRAY[0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]) WITHIN GROUP (ORDER BY v)
                    FILTER (WHERE v NOT IN ('NaN', 'Infinity', '-Infinity')) AS q,
                  count(*) FILTER (WHERE v = 'NaN') AS nans,
                  count(*) FILTER (WHERE v IN ('Infinity', '-Infinity')) AS infinities
             FROM (SELECT CASE s.feature WHEN 'amount' THEN amount WHEN 'n' THEN n WHEN 'big' THEN big
                                         WHEN 'price' THEN price::float8 WHEN 'one' THEN one ELSE nothing END AS v
                     FROM fstore_data.st_txn WHERE event_ts >= s.start_ts AND event_ts < s.end_ts) d) x
 WHERE s.feature NOT IN ('city', 'flag');
SELECT e.snapshot_id = :all_rows AS whole, e.feature,
       s.row_count = e.rows AS rows, s.null_count = e.nulls AS nulls, s.distinct_count = e.distinct_values AS distinct_ok,
       s.nan_count = e.nans AND s.infinite_count = e.infinities AS non_finite,
       s.mean IS NOT DISTINCT FROM e.avg OR abs(s.mean - e.avg) <= 1e-12 * abs(e.avg) AS mean,
       s.stddev IS NOT DISTINCT FROM e.stddev OR abs(s.stddev - e.stddev) <= 1e-9 * e.stddev AS stddev,
       s.min IS NOT DISTINCT FROM e.min AND s.max IS NOT DISTINCT FROM e.max AS min_max,
       s.quantile_rank_error = 0 AS exact,
       (s.quantiles IS NULL AND e.q IS NULL) OR
       ARRAY[(s.quantiles->>'p01')::float8, (s.quantiles->>'p05')::float8, (s.quantiles->>'p25')::float8,
             (s.quantiles->>'p50')::float8, (s.quantiles->>'p75')::float8, (s.quantiles->>'p95')::float8,
             (s.quantiles->>'p99')::float8] = e.q AS quantiles,
       (SELECT sum(c::bigint) FROM jsonb_array_elements_text(s.histogram->'counts') c)
         IS NOT DISTINCT FROM NULLIF(e.rows - e.nulls - e.nans - e.infinities, 0) AS histogram_counts
  FROM st_expect e JOIN fstore.statistics s USING (snapshot_id, feature)
 WHERE e.snapshot_id IN (:all_rows, :window_rows) ORDER BY 1 DESC, 2;
-- A one-value column: stddev 0, every quantile the value, one histogram bin. All NULL: no numbers.
SELECT feature, mean, stddev, min, max, quantiles, histogram, distinct_count, null_count
  FROM fstore.statistics WHERE snapshot_id = :all_rows AND feature IN ('one', 'nothing') ORDER BY 1;
-- The histogram's bins: 20 of equal width from min to max.
SELECT jsonb_array_length(histogram->'edges') AS edges, jsonb_array_length(histogram->'counts') AS bins,
       (histogram->'edges'->>0)::float8 = min AND (histogram->'edges'->>20)::float8 = max AS spans
  FROM fstore.statistics WHERE snapshot_id = :all_rows AND feature = 'amount';
-- Other types: top values with exact counts, as GROUP BY counts them (text shown as text).
SELECT s.top_values = (SELECT jsonb_agg(jsonb_build_object('value', city, 'count', c) ORDER BY c DESC, city)
                         FROM (SELECT city, count(*) AS c FROM fstore_data.st_txn WHERE city IS NOT NULL
                                GROUP BY city ORDER BY c DESC, city LIMIT 10) t) AS top_matches,
       s.distinct_count, s.null_count, s.mean IS NULL AND s.quantiles IS NULL AS no_numbers
  FROM fstore.statistics s WHERE snapshot_id = :all_rows AND feature = 'city';
SELECT top_values -> 0 ? 'value' AS shaped, distinct_count FROM fstore.statistics
 WHERE snapshot_id = :all_rows AND feature = 'flag';

-- Past the sketch's capacity (131,072 values): every quantile within the rank error it reports.
SELECT fstore.create_feature_view('st_big', 'st_card', '[{"name": "x", "type": "float8"}]');
INSERT INTO fstore_data.st_big (card_id, event_ts, x)
SELECT i, '2024-01-01', exp(random() * 10) FROM generate_series(1, 300000) i;
SELECT fstore.compute_statistics('st_big') AS big \gset
SELECT s.quantile_rank_error > 0 AS sketched, s.quantile_rank_error < 300000 * 0.001 AS small_error,
       bool_and(below <= p * 299999 + s.quantile_rank_error + 1 AND at_or_below >= p * 299999 - s.quantile_rank_error)
         AS within_bound
  FROM fstore.statistics s,
  LATERAL (SELECT key, CASE key WHEN 'p01' THEN 0.01 WHEN 'p05' THEN 0.05 WHEN 'p25' THEN 0.25 WHEN 'p50' THEN 0.5
                                WHEN 'p75' THEN 0.75 WHEN 'p95' THEN 0.95 ELSE 0.99 END AS p, value::text::float8 AS q
             FROM jsonb_each(s.quantiles)) qs,
  LATERAL (SELECT count(*) FILTER (WHERE x < qs.q) AS below, count(*) FILTER (WHERE x <= qs.q) AS at_or_below
             FROM fstore_data.st_big) r
 WHERE s.snapshot_id = :big GROUP BY s.quantile_rank_error;

-- Errors: unknown view, an empty window, NULLs.
SELECT regress_error($q$SELECT fstore.compute_statistics('nope')$q$);
SELECT regress_error($q$SELECT fstore.compute_statistics('st_txn', '2024-02-01', '2024-01-01')$q$);
SELECT regress_error($q$SELECT fstore.compute_statistics('st_txn', NULL, '2024-01-01')$q$);
SELECT regress_error($q$SELECT fstore.compute_statistics(NULL)$q$);

-- Drift of numbers: the windows' values shifted by +0.5 in the current one.
SELECT fstore.create_feature_view('st_drift', 'st_card', '[{"name": "x", "type": "float8"}, {"name": "c", "type": "text"}]');
INSERT INTO fstore_data.st_drift (card_id, event_ts, x, c)
SELECT i, '2024-01-01'::timestamptz + (i % 10) * interval '1 hour', random() + CASE WHEN i % 10 >= 5 THEN 0.5 ELSE 0 END,
       NULL FROM generate_series(1, 4000) i;
CREATE TEMP VIEW st_ref AS SELECT x FROM fstore_data.st_drift WHERE event_ts < '2024-01-01 05:00' AND x IS NOT NULL;
CREATE TEMP VIEW st_cur AS SELECT x FROM fstore_data.st_drift WHERE event_ts >= '2024-01-01 05:00' AND x IS NOT NULL;
-- Independent references: psi on the reference's deciles, the largest CDF gap, the area between the CDFs.
CREATE TEMP VIEW st_reference_metrics AS
WITH edges AS (SELECT percentile_cont(ARRAY[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]) WITHIN GROUP (ORDER BY x) AS e FROM st_ref),
     bins AS (SELECT b, greatest(count(*) FILTER (WHERE src = 'r')::float8 / (SELECT count(*) FROM st_ref), 1e-6) AS r,
                        greatest(count(*) FILTER (WHERE src = 'c')::float8 / (SELECT count(*) FROM st_cur), 1e-6) AS c
                FROM (SELECT 'r' AS src, x FROM st_ref UNION ALL SELECT 'c', x FROM st_cur) v, edges,
                     LATERAL (SELECT count(*) AS b FROM unnest(edges.e) edge WHERE v.x > edge) k
               GROUP BY b),
     points AS (SELECT DISTINCT x FROM (SELECT x FROM st_ref UNION ALL SELECT x FROM st_cur) u),
     cdfs AS (SELECT x, (SELECT count(*) FROM st_ref r WHERE r.x <= p.x)::float8 / (SELECT count(*) FROM st_ref) AS fr,
                        (SELECT count(*) FROM st_cur c WHERE c.x <= p.x)::float8 / (SELECT count(*) FROM st_cur) AS fc,
                        lead(x) OVER (ORDER BY x) - x AS width
                FROM points p)
SELECT (SELECT sum((c - r) * ln(c / r)) FROM bins) AS psi, (SELECT max(abs(fr - fc)) FROM cdfs) AS ks,
       (SELECT sum(abs(fr - fc) * width) FROM cdfs) AS wasserstein;
SELECT d.metric, abs(d.value - CASE d.metric WHEN 'psi' THEN m.psi WHEN 'ks' THEN m.ks ELSE m.wasserstein END) < 1e-9 AS matches,
       d.value > CASE d.metric WHEN 'psi' THEN 0.2 WHEN 'ks' THEN 0.2 ELSE 0.2 END AS drifted,
       d.p_value IS NULL OR d.p_value < 1e-6 AS significant
  FROM fstore.feature_drift('st_drift:x', '2024-01-01 00:00', '2024-01-01 05:00', '2024-01-01 05:00', '2024-01-02'),
       st_reference_metrics m, LATERAL (SELECT metric, value, p_value) d ORDER BY 1;
-- Same distribution (the window against itself): no drift at all.
SELECT metric, value, p_value FROM fstore.feature_drift('st_drift:x', '2024-01-01', '2024-01-01 05:00', '2024-01-01', '2024-01-01 05:00');

-- Fixed small inputs against scipy 1.10.1: ks_2samp statistic, kstwobign.sf(D * sqrt(nm/(n+m))),
-- wasserstein_distance; chi2_contingency(correction=False), jensenshannon(base=2).
INSERT INTO fstore_data.st_drift (card_id, event_ts, x)
SELECT i, '2025-01-01', v FROM unnest(ARRAY[0.1, 0.4, 0.35, 0.8, 1.2, 0.9, 0.3, 0.55, 0.7, 0.25]) WITH ORDINALITY AS t(v, i);
INSERT INTO fstore_data.st_drift (card_id, event_ts, x)
SELECT i, '2025-01-02', v FROM unnest(ARRAY[0.6, 1.1, 0.95, 1.4, 0.85, 1.3, 0.75, 1.05, 1.6, 0.5, 1.2]) WITH ORDINALITY AS t(v, i);
SELECT metric, round(value::numeric, 12) AS value, round(p_value::numeric, 12) AS p_value
  FROM fstore.feature_drift('st_drift:x', '2025-01-01', '2025-01-02', '2025-01-02', '2025-01-03') WHERE metric <> 'psi';
-- Categories: counts a 50/b 30/c 20 against a 30/b 30/c 25/d 15.
INSERT INTO fstore_data.st_drift (card_id, event_ts, c)
SELECT i, '2026-01-01', CASE WHEN i <= 50 THEN 'a' WHEN i <= 80 THEN 'b' ELSE 'c' END FROM generate_series(1, 100) i;
INSERT INTO fstore_data.st_drift (card_id, event_ts, c)
SELECT i, '2026-01-02', CASE WHEN i <= 30 THEN 'a' WHEN i <= 60 THEN 'b' WHEN i <= 85 THEN 'c' ELSE 'd' END FROM generate_series(1, 100) i;
SELECT metric, round(value::numeric, 12) AS value, round(p_value::numeric, 12) AS p_value
  FROM fstore.feature_drift('st_drift:c', '2026-01-01', '2026-01-02', '2026-01-02', '2026-01-03');

-- Errors: an empty window, a tiny one (fewer than 5 values), a reversed one, several features, unknown ones.
SELECT regress_error($q$SELECT * FROM fstore.feature_drift('st_drift:x', '2030-01-01', '2030-01-02', '2025-01-02', '2025-01-03')$q$);
INSERT INTO fstore_data.st_drift (card_id, event_ts, x) VALUES (1, '2027-01-01', 1), (2, '2027-01-01', 2), (3, '2027-01-01', 'NaN'), (4, '2027-01-01', 3);
SELECT regress_error($q$SELECT * FROM fstore.feature_drift('st_drift:x', '2025-01-01', '2025-01-02', '2027-01-01', '2027-01-02')$q$);
SELECT regress_error($q$SELECT * FROM fstore.feature_drift('st_drift:x', '2025-01-02', '2025-01-01', '2025-01-02', '2025-01-03')$q$);
SELECT regress_error($q$SELECT * FROM fstore.feature_drift('st_drift:*', '2025-01-01', '2025-01-02', '2025-01-02', '2025-01-03')$q$);
SELECT regress_error($q$SELECT * FROM fstore.feature_drift('st_drift:nope', '2025-01-01', '2025-01-02', '2025-01-02', '2025-01-03')$q$);
SELECT regress_error($q$SELECT * FROM fstore.feature_drift(NULL, '2025-01-01', '2025-01-02', '2025-01-02', '2025-01-03')$q$);

-- Monitors: checked arguments.
SELECT regress_error($q$SELECT fstore.create_monitor('bad name!', 'st_drift:x')$q$);
SELECT regress_error($q$SELECT fstore.create_monitor('m_x', 'st_drift:x', metric => 'chi_square')$q$);
SELECT regress_error($q$SELECT fstore.create_monitor('m_x', 'st_drift:c', metric => 'ks')$q$);
SELECT regress_error($q$SELECT fstore.create_monitor('m_x', 'st_drift:x', threshold => -1)$q$);
SELECT regress_error($q$SELECT fstore.create_monitor('m_x', 'st_drift:x', threshold => 'NaN')$q$);
SELECT regress_error($q$SELECT fstore.create_monitor('m_x', 'st_drift:x', every => '0 seconds')$q$);
SELECT regress_error($q$SELECT fstore.create_monitor('m_x', 'st_drift:*')$q$);
SELECT regress_error($q$SELECT fstore.create_monitor('m_x', 'nope:x')$q$);

-- A monitor over the last day against the week before, and one on a window with no data.
SELECT fstore.create_feature_view('st_live', 'st_card', '[{"name": "amount", "type": "float8"}]');
INSERT INTO fstore_data.st_live (card_id, event_ts, amount)
SELECT i, now() - (i % 192) * interval '1 hour' - interval '1 minute',
       random() * 10 + CASE WHEN i % 192 < 24 THEN 5 ELSE 0 END FROM generate_series(1, 5000) i;
SELECT fstore.create_monitor('live_psi', 'st_live:amount', description => '<script>alert(1)</script>');
SELECT fstore.create_monitor('live_ks', 'st_live:amount', 'ks', 0.9, every => '10 minutes');
SELECT regress_error($q$SELECT fstore.create_monitor('live_psi', 'st_live:amount')$q$);
SELECT fstore.create_monitor('empty_psi', 'st_drift:x', detection => '1 hour', reference => '1 hour');
SELECT name, feature, metric, threshold, detection, reference, every, description, owner = current_user AS mine,
       last_run_at IS NULL AS never_run, alert FROM fstore.monitors ORDER BY name;
SELECT object_type, object_name, action FROM fstore.registry_history WHERE object_type = 'monitor' ORDER BY at, object_name;

-- Running them: each due monitor once, then nothing is due.
SELECT fstore._run_due_monitor() IS NOT NULL AS ran_1, fstore._run_due_monitor() IS NOT NULL AS ran_2,
       fstore._run_due_monitor() IS NOT NULL AS ran_3, fstore._run_due_monitor() AS then_nothing;
SELECT monitor, value > threshold AS over, alert, p_value IS NOT NULL AS has_p,
       error LIKE 'the reference window % holds 0 finite values; drift needs at least 5 (SQLSTATE 22023)' AS empty_window
  FROM fstore.monitor_results ORDER BY monitor;
SELECT name, alert, last_value IS NOT NULL AS has_value, next_due > now() AS next_in_future FROM fstore.monitors ORDER BY name;
-- Behind by several runs: one run for the latest due time that passed, none made up.
UPDATE fstore.monitor_results SET at = at - interval '45 minutes' WHERE monitor = 'live_ks';
UPDATE fstore.monitor_registry SET next_due = next_due - interval '45 minutes' WHERE name = 'live_ks';
SELECT fstore._run_due_monitor() AS ran, fstore._run_due_monitor() AS then_nothing;
SELECT count(*) AS runs, max(at) > now() - interval '10 minutes' AS latest_due,
       (SELECT next_due FROM fstore.monitor_registry WHERE name = 'live_ks') - max(at) AS next_after
  FROM fstore.monitor_results WHERE monitor = 'live_ks';

-- Rights: readers read statistics and monitors and compute drift; only writers store statistics,
-- only admins manage monitors, only the server runs them.
CREATE ROLE st_reader LOGIN IN ROLE fstore_reader;
CREATE ROLE st_admin LOGIN IN ROLE fstore_admin;
SET ROLE st_reader;
SELECT count(*) > 0 AS sees_statistics FROM fstore.statistics;
SELECT count(*) AS monitors FROM fstore.monitors;
SELECT count(*) AS metrics FROM fstore.feature_drift('st_drift:x', '2025-01-01', '2025-01-02', '2025-01-02', '2025-01-03');
SELECT regress_error($q$SELECT fstore.compute_statistics('st_txn')$q$);
SELECT regress_error($q$SELECT fstore.create_monitor('r_m', 'st_drift:x')$q$);
SELECT regress_error($q$SELECT fstore._run_due_monitor()$q$);
SELECT regress_error($q$INSERT INTO fstore.monitor_results VALUES ('live_psi', now(), 1, NULL, 0.2, true)$q$);
RESET ROLE;
SET ROLE st_admin;
SELECT regress_error($q$SELECT fstore.drop_monitor('nope')$q$);
SELECT fstore.drop_monitor('empty_psi');
RESET ROLE;
-- Dropping a view drops its monitors and statistics.
SELECT fstore.drop_feature_view('st_big', true);
SELECT count(*) AS big_statistics FROM fstore.statistics WHERE view = 'st_big';
SELECT fstore.drop_feature_view('st_live', true);
SELECT name FROM fstore.monitors ORDER BY name;
DROP ROLE st_reader;
DROP ROLE st_admin;
