-- The registry's public functions: entities, managed feature views, features and services.
-- SECURITY DEFINER (owned by fstore_owner), pinned search_path, identifiers through %I, values as
-- parameters or typed literals; user expressions only as PostgreSQL's own deparse.

-- Adds managed feature column `f` (normalized spec) with its validation constraints to `tbl`.
CREATE OR REPLACE FUNCTION fstore._add_feature_column(tbl regclass, view_name text, f jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ADD COLUMN %s', tbl, fstore._feature_column_ddl(tbl, f))
       || COALESCE(', ADD ' || NULLIF(array_to_string(fstore._feature_constraints_ddl(view_name, f), ', ADD '), ''), '');
END
$$;

CREATE OR REPLACE FUNCTION fstore.create_entity(name text, join_key text, key_type regtype DEFAULT 'text',
                                     description text DEFAULT '', owner text DEFAULT current_user,
                                     tags text[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM fstore._check_name('entity', create_entity.name);
  PERFORM fstore._check_name('join key', create_entity.join_key);
  PERFORM fstore._check_tags(create_entity.tags);
  IF create_entity.join_key IN ('event_ts', 'created_ts') OR create_entity.join_key = ANY (fstore._system_column_names()) THEN
    RAISE EXCEPTION 'join key "%" is reserved', create_entity.join_key USING ERRCODE = '22023';
  END IF;
  IF create_entity.key_type IS NULL OR create_entity.key_type NOT IN ('bigint'::regtype, 'integer'::regtype, 'text'::regtype, 'uuid'::regtype) THEN
    RAISE EXCEPTION 'entity "%": key type must be bigint, integer, text or uuid, not %',
      create_entity.name, COALESCE(create_entity.key_type::text, 'NULL') USING ERRCODE = '22023';
  END IF;
  PERFORM fstore._lock_registry();
  IF EXISTS (SELECT FROM fstore.entity_registry e WHERE e.name = create_entity.name) THEN
    RAISE EXCEPTION 'entity "%" already exists', create_entity.name USING ERRCODE = '42710';
  END IF;
  INSERT INTO fstore.entity_registry (name, join_key, key_type, description, owner, tags)
  VALUES (create_entity.name, create_entity.join_key, create_entity.key_type,
          COALESCE(create_entity.description, ''), COALESCE(create_entity.owner, fstore._caller()),
          create_entity.tags);
  PERFORM fstore._log('entity', create_entity.name, 'create', NULL, NULL,
                      jsonb_build_object('join_key', create_entity.join_key, 'key_type', create_entity.key_type::text));
END
$$;

CREATE OR REPLACE FUNCTION fstore.create_feature_view(name text, entity text, features jsonb,
                                           ttl interval DEFAULT NULL, online boolean DEFAULT true,
                                           description text DEFAULT '', owner text DEFAULT current_user,
                                           tags text[] DEFAULT '{}', partition_by text DEFAULT NULL,
                                           retention interval DEFAULT NULL)
RETURNS regclass LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  e fstore.entity_registry;
  specs jsonb;
  columns text := '';
  f jsonb;
  tbl regclass;
BEGIN
  PERFORM fstore._check_name('feature view', create_feature_view.name);
  PERFORM fstore._check_tags(create_feature_view.tags);
  IF create_feature_view.ttl IS NOT NULL AND create_feature_view.ttl <= interval '0' THEN
    RAISE EXCEPTION 'feature view "%": ttl must be positive', create_feature_view.name USING ERRCODE = '22023';
  END IF;
  PERFORM fstore._check_partitioning(create_feature_view.name, create_feature_view.partition_by,
                                     create_feature_view.retention, create_feature_view.features);
  PERFORM fstore._lock_registry();
  SELECT * INTO e FROM fstore.entity_registry r WHERE r.name = create_feature_view.entity;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'entity "%" does not exist', create_feature_view.entity USING ERRCODE = '42704';
  END IF;
  IF EXISTS (SELECT FROM fstore.view_registry v WHERE v.name = create_feature_view.name) THEN
    RAISE EXCEPTION 'feature view "%" already exists', create_feature_view.name USING ERRCODE = '42710';
  END IF;
  IF pg_catalog.to_regclass(format('fstore_data.%I', create_feature_view.name)) IS NOT NULL THEN
    RAISE EXCEPTION 'table fstore_data.% already exists', quote_ident(create_feature_view.name)
      USING ERRCODE = '42P07', HINT = 'Data of a dropped view stays unless dropped with drop_data => true.';
  END IF;
  specs := fstore._normalize_features(create_feature_view.name, create_feature_view.features,
                                      ARRAY[e.join_key]);
  -- Stored features first, in one CREATE TABLE; derived ones after, since each is analyzed against
  -- the table's columns (fstore._feature_column_ddl).
  FOR f IN SELECT s FROM jsonb_array_elements(specs) s WHERE s ->> 'expression' IS NULL LOOP
    columns := columns || ', ' || fstore._feature_column_ddl(NULL, f);
    columns := columns || COALESCE(', ' || NULLIF(array_to_string(fstore._feature_constraints_ddl(create_feature_view.name, f), ', '), ''), '');
  END LOOP;
  EXECUTE format('CREATE TABLE fstore_data.%I (%I %s NOT NULL, event_ts timestamptz NOT NULL, '
                 'created_ts timestamptz NOT NULL DEFAULT pg_catalog.now()%s)%s',
                 create_feature_view.name, e.join_key, pg_catalog.format_type(e.key_type, NULL), columns,
                 CASE WHEN create_feature_view.partition_by IS NOT NULL THEN ' PARTITION BY RANGE (event_ts)' ELSE '' END);
  tbl := format('fstore_data.%I', create_feature_view.name)::regclass;
  FOR f IN SELECT s FROM jsonb_array_elements(specs) s WHERE s ->> 'expression' IS NOT NULL LOOP
    PERFORM fstore._add_feature_column(tbl, create_feature_view.name, f);
  END LOOP;
  -- The point-in-time join and the sync worker read by (key, event_ts, created_ts).
  EXECUTE format('CREATE INDEX %I ON %s (%I, event_ts, created_ts)',
                 left(create_feature_view.name, 50) || '_key_ts', tbl, e.join_key);
  EXECUTE format('GRANT SELECT ON %s TO fstore_reader', tbl);
  EXECUTE format('GRANT INSERT, UPDATE, DELETE ON %s TO fstore_writer', tbl);
  EXECUTE format('GRANT TRUNCATE ON %s TO fstore_admin', tbl);

  INSERT INTO fstore.view_registry (name, entity, managed, table_oid, key_column, timestamp_column,
                                    created_column, ttl, online, description, owner, tags,
                                    partition_by, retention)
  VALUES (create_feature_view.name, e.name, true, tbl, e.join_key, 'event_ts', 'created_ts',
          create_feature_view.ttl, COALESCE(create_feature_view.online, true),
          COALESCE(create_feature_view.description, ''),
          COALESCE(create_feature_view.owner, fstore._caller()), create_feature_view.tags,
          create_feature_view.partition_by, create_feature_view.retention);
  PERFORM fstore._register_features(create_feature_view.name, specs, '1.0.0');
  IF COALESCE(create_feature_view.online, true) THEN
    PERFORM fstore._attach_sync(create_feature_view.name);
  END IF;
  IF create_feature_view.partition_by IS NOT NULL THEN
    -- The default partition catches late and far-future rows; then the current period and the
    -- next two (fstore._maintain_view).
    EXECUTE format('CREATE TABLE fstore_data.%I PARTITION OF %s DEFAULT',
                   left(create_feature_view.name, 50) || '_default', tbl);
    PERFORM fstore._maintain_view(create_feature_view.name);
  END IF;
  PERFORM fstore._log('feature_view', create_feature_view.name, 'create', NULL, '1.0.0',
                      jsonb_build_object('table', tbl::text, 'features', specs,
                                         'partition_by', create_feature_view.partition_by,
                                         'retention', create_feature_view.retention::text));
  RETURN tbl;
END
$$;

-- Adds features to a view. SECURITY INVOKER: for a registered view, the caller first hands
-- fstore_owner SELECT WITH GRANT OPTION on the new columns (see register_feature_view); the
-- registry change itself is fstore._add_features (SECURITY DEFINER).
CREATE OR REPLACE FUNCTION fstore.add_features(view text, features jsonb) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v record;
BEGIN
  SELECT fv.table_name, fv.managed INTO v FROM fstore.feature_views fv WHERE fv.name = add_features.view;
  IF FOUND AND NOT v.managed AND jsonb_typeof(add_features.features) = 'array' THEN
    PERFORM fstore._delegate_columns(v.table_name,
      ARRAY(SELECT f ->> 'name' FROM jsonb_array_elements(add_features.features) f WHERE jsonb_typeof(f) = 'object'),
      false);
  END IF;
  RETURN fstore._add_features(add_features.view, add_features.features);
END
$$;

-- Step 2 of add_features: SECURITY DEFINER (fstore_owner).
CREATE OR REPLACE FUNCTION fstore._add_features(view text, features jsonb) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v fstore.view_registry;
  specs jsonb;
  f jsonb;
  col_type regtype;
  new_version text;
BEGIN
  PERFORM fstore._lock_registry();
  v := fstore._view(_add_features.view);
  specs := fstore._normalize_features(v.name, _add_features.features,
    ARRAY(SELECT r.name FROM fstore.feature_registry r WHERE r.view_name = v.name)
      || ARRAY[v.key_column, v.timestamp_column, COALESCE(v.created_column, '')]);
  IF jsonb_array_length(specs) = 0 THEN
    RAISE EXCEPTION 'feature view "%": no features to add', v.name USING ERRCODE = '22023';
  END IF;
  FOR f IN SELECT jsonb_array_elements(specs) LOOP
    IF v.managed THEN
      PERFORM fstore._add_feature_column(v.table_oid, v.name, f);
    ELSE
      -- A registered view adopts existing columns only; validation belongs to the table's owner.
      col_type := fstore._column_type(v.table_oid, f ->> 'name');
      IF col_type IS NULL THEN
        RAISE EXCEPTION 'feature view "%": table % has no column "%"', v.name, v.table_oid, f ->> 'name'
          USING ERRCODE = '42703';
      ELSIF col_type::text <> (f ->> 'type') THEN
        RAISE EXCEPTION 'feature view "%": column "%" is %, not %', v.name, f ->> 'name', col_type, f ->> 'type'
          USING ERRCODE = '42804';
      ELSIF (f -> 'validation') <> '{}' OR f ->> 'expression' IS NOT NULL THEN
        RAISE EXCEPTION 'feature view "%" is registered: validation and expressions are for managed views', v.name
          USING ERRCODE = '22023';
      END IF;
    END IF;
  END LOOP;
  IF NOT v.managed THEN
    PERFORM fstore._publish_columns(v.table_oid, ARRAY(SELECT s ->> 'name' FROM jsonb_array_elements(specs) s), false);
  END IF;
  new_version := fstore._next_version(v.version, 'minor');
  PERFORM fstore._register_features(v.name, specs, new_version);
  UPDATE fstore.view_registry r SET version = new_version, updated_at = now() WHERE r.name = v.name;
  PERFORM fstore._log('feature_view', v.name, 'add_features', v.version, new_version,
                      jsonb_build_object('features', specs));
  RETURN new_version;
END
$$;

CREATE OR REPLACE FUNCTION fstore.set_feature_status(feature text, status text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  view_name text := split_part(set_feature_status.feature, ':', 1);
  feature_name text := substr(set_feature_status.feature, length(view_name) + 2);
  v fstore.view_registry;
  old_status text;
  new_version text;
BEGIN
  IF set_feature_status.feature IS NULL OR position(':' IN set_feature_status.feature) = 0 THEN
    RAISE EXCEPTION 'invalid feature reference "%"', set_feature_status.feature
      USING ERRCODE = '22023', HINT = 'Write view:feature.';
  END IF;
  IF set_feature_status.status IS NULL OR set_feature_status.status NOT IN ('draft', 'active', 'deprecated', 'archived') THEN
    RAISE EXCEPTION 'invalid feature status "%"', set_feature_status.status
      USING ERRCODE = '22023', HINT = 'Use draft, active, deprecated or archived.';
  END IF;
  PERFORM fstore._lock_registry();
  v := fstore._view(view_name);
  SELECT r.status INTO old_status FROM fstore.feature_registry r
   WHERE r.view_name = v.name AND r.name = feature_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'feature "%" does not exist', set_feature_status.feature USING ERRCODE = '42704';
  END IF;
  IF old_status = set_feature_status.status THEN
    RETURN;
  END IF;
  new_version := fstore._next_version(v.version, 'patch');
  UPDATE fstore.feature_registry r SET status = set_feature_status.status, version = new_version, updated_at = now()
   WHERE r.view_name = v.name AND r.name = feature_name;
  UPDATE fstore.view_registry r SET version = new_version, updated_at = now() WHERE r.name = v.name;
  PERFORM fstore._log('feature', set_feature_status.feature, 'set_status', v.version, new_version,
                      jsonb_build_object('from', old_status, 'to', set_feature_status.status));
END
$$;

-- Drops a feature view. SECURITY INVOKER around fstore._drop_feature_view (SECURITY DEFINER): a
-- registered table's change-capture triggers can only be dropped by the table's owner, so they
-- are dropped here, with the caller's rights, when the caller owns the table and no other online
-- view uses it (otherwise they stay, doing nothing, and a NOTICE says how to drop them).
CREATE OR REPLACE FUNCTION fstore.drop_feature_view(name text, drop_data boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v record;
BEGIN
  SELECT fv.table_name, fv.managed, fv.online INTO v FROM fstore.feature_views fv WHERE fv.name = drop_feature_view.name;
  PERFORM fstore._drop_feature_view(drop_feature_view.name, drop_feature_view.drop_data);
  IF FOUND AND v.online AND NOT v.managed
     AND NOT EXISTS (SELECT FROM fstore.feature_views o WHERE o.table_name = v.table_name AND o.online)
     AND pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = v.table_name), 'USAGE') THEN
    PERFORM fstore._detach_triggers(v.table_name);
  END IF;
END
$$;

-- Step 2 of drop_feature_view: SECURITY DEFINER (fstore_owner).
CREATE OR REPLACE FUNCTION fstore._drop_feature_view(name text, drop_data boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v fstore.view_registry;
  users text;
BEGIN
  PERFORM fstore._lock_registry();
  v := fstore._view(_drop_feature_view.name);
  SELECT string_agg(s.name, ', ') INTO users FROM fstore.service_registry s
   WHERE EXISTS (SELECT FROM unnest(s.features) ref WHERE split_part(ref, ':', 1) = v.name);
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'cannot drop feature view "%": feature services use it: %', v.name, users
      USING ERRCODE = '2BP01';
  END IF;
  IF v.online THEN
    PERFORM fstore._detach_sync(v.name);
  END IF;
  IF NOT v.managed THEN
    PERFORM fstore._unpublish_columns(v);
  END IF;
  DELETE FROM fstore.view_registry r WHERE r.name = v.name;
  IF COALESCE(_drop_feature_view.drop_data, false) THEN
    IF v.managed THEN
      EXECUTE format('DROP TABLE %s', v.table_oid);
    ELSE
      RAISE NOTICE 'feature view "%" was registered on %: fstore does not drop tables it does not own',
        v.name, v.table_oid;
    END IF;
  END IF;
  PERFORM fstore._log('feature_view', v.name, 'drop', v.version, NULL,
                      jsonb_build_object('drop_data', COALESCE(_drop_feature_view.drop_data, false)));
END
$$;

CREATE OR REPLACE FUNCTION fstore.create_feature_service(name text, features text[], description text DEFAULT '',
                                              owner text DEFAULT current_user, tags text[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ref text;
BEGIN
  PERFORM fstore._check_name('feature service', create_feature_service.name);
  PERFORM fstore._check_tags(create_feature_service.tags);
  IF create_feature_service.features IS NULL OR cardinality(create_feature_service.features) = 0 THEN
    RAISE EXCEPTION 'feature service "%": features must be a non-empty array', create_feature_service.name
      USING ERRCODE = '22023';
  END IF;
  PERFORM fstore._lock_registry();
  IF EXISTS (SELECT FROM fstore.service_registry s WHERE s.name = create_feature_service.name) THEN
    RAISE EXCEPTION 'feature service "%" already exists', create_feature_service.name USING ERRCODE = '42710';
  END IF;
  FOREACH ref IN ARRAY create_feature_service.features LOOP
    PERFORM fstore._resolve_feature_refs(ARRAY[ref]);
  END LOOP;
  INSERT INTO fstore.service_registry (name, features, description, owner, tags)
  VALUES (create_feature_service.name, create_feature_service.features,
          COALESCE(create_feature_service.description, ''),
          COALESCE(create_feature_service.owner, fstore._caller()), create_feature_service.tags);
  PERFORM fstore._log('feature_service', create_feature_service.name, 'create', NULL, NULL,
                      jsonb_build_object('features', create_feature_service.features));
END
$$;

-- Resolves feature references ('view:feature', 'view:*') into (view, feature) rows in order.
-- 'view:*' expands to the view's active and deprecated features. Unknown views or features
-- raise 42704, malformed references 22023, archived features 22023; deprecated ones warn.
CREATE OR REPLACE FUNCTION fstore._resolve_feature_refs(refs text[])
RETURNS TABLE (view_name text, feature_name text, ordinal bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ref text;
  vname text;
  fname text;
  st text;
  n bigint := 0;
BEGIN
  FOREACH ref IN ARRAY refs LOOP
    IF ref IS NULL OR position(':' IN ref) = 0 THEN
      RAISE EXCEPTION 'invalid feature reference "%"', ref USING ERRCODE = '22023', HINT = 'Write view:feature or view:*.';
    END IF;
    vname := split_part(ref, ':', 1);
    fname := substr(ref, length(vname) + 2);
    PERFORM fstore._view(vname);
    IF fname = '*' THEN
      FOR fname, st IN SELECT r.name, r.status FROM fstore.feature_registry r
                        WHERE r.view_name = vname AND r.status IN ('active', 'deprecated') ORDER BY r.position LOOP
        IF st = 'deprecated' THEN
          RAISE WARNING 'feature "%:%" is deprecated', vname, fname;
        END IF;
        n := n + 1;
        view_name := vname; feature_name := fname; ordinal := n;
        RETURN NEXT;
      END LOOP;
      CONTINUE;
    END IF;
    SELECT r.status INTO st FROM fstore.feature_registry r WHERE r.view_name = vname AND r.name = fname;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'feature "%" does not exist', ref USING ERRCODE = '42704';
    ELSIF st = 'archived' THEN
      RAISE EXCEPTION 'feature "%" is archived', ref USING ERRCODE = '22023',
        HINT = 'Archived features are neither served nor put in training sets.';
    ELSIF st = 'deprecated' THEN
      RAISE WARNING 'feature "%" is deprecated', ref;
    END IF;
    n := n + 1;
    view_name := vname; feature_name := fname; ordinal := n;
    RETURN NEXT;
  END LOOP;
END
$$;
