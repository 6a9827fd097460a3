-- Registered feature views: adopting a table the user already has (register_feature_view).

-- Registering runs in two steps, so that fstore never holds rights the caller did not have:
--  1. with the caller's rights (this function is SECURITY INVOKER): the caller hands fstore_owner
--     SELECT on exactly the columns the view uses (key, time, created, features), WITH GRANT
--     OPTION so fstore can pass it on to fstore_reader, and TRIGGER for an online view. This
--     needs SELECT WITH GRANT OPTION on those columns, and, online, the table's ownership;
--  2. SECURITY DEFINER (fstore._register_feature_view): the registry rows, the column grants to
--     fstore_reader and the change-capture triggers, with fstore_owner's rights only.
CREATE OR REPLACE FUNCTION fstore.register_feature_view(name text, entity text, source regclass,
                                             timestamp_column text DEFAULT 'event_ts',
                                             created_column text DEFAULT NULL,
                                             features text[] DEFAULT NULL,
                                             ttl interval DEFAULT NULL, online boolean DEFAULT true,
                                             description text DEFAULT '', owner text DEFAULT current_user,
                                             tags text[] DEFAULT '{}')
RETURNS regclass LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  key_column text;
  wanted text[];
BEGIN
  IF register_feature_view.source IS NOT NULL THEN
    -- The columns the view will read, as far as they exist; step 2 checks every detail.
    SELECT e.join_key INTO key_column FROM fstore.entities e WHERE e.name = register_feature_view.entity;
    wanted := ARRAY[key_column, register_feature_view.timestamp_column, register_feature_view.created_column, 'ctid']
              || COALESCE(register_feature_view.features, ARRAY(
                   SELECT a.attname::text FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = register_feature_view.source AND a.attnum > 0 AND NOT a.attisdropped));
    PERFORM fstore._delegate_columns(register_feature_view.source, wanted, COALESCE(register_feature_view.online, true));
  END IF;
  RETURN fstore._register_feature_view(register_feature_view.name, register_feature_view.entity,
    register_feature_view.source, register_feature_view.timestamp_column, register_feature_view.created_column,
    register_feature_view.features, register_feature_view.ttl, register_feature_view.online,
    register_feature_view.description, register_feature_view.owner, register_feature_view.tags);
END
$$;

-- Step 1 of registering (SECURITY INVOKER, the caller's rights): grants fstore_owner SELECT WITH
-- GRANT OPTION on those of `cols` that exist in `tbl`, and TRIGGER when `online`. Raises 42501
-- unless the caller may grant them: SELECT WITH GRANT OPTION on each column, ownership (or
-- membership in the owning role) for the triggers of an online view.
CREATE OR REPLACE FUNCTION fstore._delegate_columns(tbl regclass, cols text[], online boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  present text[];
  col text;
  nsp regnamespace;
BEGIN
  present := ARRAY(SELECT DISTINCT a.attname::text FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
                      AND a.attname::text = ANY (cols) ORDER BY 1);
  FOREACH col IN ARRAY present LOOP
    IF NOT pg_catalog.has_column_privilege(tbl, col, 'SELECT WITH GRANT OPTION') THEN
      RAISE EXCEPTION 'permission denied: fstore needs SELECT WITH GRANT OPTION on column "%" of %', col, tbl
        USING ERRCODE = '42501',
              HINT = 'Register tables you own, or ask the owner for SELECT on the view''s columns WITH GRANT OPTION.';
    END IF;
  END LOOP;
  -- fstore_owner names the table (grants, triggers), and readers (the sync among them) must reach
  -- it: USAGE on its schema, WITH GRANT OPTION unless readers have it already (public).
  SELECT c.relnamespace::regnamespace INTO nsp FROM pg_catalog.pg_class c WHERE c.oid = tbl;
  IF NOT pg_catalog.has_schema_privilege('fstore_owner', nsp, 'USAGE')
     OR NOT (pg_catalog.has_schema_privilege('fstore_reader', nsp, 'USAGE')
             OR pg_catalog.has_schema_privilege('fstore_owner', nsp, 'USAGE WITH GRANT OPTION')) THEN
    IF NOT pg_catalog.has_schema_privilege(nsp, 'USAGE WITH GRANT OPTION') THEN
      RAISE EXCEPTION 'permission denied: fstore needs USAGE on schema % to share its tables', nsp
        USING ERRCODE = '42501',
              HINT = format('The schema''s owner runs: GRANT USAGE ON SCHEMA %s TO fstore_owner WITH GRANT OPTION;', nsp);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %s TO fstore_owner WITH GRANT OPTION', nsp);
  END IF;
  IF online AND NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = tbl), 'USAGE') THEN
    RAISE EXCEPTION 'permission denied: an online feature view on % must be registered by the table''s owner', tbl
      USING ERRCODE = '42501', HINT = 'fstore attaches change-capture triggers to it; or register it with online => false.';
  END IF;
  -- ctid too, where the caller may share it: without a created column the physical row position
  -- breaks ties, and the sync can then break them as training sets do (docs/sync.md).
  IF 'ctid' = ANY (cols) AND (SELECT c.relkind IN ('r', 'p') FROM pg_catalog.pg_class c WHERE c.oid = tbl)
     AND pg_catalog.has_column_privilege(tbl, 'ctid', 'SELECT WITH GRANT OPTION') THEN
    present := present || 'ctid'::text;
  END IF;
  IF cardinality(present) > 0 THEN
    EXECUTE format('GRANT SELECT (%s) ON %s TO fstore_owner WITH GRANT OPTION',
                   (SELECT string_agg(format('%I', c), ', ') FROM unnest(present) c), tbl);
  END IF;
  IF online THEN
    EXECUTE format('GRANT TRIGGER ON %s TO fstore_owner', tbl);
  END IF;
