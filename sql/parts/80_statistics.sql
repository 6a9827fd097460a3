-- Statistics, drift and monitors (0.2.0): compute_statistics and feature_drift read a view in one
-- C++ pass (extension/statistics.cpp, the same scan and checks as training sets); monitors
-- compare windows on a schedule that the syncing fstore-server keeps (server/monitor/).
-- docs/monitoring.md defines every statistic and metric.

-- One pass over the view's rows with start_ts <= event_ts < end_ts: one row per feature.
-- SECURITY INVOKER: it reads the view with the caller's rights, as a training set does.
CREATE OR REPLACE FUNCTION fstore._statistics_pass(view text, start_ts timestamptz, end_ts timestamptz)
RETURNS TABLE (feature text, row_count bigint, null_count bigint, distinct_count bigint, mean float8,
               stddev float8, min float8, max float8, quantiles jsonb, histogram jsonb, top_values jsonb,
               nan_count bigint, infinite_count bigint, quantile_rank_error bigint)
  AS 'MODULE_PATHNAME', 'fstore_statistics_pass' LANGUAGE C STABLE;

-- Stores the result of one statistics pass as a new snapshot; returns its id. SECURITY DEFINER:
-- nobody writes the snapshot table directly.
CREATE OR REPLACE FUNCTION fstore._store_statistics(view text, start_ts timestamptz, end_ts timestamptz,
                                                   features jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  id bigint := nextval('fstore.statistics_snapshot_seq');
BEGIN
  INSERT INTO fstore.statistics_registry (snapshot_id, view_name, feature, start_ts, end_ts, computed_by, row_count,
                                          null_count, distinct_count, mean, stddev, min, max, quantiles, histogram,
                                          top_values, nan_count, infinite_count, quantile_rank_error)
  SELECT id, (fstore._view(_store_statistics.view)).name, f.feature, _store_statistics.start_ts, _store_statistics.end_ts,
         fstore._caller(), f.row_count, f.null_count, f.distinct_count, f.mean, f.stddev, f.min, f.max, f.quantiles,
         f.histogram, f.top_values, f.nan_count, f.infinite_count, f.quantile_rank_error
    FROM jsonb_populate_recordset(NULL::fstore.statistics_registry, _store_statistics.features) f;
  RETURN id;
END
$$;

-- Statistics of every feature of `view` over [start_ts, end_ts), stored as one snapshot
-- (fstore.statistics); returns the snapshot id.
CREATE OR REPLACE FUNCTION fstore.compute_statistics(view text, start_ts timestamptz DEFAULT '-infinity',
                                                    end_ts timestamptz DEFAULT 'infinity') RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  result jsonb;
BEGIN
  SELECT jsonb_agg(to_jsonb(s)) INTO result
    FROM fstore._statistics_pass(compute_statistics.view, compute_statistics.start_ts, compute_statistics.end_ts) s;
  RETURN fstore._store_statistics(compute_statistics.view, compute_statistics.start_ts, compute_statistics.end_ts,
                                  result);
END
$$;

-- Readers see the statistics of the views they may read (statistics show values).
CREATE OR REPLACE VIEW fstore.statistics WITH (security_barrier) AS
  SELECT snapshot_id, view_name AS view, feature, start_ts, end_ts, computed_at, row_count, null_count,
         distinct_count, mean, stddev, min, max, quantiles, histogram, top_values, nan_count, infinite_count,
         quantile_rank_error, computed_by
    FROM fstore.statistics_registry
   WHERE fstore._may_read_view(view_name, current_user);

-- The drift metrics of one feature between a reference and a current window.
CREATE OR REPLACE FUNCTION fstore.feature_drift(feature text, reference_start timestamptz, reference_end timestamptz,
                                               current_start timestamptz, current_end timestamptz)
RETURNS TABLE (metric text, value float8, p_value float8)
  AS 'MODULE_PATHNAME', 'fstore_feature_drift' LANGUAGE C STABLE;

-- The metrics feature_drift computes for a feature of type `type`.
CREATE OR REPLACE FUNCTION fstore._drift_metrics(type regtype) RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN type IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'real'::regtype,
                            'double precision'::regtype, 'numeric'::regtype)
              THEN ARRAY['psi', 'ks', 'wasserstein'] ELSE ARRAY['psi', 'chi_square', 'jensen_shannon'] END
