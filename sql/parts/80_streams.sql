-- Stream sources (0.2.0): Kafka topics whose messages fstore-server ingests into feature views,
-- exactly once. The registry functions (create_stream_source, drop_stream_source) are for admins;
-- _stream_store and _stream_report are what fstore-server (fstore_sync) calls. State tables in
-- 07_stream_state.sql; the server in server/stream/; docs/streams.md.

-- librdkafka settings a source may not set under "kafka": fstore sets them itself (exactly once
-- rests on them; the consumer assigns eagerly, with offsets read from PostgreSQL), or they would
-- run code or commands inside fstore-server.
CREATE OR REPLACE FUNCTION fstore._stream_forbidden_settings() RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT ARRAY['bootstrap.servers', 'metadata.broker.list', 'group.id', 'enable.auto.commit',
                   'enable.auto.offset.store', 'auto.commit.enable', 'auto.offset.reset', 'isolation.level',
                   'enable.partition.eof', 'plugin.library.paths', 'ssl.engine.location',
                   'sasl.kerberos.kinit.cmd', 'interceptors', 'partition.assignment.strategy', 'group.protocol'] $$;

-- A source's options checked and normalized (every default written out): brokers and topic are
-- required; group, format, start, batch_size, batch_ms, max_message_bytes and kafka optional.
-- Raises 22023 naming the source and the option.
CREATE OR REPLACE FUNCTION fstore._normalize_stream_options(source text, options jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  o jsonb := _normalize_stream_options.options;
  unknown text;
  k text;
  val jsonb;
  n jsonb;
BEGIN
  IF jsonb_typeof(o) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'stream source "%": options must be a JSON object', source USING ERRCODE = '22023';
  END IF;
  SELECT string_agg(format('"%s"', key), ', ' ORDER BY key) INTO unknown FROM jsonb_object_keys(o) key
   WHERE key <> ALL (ARRAY['brokers', 'topic', 'group', 'format', 'start', 'batch_size', 'batch_ms',
                           'max_message_bytes', 'kafka']);
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'stream source "%": unknown options %', source, unknown USING ERRCODE = '22023',
      HINT = 'Options: brokers, topic, group, format, start, batch_size, batch_ms, max_message_bytes, kafka.';
  END IF;
  IF jsonb_typeof(o -> 'brokers') IS DISTINCT FROM 'string' OR o ->> 'brokers' !~ '^[^\s,]+(,[^\s,]+)*$'
     OR length(o ->> 'brokers') > 2000 THEN
    RAISE EXCEPTION 'stream source "%": options.brokers must be a list "host:port[,host:port...]"', source
      USING ERRCODE = '22023';
  END IF;
  IF jsonb_typeof(o -> 'topic') IS DISTINCT FROM 'string' OR o ->> 'topic' !~ '^[A-Za-z0-9._-]{1,249}$' THEN
    RAISE EXCEPTION 'stream source "%": options.topic must be a Kafka topic name (1 to 249 of A-Z a-z 0-9 . _ -)', source
      USING ERRCODE = '22023';
  END IF;
  IF o ? 'group' AND (jsonb_typeof(o -> 'group') <> 'string' OR o ->> 'group' !~ '^[A-Za-z0-9._-]{1,249}$') THEN
    RAISE EXCEPTION 'stream source "%": options.group must be a consumer group name (1 to 249 of A-Z a-z 0-9 . _ -)', source
      USING ERRCODE = '22023';
  END IF;
  IF o ? 'format' AND o -> 'format' <> '"json"' THEN
    RAISE EXCEPTION 'stream source "%": options.format must be "json"', source USING ERRCODE = '22023';
  END IF;
  IF o ? 'start' AND o -> 'start' NOT IN ('"earliest"', '"latest"') THEN
    RAISE EXCEPTION 'stream source "%": options.start must be "earliest" or "latest"', source USING ERRCODE = '22023';
  END IF;
  FOREACH k IN ARRAY ARRAY['batch_size:1:100000', 'batch_ms:1:60000', 'max_message_bytes:1:67108864'] LOOP
    val := o -> split_part(k, ':', 1);
    IF val IS NOT NULL AND (jsonb_typeof(val) <> 'number' OR val::text !~ '^\d+$'
                            OR val::text::numeric NOT BETWEEN split_part(k, ':', 2)::numeric AND split_part(k, ':', 3)::numeric) THEN
      RAISE EXCEPTION 'stream source "%": options.% must be an integer from % to %', source,
        split_part(k, ':', 1), split_part(k, ':', 2), split_part(k, ':', 3) USING ERRCODE = '22023';
    END IF;
  END LOOP;
  IF o ? 'kafka' THEN
    IF jsonb_typeof(o -> 'kafka') <> 'object' THEN
      RAISE EXCEPTION 'stream source "%": options.kafka must be an object of librdkafka settings', source
        USING ERRCODE = '22023';
    END IF;
    FOR k, val IN SELECT key, value FROM jsonb_each(o -> 'kafka') LOOP
      IF k = ANY (fstore._stream_forbidden_settings()) THEN
        RAISE EXCEPTION 'stream source "%": librdkafka setting "%" cannot be set', source, k USING ERRCODE = '22023',
          HINT = 'fstore sets the consumer group, brokers and offset handling itself (offsets live in PostgreSQL); settings that load code or run commands are refused.';
      END IF;
      IF jsonb_typeof(val) NOT IN ('string', 'number', 'boolean') OR length(val #>> '{}') > 10000 THEN
        RAISE EXCEPTION 'stream source "%": librdkafka setting "%" must be a string, number or boolean', source, k
          USING ERRCODE = '22023';
      END IF;
    END LOOP;
  END IF;
  n := jsonb_build_object('brokers', o -> 'brokers', 'topic', o -> 'topic',
                          'group', COALESCE(o -> 'group', '"fstore"'), 'format', 'json',
                          'start', COALESCE(o -> 'start', '"earliest"'),
                          'batch_size', COALESCE(o -> 'batch_size', '1000'),
                          'batch_ms', COALESCE(o -> 'batch_ms', '100'),
                          'max_message_bytes', COALESCE(o -> 'max_message_bytes', '1048576'),
                          'kafka', COALESCE(o -> 'kafka', '{}'));
  RETURN n;
END
$$;

-- Options as the catalog view shows them: librdkafka settings that hold secrets masked.
CREATE OR REPLACE FUNCTION fstore._mask_stream_options(options jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT options || jsonb_build_object('kafka', COALESCE(
    (SELECT jsonb_object_agg(key, CASE WHEN key ~* '(password|secret|sasl\.oauthbearer\.config|ssl\.key\.pem)'
                                       THEN '"********"'::jsonb ELSE value END)
       FROM jsonb_each(options -> 'kafka')), '{}'))
$$;

-- Registers stream source `name`: fstore-server consumes options.topic into feature view `view`.
CREATE OR REPLACE FUNCTION fstore.create_stream_source(name text, view text, options jsonb, kind text DEFAULT 'kafka')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v fstore.view_registry;
  normalized jsonb;
BEGIN
  PERFORM fstore._check_name('stream source', create_stream_source.name);
  IF create_stream_source.kind IS DISTINCT FROM 'kafka' THEN
    RAISE EXCEPTION 'stream source "%": kind must be ''kafka'', not %', create_stream_source.name,
      COALESCE(quote_literal(create_stream_source.kind), 'NULL') USING ERRCODE = '22023';
  END IF;
  normalized := fstore._normalize_stream_options(create_stream_source.name, create_stream_source.options);
  PERFORM fstore._lock_registry();
  v := fstore._view(create_stream_source.view);
  IF EXISTS (SELECT FROM fstore.stream_source_registry s WHERE s.name = create_stream_source.name) THEN
    RAISE EXCEPTION 'stream source "%" already exists', create_stream_source.name USING ERRCODE = '42710';
  END IF;
  INSERT INTO fstore.stream_source_registry (name, view, kind, options, owner)
  VALUES (create_stream_source.name, v.name, 'kafka', normalized, fstore._caller());
  PERFORM fstore._log('stream_source', create_stream_source.name, 'create', NULL, NULL,
                      jsonb_build_object('view', v.name, 'topic', normalized -> 'topic', 'group', normalized -> 'group'));
END
$$;

-- Drops stream source `name` with its stored offsets and status; fstore-server stops consuming it.
CREATE OR REPLACE FUNCTION fstore.drop_stream_source(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM fstore._lock_registry();
  DELETE FROM fstore.stream_source_registry s WHERE s.name = drop_stream_source.name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'stream source "%" does not exist', drop_stream_source.name USING ERRCODE = '42704';
  END IF;
  PERFORM fstore._log('stream_source', drop_stream_source.name, 'drop', NULL, NULL);
END
$$;

CREATE OR REPLACE VIEW fstore.stream_sources AS
  SELECT r.name, r.view, r.kind, fstore._mask_stream_options(r.options) AS options,
         COALESCE(st.state, 'starting') AS state,
         (SELECT sum(GREATEST(o.high_watermark - o.next_offset, 0))::bigint FROM fstore.stream_offsets o
           WHERE o.source = r.name AND o.topic = r.options ->> 'topic') AS lag,
         st.last_error, r.owner, r.created_at, st.reported_by, st.updated_at AS reported_at
  FROM fstore.stream_source_registry r LEFT JOIN fstore.stream_status st ON st.source = r.name;

-- Loads `rows` ([{"p": partition, "o": offset, "row": {...}}], objects with writable fields only)
-- through `insert_sql` (fstore._ingest_sql): all at once, and when a row's data is bad, each half
-- again, down to single rows, which go to rejected_rows with their partition and offset. Only
-- data errors reject (as in fstore.ingest's 'reject' mode); any other error fails the batch.
-- Returns the rows loaded. k bad rows among n cost about k * log2(n) statements, not n.
CREATE OR REPLACE FUNCTION fstore._stream_load(insert_sql text, source text, view text, rows jsonb) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n integer := jsonb_array_length(rows);
  half integer := n / 2;
BEGIN
  IF n = 0 THEN
    RETURN 0;
  END IF;
  BEGIN
    EXECUTE insert_sql USING (SELECT jsonb_agg(e -> 'row' ORDER BY i) FROM jsonb_array_elements(rows) WITH ORDINALITY t(e, i));
    RETURN n;
  EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
    IF n = 1 THEN
      INSERT INTO fstore.rejected_rows (view, row, reason, sqlstate, actor, source, partition, "offset")
      VALUES (_stream_load.view, rows -> 0 -> 'row', left(SQLERRM, 10000), SQLSTATE, fstore._caller(),
              _stream_load.source, (rows -> 0 ->> 'p')::integer, (rows -> 0 ->> 'o')::bigint);
      RETURN 0;
    END IF;
  END;
  RETURN fstore._stream_load(insert_sql, source, view, jsonb_path_query_array(rows, format('$[0 to %s]', half - 1)::jsonpath))
       + fstore._stream_load(insert_sql, source, view, jsonb_path_query_array(rows, format('$[%s to last]', half)::jsonpath));
END
$$;

-- Stores one batch of stream source `source` and its offsets in the caller's transaction, so rows
-- and offsets commit together or not at all (exactly once). `messages`: [{"p": partition,
-- "o": offset, "row": {...}}] or, for a message fstore-server could not parse, {"p", "o",
-- "raw": text, "error": reason, "sqlstate": a data-error SQLSTATE such as 22P02 or 54000}. A message may carry several rows
-- (several elements with one offset). The offset rows of the batch's partitions are locked first:
-- messages below a partition's stored offset were stored already (by this server before a crash,
-- or another one before a rebalance) and are skipped, so a batch sent twice lands once.
-- Unknown fields, non-objects, wrong types and failed validation go to rejected_rows with source,
-- partition and offset; the good rows land. `watermarks` ({"partition": high watermark}) feeds
-- the lag. Returns {"loaded", "rejected", "skipped"}. Called by fstore-server as fstore_sync.
CREATE OR REPLACE FUNCTION fstore._stream_store(source text, topic text, messages jsonb, watermarks jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s fstore.stream_source_registry;
  v fstore.view_registry;
  writable text[];
  fresh jsonb;
  good jsonb;
  m jsonb;
  total integer;
  loaded bigint;
  rejected bigint := 0;
BEGIN
  IF jsonb_typeof(_stream_store.messages) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'stream source "%": messages must be a JSON array', _stream_store.source USING ERRCODE = '22023';
  END IF;
  SELECT * INTO s FROM fstore.stream_source_registry r WHERE r.name = _stream_store.source FOR SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'stream source "%" does not exist', _stream_store.source USING ERRCODE = '42704';
  END IF;
  IF s.options ->> 'topic' IS DISTINCT FROM _stream_store.topic THEN
    RAISE EXCEPTION 'stream source "%" consumes topic "%", not "%"', s.name, s.options ->> 'topic', _stream_store.topic
      USING ERRCODE = '22023';
  END IF;
  v := fstore._view(s.view);
  total := jsonb_array_length(_stream_store.messages);

  -- Fence: lock the batch's partitions (in order, no deadlock between servers) and keep only
  -- messages at or above the stored offsets.
  INSERT INTO fstore.stream_offsets AS o (source, topic, partition, next_offset)
  SELECT DISTINCT s.name, _stream_store.topic, (e ->> 'p')::integer, 0
    FROM jsonb_array_elements(_stream_store.messages) e ORDER BY 3
  ON CONFLICT DO NOTHING;
  PERFORM FROM fstore.stream_offsets o
   WHERE o.source = s.name AND o.topic = _stream_store.topic
     AND o.partition IN (SELECT (e ->> 'p')::integer FROM jsonb_array_elements(_stream_store.messages) e)
   ORDER BY o.partition FOR UPDATE;
  SELECT COALESCE(jsonb_agg(e ORDER BY i), '[]') INTO fresh
    FROM jsonb_array_elements(_stream_store.messages) WITH ORDINALITY t(e, i)
    JOIN fstore.stream_offsets o ON o.source = s.name AND o.topic = _stream_store.topic AND o.partition = (e ->> 'p')::integer
   WHERE (e ->> 'o')::bigint >= o.next_offset;

  -- Messages the server could not parse, rows that are not objects or have unknown fields.
  writable := fstore._writable_columns(v);
  FOR m IN SELECT e FROM jsonb_array_elements(fresh) e
            WHERE e ? 'error' OR jsonb_typeof(e -> 'row') IS DISTINCT FROM 'object'
               OR EXISTS (SELECT FROM jsonb_object_keys(e -> 'row') k WHERE k <> ALL (writable)) LOOP
    INSERT INTO fstore.rejected_rows (view, row, reason, sqlstate, actor, source, partition, "offset")
    VALUES (v.name, COALESCE(m -> 'row', to_jsonb(left(m ->> 'raw', 10000)), 'null'),
            left(COALESCE(m ->> 'error',
                          CASE WHEN jsonb_typeof(m -> 'row') IS DISTINCT FROM 'object'
                               THEN format('feature view "%s": a message must be a JSON object or an array of objects', v.name)
                               ELSE format('feature view "%s": unknown or derived fields %s (writable fields: %s)', v.name,
                                           (SELECT string_agg(format('"%s"', k), ', ' ORDER BY k) FROM jsonb_object_keys(m -> 'row') k
                                             WHERE k <> ALL (writable)), array_to_string(writable, ', ')) END), 10000),
            CASE WHEN left(m ->> 'sqlstate', 2) IN ('22', '23') OR m ->> 'sqlstate' = '54000' THEN m ->> 'sqlstate' ELSE '22023' END,
            fstore._caller(), s.name, (m ->> 'p')::integer, (m ->> 'o')::bigint);
    rejected := rejected + 1;
  END LOOP;
  SELECT COALESCE(jsonb_agg(e ORDER BY i), '[]') INTO good
    FROM jsonb_array_elements(fresh) WITH ORDINALITY t(e, i)
   WHERE NOT e ? 'error' AND jsonb_typeof(e -> 'row') = 'object'
     AND NOT EXISTS (SELECT FROM jsonb_object_keys(e -> 'row') k WHERE k <> ALL (writable));
  loaded := fstore._stream_load(fstore._ingest_sql(v, writable), s.name, v.name, good);
  rejected := rejected + jsonb_array_length(good) - loaded;

  -- The offsets move past every message of the batch, in this transaction.
  UPDATE fstore.stream_offsets o
     SET next_offset = GREATEST(o.next_offset, b.last + 1),
         high_watermark = COALESCE((_stream_store.watermarks ->> o.partition::text)::bigint, o.high_watermark),
         updated_at = pg_catalog.clock_timestamp()
    FROM (SELECT (e ->> 'p')::integer AS p, max((e ->> 'o')::bigint) AS last
            FROM jsonb_array_elements(_stream_store.messages) e GROUP BY 1) b
   WHERE o.source = s.name AND o.topic = _stream_store.topic AND o.partition = b.p;
  RETURN jsonb_build_object('loaded', loaded, 'rejected', rejected, 'skipped', total - jsonb_array_length(fresh));
END
$$;

-- Records what a consuming server reports for source `source`: its state ('starting',
-- 'running', 'retrying', 'error', 'stopped'), the last error (NULL when healthy), who reports,
-- and partitions' high watermarks ({"partition": offset}) for the lag of the catalog view.
-- A source dropped meanwhile is ignored. Called by fstore-server as fstore_sync.
CREATE OR REPLACE FUNCTION fstore._stream_report(source text, state text, last_error text, reported_by text,
                                                 watermarks jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  src_topic text;
BEGIN
  SELECT r.options ->> 'topic' INTO src_topic FROM fstore.stream_source_registry r WHERE r.name = _stream_report.source;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  INSERT INTO fstore.stream_status AS st (source, state, last_error, reported_by, updated_at)
  VALUES (_stream_report.source, _stream_report.state, left(_stream_report.last_error, 10000),
          left(_stream_report.reported_by, 200), pg_catalog.clock_timestamp())
  ON CONFLICT ON CONSTRAINT stream_status_pkey DO UPDATE
    SET state = EXCLUDED.state, last_error = EXCLUDED.last_error, reported_by = EXCLUDED.reported_by,
        updated_at = EXCLUDED.updated_at;
  UPDATE fstore.stream_offsets o SET high_watermark = (w.value #>> '{}')::bigint
    FROM jsonb_each(COALESCE(_stream_report.watermarks, '{}')) w
   WHERE o.source = _stream_report.source AND o.topic = src_topic AND o.partition::text = w.key
     AND jsonb_typeof(w.value) = 'number';
END
$$;