END
$$;

-- Grants fstore_reader SELECT on columns `cols` of registered table `tbl` (as fstore_owner, which
-- the caller delegated them to); 42501 when it was not, i.e. when step 1 was skipped.
CREATE OR REPLACE FUNCTION fstore._publish_columns(tbl regclass, cols text[], online boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  col text;
BEGIN
  -- ctid is shared when it was delegated, and not required.
  IF 'ctid' = ANY (cols) AND NOT pg_catalog.has_column_privilege('fstore_owner', tbl, 'ctid', 'SELECT WITH GRANT OPTION') THEN
    cols := pg_catalog.array_remove(cols, 'ctid');
  END IF;
  FOREACH col IN ARRAY cols LOOP
    IF NOT pg_catalog.has_column_privilege('fstore_owner', tbl, col, 'SELECT WITH GRANT OPTION') THEN
      RAISE EXCEPTION 'permission denied: column "%" of % was not delegated to fstore', col, tbl
        USING ERRCODE = '42501', HINT = 'Use fstore.register_feature_view or fstore.add_features.';
    END IF;
  END LOOP;
  IF online AND NOT pg_catalog.has_table_privilege('fstore_owner', tbl, 'TRIGGER') THEN
    RAISE EXCEPTION 'permission denied: triggers on % were not delegated to fstore', tbl USING ERRCODE = '42501';
  END IF;
  IF NOT pg_catalog.has_schema_privilege('fstore_reader', (SELECT c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid = tbl), 'USAGE') THEN
    EXECUTE format('GRANT USAGE ON SCHEMA %s TO fstore_reader',
                   (SELECT c.relnamespace::regnamespace FROM pg_catalog.pg_class c WHERE c.oid = tbl));
  END IF;
  EXECUTE format('GRANT SELECT (%s) ON %s TO fstore_reader',
                 (SELECT string_agg(DISTINCT format('%I', c), ', ') FROM unnest(cols) c), tbl);
END
$$;

-- Revokes fstore_reader's SELECT on the columns of registered view `v` that no other view of the
-- same table uses (called when `v` is dropped; its registry rows still exist).
CREATE OR REPLACE FUNCTION fstore._unpublish_columns(v fstore.view_registry) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  unused text;
BEGIN
  SELECT string_agg(format('%I', c), ', ') INTO unused
    FROM unnest(fstore._view_columns(v)) c
   WHERE (c <> 'ctid' OR pg_catalog.has_column_privilege('fstore_reader', v.table_oid, 'ctid', 'SELECT'))
     AND NOT EXISTS (SELECT FROM fstore.view_registry o
                      WHERE o.table_oid = v.table_oid AND o.name <> v.name AND c = ANY (fstore._view_columns(o)));
  IF unused IS NOT NULL THEN
    EXECUTE format('REVOKE SELECT (%s) ON %s FROM fstore_reader', unused, v.table_oid);
  END IF;
END
$$;

-- The columns of its table that view `v` reads: key, time, created, every feature, and ctid
-- (the last tie-break of the point-in-time rule without a created column).
CREATE OR REPLACE FUNCTION fstore._view_columns(v fstore.view_registry) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT pg_catalog.array_remove(ARRAY[v.key_column, v.timestamp_column, v.created_column, 'ctid'], NULL)
         || ARRAY(SELECT f.name FROM fstore.feature_registry f WHERE f.view_name = v.name ORDER BY f.position)
$$;

-- Step 2 of registering: SECURITY DEFINER (fstore_owner), called by register_feature_view.
CREATE OR REPLACE FUNCTION fstore._register_feature_view(name text, entity text, source regclass,
                                              timestamp_column text, created_column text,
                                              features text[], ttl interval, online boolean,
                                              description text, owner text, tags text[])
RETURNS regclass LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  e fstore.entity_registry;
  col_type regtype;
  specs jsonb := '[]';
  feature text;
  chosen text[];
  src text;
BEGIN
  PERFORM fstore._check_name('feature view', _register_feature_view.name);
  PERFORM fstore._check_tags(_register_feature_view.tags);
  IF _register_feature_view.source IS NULL THEN
    RAISE EXCEPTION 'source table must not be NULL' USING ERRCODE = '22023';
  END IF;
  src := _register_feature_view.source::text;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = _register_feature_view.source
                  AND c.relkind IN ('r', 'p')) THEN
    RAISE EXCEPTION 'feature view "%": source % is not a table', _register_feature_view.name, src
      USING ERRCODE = '22023';
  END IF;
  IF (SELECT c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid = _register_feature_view.source)
     IN ('fstore'::regnamespace, 'fstore_data'::regnamespace) THEN
    RAISE EXCEPTION 'feature view "%": % belongs to fstore and cannot be registered', _register_feature_view.name, src
      USING ERRCODE = '22023', HINT = 'A managed view''s table serves that view only.';
  END IF;
  IF (SELECT c.relrowsecurity FROM pg_catalog.pg_class c WHERE c.oid = _register_feature_view.source) THEN
    RAISE EXCEPTION 'feature view "%": % has row-level security enabled', _register_feature_view.name, src
      USING ERRCODE = '0A000',
            HINT = 'fstore would evaluate the policies for every reader; register a table without them.';
  END IF;
  IF _register_feature_view.created_column = _register_feature_view.timestamp_column THEN
    RAISE EXCEPTION 'feature view "%": the created column cannot be the timestamp column "%"',
      _register_feature_view.name, _register_feature_view.timestamp_column USING ERRCODE = '22023';
  END IF;
  IF _register_feature_view.ttl IS NOT NULL AND _register_feature_view.ttl <= interval '0' THEN
    RAISE EXCEPTION 'feature view "%": ttl must be positive', _register_feature_view.name USING ERRCODE = '22023';
  END IF;
  PERFORM fstore._lock_registry();
  SELECT * INTO e FROM fstore.entity_registry r WHERE r.name = _register_feature_view.entity;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'entity "%" does not exist', _register_feature_view.entity USING ERRCODE = '42704';
  END IF;
  IF EXISTS (SELECT FROM fstore.view_registry v WHERE v.name = _register_feature_view.name) THEN
    RAISE EXCEPTION 'feature view "%" already exists', _register_feature_view.name USING ERRCODE = '42710';
  END IF;

  -- Key, timestamp and created columns must exist with fitting types.
  col_type := fstore._column_type(_register_feature_view.source, e.join_key);
  IF col_type IS NULL THEN
    RAISE EXCEPTION 'feature view "%": table % has no join key column "%" of entity "%"',
      _register_feature_view.name, src, e.join_key, e.name USING ERRCODE = '42703';
  END IF;
  IF col_type <> e.key_type THEN
    RAISE EXCEPTION 'feature view "%": column "%" of % is %, entity "%" has key type %',
      _register_feature_view.name, e.join_key, src, col_type, e.name, e.key_type USING ERRCODE = '42804';
  END IF;
  FOREACH feature IN ARRAY ARRAY[_register_feature_view.timestamp_column, _register_feature_view.created_column] LOOP
    CONTINUE WHEN feature IS NULL;
    col_type := fstore._column_type(_register_feature_view.source, feature);
    IF col_type IS NULL THEN
      RAISE EXCEPTION 'feature view "%": table % has no column "%"', _register_feature_view.name, src, feature
        USING ERRCODE = '42703';
    ELSIF col_type <> 'timestamptz'::regtype THEN
      RAISE EXCEPTION 'feature view "%": column "%" of % must be timestamptz, not %',
        _register_feature_view.name, feature, src, col_type USING ERRCODE = '42804';
    END IF;
  END LOOP;

  chosen := COALESCE(_register_feature_view.features, ARRAY(
    SELECT a.attname::text FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = _register_feature_view.source AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname::text NOT IN (e.join_key, _register_feature_view.timestamp_column,
                                   COALESCE(_register_feature_view.created_column, ''))
     ORDER BY a.attnum));
  FOREACH feature IN ARRAY chosen LOOP
    PERFORM fstore._check_name('feature', feature);
    col_type := fstore._column_type(_register_feature_view.source, feature);
    IF col_type IS NULL THEN
      RAISE EXCEPTION 'feature view "%": table % has no column "%"', _register_feature_view.name, src, feature
        USING ERRCODE = '42703';
    END IF;
    PERFORM fstore._check_trusted_type(format('feature view "%s", column "%s"', _register_feature_view.name, feature), col_type);
    IF feature IN (e.join_key, _register_feature_view.timestamp_column, _register_feature_view.created_column)
       OR specs @> jsonb_build_array(jsonb_build_object('name', feature)) THEN
      RAISE EXCEPTION 'feature view "%": column "%" cannot be a feature twice or be a key or time column',
        _register_feature_view.name, feature USING ERRCODE = '42710';
    END IF;
    specs := specs || jsonb_build_array(jsonb_build_object(
      'name', feature, 'type', pg_catalog.format_type(col_type, NULL), 'description', '', 'tags', '[]'::jsonb,
      'status', 'active', 'validation', '{}'::jsonb, 'expression', NULL));
  END LOOP;

  IF NOT EXISTS (
      SELECT FROM pg_catalog.pg_index i
       WHERE i.indrelid = _register_feature_view.source AND i.indnkeyatts >= 2
         AND i.indkey[0] = (SELECT attnum FROM pg_catalog.pg_attribute
                             WHERE attrelid = _register_feature_view.source AND attname = e.join_key)
         AND i.indkey[1] = (SELECT attnum FROM pg_catalog.pg_attribute
                             WHERE attrelid = _register_feature_view.source
                               AND attname = _register_feature_view.timestamp_column)) THEN
    RAISE NOTICE 'feature view "%": table % has no index on (%, %); training sets and online sync read by it',
      _register_feature_view.name, src, quote_ident(e.join_key), quote_ident(_register_feature_view.timestamp_column)
      USING HINT = format('CREATE INDEX ON %s (%I, %I);', src, e.join_key, _register_feature_view.timestamp_column);
  END IF;

  PERFORM fstore._publish_columns(_register_feature_view.source,
    pg_catalog.array_remove(ARRAY[e.join_key, _register_feature_view.timestamp_column,
                                  _register_feature_view.created_column, 'ctid'], NULL)
      || ARRAY(SELECT s ->> 'name' FROM jsonb_array_elements(specs) s),
    COALESCE(_register_feature_view.online, true));
  INSERT INTO fstore.view_registry (name, entity, managed, table_oid, key_column, timestamp_column,
                                    created_column, ttl, online, description, owner, tags)
  VALUES (_register_feature_view.name, e.name, false, _register_feature_view.source, e.join_key,
          _register_feature_view.timestamp_column, _register_feature_view.created_column,
          _register_feature_view.ttl, COALESCE(_register_feature_view.online, true),
          COALESCE(_register_feature_view.description, ''),
          COALESCE(_register_feature_view.owner, fstore._caller()), _register_feature_view.tags);
  PERFORM fstore._register_features(_register_feature_view.name, specs, '1.0.0');
  IF COALESCE(_register_feature_view.online, true) THEN
    PERFORM fstore._attach_sync(_register_feature_view.name);
  END IF;
  PERFORM fstore._log('feature_view', _register_feature_view.name, 'register', NULL, '1.0.0',
                      jsonb_build_object('table', src, 'features', specs));
  RETURN _register_feature_view.source;
END
$$;

-- The type of column `col` of table `tbl`, or NULL when there is no such column.
CREATE OR REPLACE FUNCTION fstore._column_type(tbl regclass, col text) RETURNS regtype
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT a.atttypid::regtype FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped
$$;