$$;

CREATE OR REPLACE FUNCTION fstore.create_monitor(name text, feature text, metric text DEFAULT 'psi',
                                                threshold float8 DEFAULT 0.2, detection interval DEFAULT '1 day',
                                                reference interval DEFAULT '7 days', every interval DEFAULT '1 hour',
                                                description text DEFAULT '', owner text DEFAULT current_user)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  f record;
  allowed text[];
BEGIN
  PERFORM fstore._check_name('monitor', create_monitor.name);
  IF create_monitor.feature IS NULL OR create_monitor.metric IS NULL OR create_monitor.threshold IS NULL
     OR create_monitor.detection IS NULL OR create_monitor.reference IS NULL OR create_monitor.every IS NULL THEN
    RAISE EXCEPTION 'monitor "%": feature, metric, threshold, detection, reference and every must not be NULL',
      create_monitor.name USING ERRCODE = '22023';
  END IF;
  IF NOT (create_monitor.threshold >= 0 AND create_monitor.threshold < 'infinity') THEN
    RAISE EXCEPTION 'monitor "%": threshold must be a finite number >= 0, not %', create_monitor.name,
      create_monitor.threshold USING ERRCODE = '22023';
  END IF;
  IF create_monitor.detection <= interval '0' OR create_monitor.reference <= interval '0'
     OR create_monitor.every < interval '1 second' THEN
    RAISE EXCEPTION 'monitor "%": detection and reference must be positive and every at least 1 second',
      create_monitor.name USING ERRCODE = '22023';
  END IF;
  IF length(COALESCE(create_monitor.description, '')) > 10000 THEN
    RAISE EXCEPTION 'monitor "%": description is longer than 10000 characters', create_monitor.name
      USING ERRCODE = '22023';
  END IF;
  IF create_monitor.feature LIKE '%:*' THEN
    RAISE EXCEPTION 'monitor "%": watches one feature (view:feature), not "%"', create_monitor.name,
      create_monitor.feature USING ERRCODE = '22023';
  END IF;
  SELECT r.view_name, r.feature_name INTO f FROM fstore._resolve_feature_refs(ARRAY[create_monitor.feature]) r;
  SELECT fstore._drift_metrics(fr.type) INTO allowed FROM fstore.feature_registry fr
   WHERE fr.view_name = f.view_name AND fr.name = f.feature_name;
  IF NOT create_monitor.metric = ANY (allowed) THEN
    RAISE EXCEPTION 'monitor "%": metric "%" does not apply to feature %', create_monitor.name, create_monitor.metric,
      create_monitor.feature USING ERRCODE = '22023', HINT = format('Its metrics: %s.', array_to_string(allowed, ', '));
  END IF;
  PERFORM fstore._lock_registry();
  IF EXISTS (SELECT FROM fstore.monitor_registry m WHERE m.name = create_monitor.name) THEN
    RAISE EXCEPTION 'monitor "%" already exists', create_monitor.name USING ERRCODE = '42710';
  END IF;
  INSERT INTO fstore.monitor_registry (name, view_name, feature, metric, threshold, detection, reference, every,
                                       description, owner, next_due)
  VALUES (create_monitor.name, f.view_name, f.feature_name, create_monitor.metric, create_monitor.threshold,
          create_monitor.detection, create_monitor.reference, create_monitor.every,
          COALESCE(create_monitor.description, ''), COALESCE(create_monitor.owner, fstore._caller()), now());
  PERFORM fstore._log('monitor', create_monitor.name, 'create', NULL, NULL,
                      jsonb_build_object('feature', f.view_name || ':' || f.feature_name, 'metric', create_monitor.metric,
                                         'threshold', create_monitor.threshold));
