-- Partitioned history (0.2.0): managed views created with partition_by are tables partitioned by
-- range on event_ts, one partition per UTC day, week (from Monday) or month, plus a DEFAULT
-- partition that catches every row no other partition takes (late rows, far-future rows,
-- +-infinity). fstore.maintain_partitions keeps the current period and the next two, splits out of
-- the default partition the periods it holds rows of, and drops partitions wholly older than the
-- view's retention, queueing their keys for the online store. See docs/operations.md.

-- Refuses (22023, 0A000) a partitioning a managed view cannot have.
CREATE OR REPLACE FUNCTION fstore._check_partitioning(view text, partition_by text, retention interval,
                                                      features jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF partition_by IS NOT NULL AND partition_by NOT IN ('day', 'week', 'month') THEN
    RAISE EXCEPTION 'feature view "%": partition_by must be day, week or month, not "%"', view, partition_by
      USING ERRCODE = '22023';
  END IF;
  IF retention IS NOT NULL AND partition_by IS NULL THEN
    RAISE EXCEPTION 'feature view "%": retention needs partition_by', view USING ERRCODE = '22023';
  END IF;
  IF retention IS NOT NULL AND retention <= interval '0' THEN
    RAISE EXCEPTION 'feature view "%": retention must be positive', view USING ERRCODE = '22023';
  END IF;
  -- A UNIQUE constraint of a partitioned table must contain event_ts: PostgreSQL cannot enforce it.
  IF partition_by IS NOT NULL AND jsonb_typeof(features) = 'array'
     AND EXISTS (SELECT FROM jsonb_array_elements(features) f
                  WHERE jsonb_typeof(f) = 'object' AND (f -> 'validation' -> 'unique') = 'true') THEN
    RAISE EXCEPTION 'feature view "%": a partitioned view cannot validate unique', view
      USING ERRCODE = '0A000', HINT = 'PostgreSQL enforces uniqueness per partition only.';
  END IF;
END
$$;

-- The UTC period of `unit` that holds `ts`: [lower, upper).
CREATE OR REPLACE FUNCTION fstore._period(unit text, ts timestamptz, OUT lower timestamptz, OUT upper timestamptz)
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT pg_catalog.date_trunc(unit, ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
         (pg_catalog.date_trunc(unit, ts AT TIME ZONE 'UTC') + ('1 ' || unit)::interval) AT TIME ZONE 'UTC'
$$;

-- The range partitions of `tbl` with their bounds (the default partition has none: not listed).
CREATE OR REPLACE FUNCTION fstore._range_partitions(tbl regclass)
RETURNS TABLE (part regclass, lower timestamptz, upper timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT c.oid::regclass,
         substring(b.expr FROM $re$FROM \('([^']*)'\) TO$re$)::timestamptz,
         substring(b.expr FROM $re$TO \('([^']*)'\)$$re$)::timestamptz
    FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid,
         LATERAL (SELECT pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS expr) b
   WHERE i.inhparent = tbl AND b.expr LIKE 'FOR VALUES FROM (''%'
$fn$;

-- The default partition of `tbl`, or NULL.
CREATE OR REPLACE FUNCTION fstore._default_partition(tbl regclass) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT c.oid::regclass FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = tbl AND pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'
$$;

-- Creates the partitions of view `v` for the periods starting at `lowers` that it lacks. When the
-- default partition holds rows of one of them, the default partition is detached, the partitions
-- created, those rows moved (stored columns only: generated ones are computed again) and the
-- default attached again, all in the caller's transaction. Returns the partitions created.
CREATE OR REPLACE FUNCTION fstore._create_partitions(v fstore.view_registry, lowers timestamptz[])
RETURNS SETOF regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
AS $$
DECLARE
  dflt regclass := fstore._default_partition(v.table_oid);
  wanted timestamptz[];
  lo timestamptz;
  p record;
  moving boolean;
  cols text;
  pname text;
  part regclass;
BEGIN
  SELECT array_agg(DISTINCT l ORDER BY l) INTO wanted FROM unnest(lowers) l
   WHERE NOT EXISTS (SELECT FROM fstore._range_partitions(v.table_oid) r WHERE r.lower = l);
  IF wanted IS NULL THEN
    RETURN;
  END IF;
  moving := false;
  IF dflt IS NOT NULL THEN
    FOREACH lo IN ARRAY wanted LOOP
      p := fstore._period(v.partition_by, lo);
      EXECUTE format('SELECT EXISTS (SELECT FROM %s WHERE event_ts >= $1 AND event_ts < $2)', dflt)
        INTO moving USING p.lower, p.upper;
      EXIT WHEN moving;
    END LOOP;
  END IF;
  IF moving THEN
    EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', v.table_oid, dflt);
  END IF;
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = v.table_oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
  FOREACH lo IN ARRAY wanted LOOP
    p := fstore._period(v.partition_by, lo);
    -- <view>_pYYYYMMDD; when another table has that name (a view called so), one with a hash.
    pname := left(v.name, 50) || '_p' || to_char(p.lower AT TIME ZONE 'UTC', 'YYYYMMDD');
    IF EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.relname = pname
                  AND c.relnamespace = 'fstore_data'::regnamespace) THEN
      pname := left(v.name, 40) || '_' || left(md5(v.name), 8) || '_p' || to_char(p.lower AT TIME ZONE 'UTC', 'YYYYMMDD');
    END IF;
    EXECUTE format('CREATE TABLE fstore_data.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                   pname, v.table_oid, p.lower, p.upper);
    part := format('fstore_data.%I', pname)::regclass;
    IF moving THEN
      -- Straight into the leaf: the rows' winners do not change, so nothing is queued.
      EXECUTE format('WITH moved AS (DELETE FROM %1$s WHERE event_ts >= $1 AND event_ts < $2 RETURNING *) '
                     'INSERT INTO %2$s (%3$s) SELECT %3$s FROM moved', dflt, part, cols)
        USING p.lower, p.upper;
    END IF;
    RETURN NEXT part;
  END LOOP;
  IF moving THEN
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s DEFAULT', v.table_oid, dflt);
  END IF;
END
$$;

-- One view's maintenance (see the head of this file). Rows of the default partition older than
-- the retention cut (the start of the oldest period kept) are deleted through the table, so its
-- capture trigger queues their keys; a dropped partition's keys are queued here, since DROP fires
-- no trigger. The worker re-reads each queued key: a newer row wins, or the key leaves Redis.
CREATE OR REPLACE FUNCTION fstore._maintain_view(view text)
RETURNS TABLE (partition_name text, action text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
AS $$
DECLARE
  v fstore.view_registry;
  now_lo timestamptz;
  horizon timestamptz;
  cut timestamptz := '-infinity';
  dflt regclass;
  lowers timestamptz[];
  held timestamptz[];
  p record;
  keys text[];
BEGIN
  SELECT * INTO v FROM fstore.view_registry r WHERE r.name = _maintain_view.view AND r.managed AND r.partition_by IS NOT NULL;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('fstore.maintain_partitions'), pg_catalog.hashtext(v.name));
  -- Periods chained by their bounds: months differ in length.
  now_lo := (fstore._period(v.partition_by, pg_catalog.now())).lower;
  lowers := ARRAY[now_lo];
  FOR i IN 1..3 LOOP
    lowers := lowers || (fstore._period(v.partition_by, lowers[i])).upper;
  END LOOP;
  horizon := lowers[4];
  lowers := lowers[1:3];
  IF v.retention IS NOT NULL THEN
    -- Partitions ending at or before the start of the period that holds now() - retention.
    cut := (fstore._period(v.partition_by, pg_catalog.now() - v.retention)).lower;
  END IF;
  -- Retention first: no partition is created only to be dropped.
  FOR p IN SELECT r.part, r.upper FROM fstore._range_partitions(v.table_oid) r WHERE r.upper <= cut ORDER BY r.lower LOOP
    IF v.online THEN
      EXECUTE format('SELECT array_agg(DISTINCT %I::text) FROM %s', v.key_column, p.part) INTO keys;
      IF keys IS NOT NULL THEN
        INSERT INTO fstore.change_queue (view_name, keys) VALUES (v.name, keys);
        PERFORM pg_catalog.pg_notify('fstore_changes', '');
      END IF;
    END IF;
    partition_name := p.part::text;
    action := 'dropped';
    EXECUTE format('DROP TABLE %s', p.part);
    RETURN NEXT;
  END LOOP;
  IF cut > '-infinity' THEN
    EXECUTE format('DELETE FROM %s WHERE event_ts < $1', v.table_oid) USING cut;
  END IF;
  -- The current period, the next two, and every period within [cut, horizon) the default holds rows of.
  dflt := fstore._default_partition(v.table_oid);
  IF dflt IS NOT NULL THEN
    EXECUTE format('SELECT array_agg(DISTINCT (fstore._period($1, event_ts)).lower) FROM %s '
                   'WHERE event_ts >= $2 AND event_ts < $3 AND event_ts > ''-infinity''', dflt)
      INTO held USING v.partition_by, cut, horizon;
    lowers := lowers || COALESCE(held, '{}');
  END IF;
  FOR partition_name IN SELECT c::text FROM fstore._create_partitions(v, lowers) c LOOP
    action := 'created';
    RETURN NEXT;
  END LOOP;
END
$$;

-- Maintains the partitions of one partitioned view, or of every one (view NULL): what
-- fstore-server's leader runs every minute. Returns what it created and dropped.
CREATE OR REPLACE FUNCTION fstore.maintain_partitions(view text DEFAULT NULL)
RETURNS TABLE (view_name text, partition_name text, action text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
AS $$
DECLARE
  name text;
BEGIN
  IF view IS NOT NULL AND NOT EXISTS (SELECT FROM fstore.view_registry r WHERE r.name = maintain_partitions.view) THEN
    RAISE EXCEPTION 'feature view "%" does not exist', view USING ERRCODE = '42704';
  END IF;
  FOR name IN SELECT r.name FROM fstore.view_registry r
               WHERE r.managed AND r.partition_by IS NOT NULL
                 AND (maintain_partitions.view IS NULL OR r.name = maintain_partitions.view)
               ORDER BY r.name LOOP
    view_name := name;
    FOR partition_name, action IN SELECT m.partition_name, m.action FROM fstore._maintain_view(name) m LOOP
      RETURN NEXT;
    END LOOP;
  END LOOP;
END
$$;
