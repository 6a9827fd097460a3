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

  -- One INSERT ... SELECT over the whole array; created_ts defaults to now() when absent.
  SELECT format('INSERT INTO %s (%s) SELECT %s FROM pg_catalog.jsonb_populate_recordset(NULL::%s, $1) AS r',
                v.table_oid,
                string_agg(format('%I', c), ', '),
                string_agg(CASE WHEN c = v.created_column THEN format('COALESCE(r.%I, pg_catalog.now())', c)
                                ELSE format('r.%I', c) END, ', '),
                v.table_oid)
    INTO insert_sql FROM unnest(writable) c;

  IF ingest.on_error = 'raise' THEN
    EXECUTE insert_sql USING ingest.rows;
    GET DIAGNOSTICS loaded = ROW_COUNT;
    RETURN loaded;
  END IF;

  -- 'reject': try the whole batch once; if any row fails, load row by row and keep the failures.
  BEGIN
    EXECUTE insert_sql USING ingest.rows;
    GET DIAGNOSTICS loaded = ROW_COUNT;
    RETURN loaded;
  EXCEPTION WHEN OTHERS THEN
    NULL;
  END;
  FOR one IN SELECT jsonb_array_elements(ingest.rows) LOOP
    BEGIN
      EXECUTE insert_sql USING jsonb_build_array(one);
      loaded := loaded + 1;
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO fstore.rejected_rows (view, row, reason, sqlstate) VALUES (v.name, one, SQLERRM, SQLSTATE);
    END;
  END LOOP;
  RETURN loaded;
END
$$;