END
$$;

CREATE OR REPLACE FUNCTION fstore.drop_monitor(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM fstore._lock_registry();
  DELETE FROM fstore.monitor_registry m WHERE m.name = drop_monitor.name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'monitor "%" does not exist', drop_monitor.name USING ERRCODE = '42704';
  END IF;
  PERFORM fstore._log('monitor', drop_monitor.name, 'drop', NULL, NULL);
END
$$;

CREATE OR REPLACE VIEW fstore.monitors AS
  SELECT m.name, m.view_name || ':' || m.feature AS feature, m.metric, m.threshold, m.detection, m.reference,
         m.every, m.description, m.owner, m.created_at, m.next_due, last.at AS last_run_at, last.value AS last_value,
         COALESCE(last.alert, false) AS alert, last.error AS last_error
    FROM fstore.monitor_registry m
    LEFT JOIN LATERAL (SELECT r.at, r.value, r.alert, r.error FROM fstore.monitor_results r
                        WHERE r.monitor = m.name ORDER BY r.at DESC LIMIT 1) last ON true;

-- Runs at most one due monitor in the caller's transaction and returns its name (NULL when none
-- is due). The run is for the latest due time that has passed (missed ones are not made up);
-- its windows end at that time. A monitor locked by another server is skipped, and the result's
-- key (monitor, at) keeps a due time from running twice, so any number of servers may call this.
-- An alert also sends NOTIFY fstore_alert with the monitor's name, at commit. SECURITY DEFINER:
-- the drift is read with fstore_owner's rights (it can read every registered view).
CREATE OR REPLACE FUNCTION fstore._run_due_monitor() RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  m fstore.monitor_registry;
  due timestamptz;
  every_s float8;
  result_value float8;
  result_p float8;
  failure text;
  fired boolean := false;
BEGIN
  SELECT * INTO m FROM fstore.monitor_registry r WHERE r.next_due <= now()
   ORDER BY r.next_due LIMIT 1 FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  due := m.next_due;
  every_s := extract(epoch FROM m.every);
  -- Behind by many runs of a pure-time interval: jump close; then step exactly (months and days
  -- are calendar steps, not seconds).
  IF now() - due >= m.every AND extract(year FROM m.every) = 0 AND extract(month FROM m.every) = 0
     AND extract(day FROM m.every) = 0 THEN
    due := due + floor(extract(epoch FROM now() - due) / every_s) * interval '1 second' * every_s;
  END IF;
  WHILE due + m.every <= now() LOOP due := due + m.every; END LOOP;
  WHILE due > now() LOOP due := due - m.every; END LOOP;
  BEGIN
    SELECT d.value, d.p_value INTO result_value, result_p
      FROM fstore.feature_drift(m.view_name || ':' || m.feature, due - m.detection - m.reference, due - m.detection,
                                due - m.detection, due) d
     WHERE d.metric = m.metric;
    fired := result_value > m.threshold;
  EXCEPTION WHEN OTHERS THEN  -- not a cancel: plpgsql does not catch query_canceled
    failure := SQLERRM || ' (SQLSTATE ' || SQLSTATE || ')';
  END;
  INSERT INTO fstore.monitor_results (monitor, at, value, p_value, threshold, alert, error)
  VALUES (m.name, due, result_value, result_p, m.threshold, fired, failure)
  ON CONFLICT (monitor, at) DO NOTHING;
  UPDATE fstore.monitor_registry r SET next_due = due + m.every WHERE r.name = m.name;
  IF fired THEN
    PERFORM pg_notify('fstore_alert', m.name);
  END IF;
  RETURN m.name;
END
$$;
