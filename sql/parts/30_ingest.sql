-- Ingestion through SQL: fstore.ingest. Plain INSERT and COPY into a view's table are validated
-- by the same constraints, so every path in checks the same rules.

-- Columns of view `v` that ingestion writes (derived features are computed, never written).
CREATE OR REPLACE FUNCTION fstore._writable_columns(v fstore.view_registry) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT array_agg(a.attname::text ORDER BY a.attnum)
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = v.table_oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
$$;

-- The one INSERT ... SELECT that stores a JSON array ($1) of rows in view `v`: every ingestion
-- path (fstore.ingest, stream sources) goes through it. created_ts defaults to now() when absent.
CREATE OR REPLACE FUNCTION fstore._ingest_sql(v fstore.view_registry, writable text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT format('INSERT INTO %s (%s) SELECT %s FROM pg_catalog.jsonb_populate_recordset(NULL::%s, $1) AS r',
                v.table_oid,
                string_agg(format('%I', c), ', '),
                string_agg(CASE WHEN c = v.created_column THEN format('COALESCE(r.%I, pg_catalog.now())', c)
                                ELSE format('r.%I', c) END, ', '),
                v.table_oid)
    FROM unnest(writable) c
$$;

CREATE OR REPLACE FUNCTION fstore.ingest(view text, rows jsonb, on_error text DEFAULT 'raise') RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v fstore.view_registry;
  writable text[];
  unknown text;
  insert_sql text;
  loaded bigint := 0;
  one jsonb;
BEGIN
  IF ingest.on_error IS NULL OR ingest.on_error NOT IN ('raise', 'reject') THEN
    RAISE EXCEPTION 'on_error must be ''raise'' or ''reject'', not %', COALESCE(quote_literal(ingest.on_error), 'NULL')
      USING ERRCODE = '22023';
  END IF;
  v := fstore._view(ingest.view);
  IF jsonb_typeof(ingest.rows) = 'object' THEN
    ingest.rows := jsonb_build_array(ingest.rows);
  ELSIF jsonb_typeof(ingest.rows) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'feature view "%": rows must be a JSON object or an array of objects', v.name
      USING ERRCODE = '22023';
  END IF;
  IF EXISTS (SELECT FROM jsonb_array_elements(ingest.rows) r WHERE jsonb_typeof(r) <> 'object') THEN
    RAISE EXCEPTION 'feature view "%": every row must be a JSON object', v.name USING ERRCODE = '22023';
  END IF;

  -- A field that is not a writable column is a mistake worth reporting, not something to drop.
  writable := fstore._writable_columns(v);
  SELECT string_agg(DISTINCT format('"%s"', k), ', ') INTO unknown
    FROM jsonb_array_elements(ingest.rows) r, jsonb_object_keys(r) k
   WHERE k <> ALL (writable);
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'feature view "%": unknown or derived fields %', v.name, unknown
      USING ERRCODE = '22023', HINT = format('Writable fields: %s.', array_to_string(writable, ', '));
  END IF;

  insert_sql := fstore._ingest_sql(v, writable);

  IF ingest.on_error = 'raise' THEN
    EXECUTE insert_sql USING ingest.rows;
    GET DIAGNOSTICS loaded = ROW_COUNT;
    RETURN loaded;
  END IF;

  -- 'reject': try the whole batch once; if a row's data is bad, load row by row and keep the bad
  -- rows. Only data errors (classes 22 and 23, and 54000 for a value too large to index) reject
  -- a row: a deadlock, a cancel or a missing privilege fails the call as in 'raise' mode.
  BEGIN
    EXECUTE insert_sql USING ingest.rows;
    GET DIAGNOSTICS loaded = ROW_COUNT;
    RETURN loaded;
  EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
    NULL;
  END;
  FOR one IN SELECT jsonb_array_elements(ingest.rows) LOOP
    BEGIN
      EXECUTE insert_sql USING jsonb_build_array(one);
      loaded := loaded + 1;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
      PERFORM fstore._reject(v.name, one, SQLERRM, SQLSTATE);
    END;
  END LOOP;
  RETURN loaded;
END
$$;

-- Records a row that ingestion into `view` rejected. SECURITY DEFINER: writers cannot insert into
-- fstore.rejected_rows directly; they may record rejections only for views whose table they may
-- write, only with a data-error SQLSTATE, and always under their own name (actor).
CREATE OR REPLACE FUNCTION fstore._reject(view text, bad_row jsonb, reason text, sqlstate text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v fstore.view_registry := fstore._view(_reject.view);
BEGIN
  IF NOT pg_catalog.has_table_privilege(fstore._caller(), v.table_oid, 'INSERT') THEN
    RAISE EXCEPTION 'permission denied for table %', v.table_oid USING ERRCODE = '42501';
  END IF;
  IF _reject.sqlstate IS NULL OR NOT (left(_reject.sqlstate, 2) IN ('22', '23') OR _reject.sqlstate = '54000') THEN
    RAISE EXCEPTION 'a rejected row needs a data-error SQLSTATE, not %', COALESCE(_reject.sqlstate, 'NULL')
      USING ERRCODE = '22023';
  END IF;
  INSERT INTO fstore.rejected_rows (view, row, reason, sqlstate, actor)
  VALUES (v.name, _reject.bad_row, left(COALESCE(_reject.reason, ''), 10000), _reject.sqlstate, fstore._caller());
END
$$;

-- True when `role` may read view `view_name`'s data (any of its table's columns): who may see its
-- rejected rows. SECURITY DEFINER so that the row-level policy can read the registry.
CREATE OR REPLACE FUNCTION fstore._may_read_view(view_name text, role name) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
  SELECT COALESCE((SELECT pg_catalog.has_any_column_privilege(role, r.table_oid, 'SELECT')
                     FROM fstore.view_registry r WHERE r.name = view_name), false)
$$;

DROP POLICY IF EXISTS rejected_rows_of_readable_views ON fstore.rejected_rows;
CREATE POLICY rejected_rows_of_readable_views ON fstore.rejected_rows FOR SELECT
  USING (fstore._may_read_view(view, current_user));
