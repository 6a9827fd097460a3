-- fstore 0.1.0: schema, roles, registry tables and catalog views.
-- The install script is assembled from sql/parts/*.sql in name order (see Makefile.pgxs).

\echo Use "CREATE EXTENSION fstore" to load this file. \quit

-- Group roles are cluster-wide: create them once, and reuse them in every other database.
DO $roles$
DECLARE
  pair text[];
BEGIN
  FOREACH pair SLICE 1 IN ARRAY ARRAY[['fstore_reader', ''], ['fstore_writer', 'fstore_reader'],
                                      ['fstore_admin', 'fstore_writer']] LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = pair[1]) THEN
      EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', pair[1]);
    END IF;
    IF pair[2] <> '' AND NOT pg_catalog.pg_has_role(pair[1], pair[2], 'MEMBER') THEN
      EXECUTE pg_catalog.format('GRANT %I TO %I', pair[2], pair[1]);
    END IF;
  END LOOP;
END
$roles$;

-- The registry and functions live in fstore; offline tables of managed feature views in
-- fstore_data. Both are members of the extension: DROP EXTENSION fstore CASCADE removes them.
CREATE SCHEMA fstore;
CREATE SCHEMA fstore_data;

-- The role calling a registry function: SECURITY DEFINER changes current_user, not SET ROLE.
CREATE FUNCTION fstore._caller() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN current_setting('role') = 'none' THEN session_user::text ELSE current_setting('role') END $$;

CREATE TABLE fstore.entity_registry (
  name        text PRIMARY KEY,
  join_key    text NOT NULL,
  key_type    regtype NOT NULL,
  description text NOT NULL DEFAULT '',
  owner       text NOT NULL,
  tags        text[] NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE fstore.view_registry (
  name             text PRIMARY KEY,
  entity           text NOT NULL REFERENCES fstore.entity_registry (name),
  managed          boolean NOT NULL,          -- true: fstore_data.<name>; false: the user's own table
  table_oid        regclass NOT NULL,
  key_column       text NOT NULL,
  timestamp_column text NOT NULL,
  created_column   text,                      -- NULL: no tie-break column
  ttl              interval CHECK (ttl > interval '0'),
  online           boolean NOT NULL,
  version          text NOT NULL DEFAULT '1.0.0',
  description      text NOT NULL DEFAULT '',
  owner            text NOT NULL,
  tags             text[] NOT NULL DEFAULT '{}',
  created_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
  updated_at       timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE fstore.feature_registry (
  view_name   text NOT NULL REFERENCES fstore.view_registry (name) ON DELETE CASCADE,
  name        text NOT NULL,
  position    integer NOT NULL,
  type        regtype NOT NULL,
  description text NOT NULL DEFAULT '',
  tags        text[] NOT NULL DEFAULT '{}',
  status      text NOT NULL DEFAULT 'active'
              CHECK (status IN ('draft', 'active', 'deprecated', 'archived')),
  version     text NOT NULL,                  -- the view's version when this feature last changed
  validation  jsonb NOT NULL DEFAULT '{}',
  expression  text,                           -- derived features: computed at ingestion
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (view_name, name)
);

CREATE TABLE fstore.service_registry (
  name        text PRIMARY KEY,
  features    text[] NOT NULL,
  description text NOT NULL DEFAULT '',
  owner       text NOT NULL,
  tags        text[] NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE fstore.history_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  actor       text NOT NULL DEFAULT fstore._caller(),
  object_type text NOT NULL,
  object_name text NOT NULL,
  action      text NOT NULL,
  old_version text,
  new_version text,
  detail      jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE fstore.rejected_rows (
  id       bigserial PRIMARY KEY,
  view     text NOT NULL,
  row      jsonb NOT NULL,
  reason   text NOT NULL,
  sqlstate text NOT NULL,
  at       timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX ON fstore.rejected_rows (view, at);

CREATE TABLE fstore.api_token_registry (
  name       text PRIMARY KEY,
  role       text NOT NULL CHECK (role IN ('reader', 'writer')),
  token_hash bytea NOT NULL UNIQUE,           -- sha256 of the token; the token itself is never stored
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  revoked_at timestamptz
);

-- pg_dump keeps the registry (and its sequences) with the data.
SELECT pg_catalog.pg_extension_config_dump('fstore.entity_registry', '');
SELECT pg_catalog.pg_extension_config_dump('fstore.view_registry', '');
SELECT pg_catalog.pg_extension_config_dump('fstore.feature_registry', '');
SELECT pg_catalog.pg_extension_config_dump('fstore.service_registry', '');
SELECT pg_catalog.pg_extension_config_dump('fstore.history_log', '');
SELECT pg_catalog.pg_extension_config_dump('fstore.history_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('fstore.rejected_rows', '');
SELECT pg_catalog.pg_extension_config_dump('fstore.rejected_rows_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('fstore.api_token_registry', '');

-- Catalog views: the registry as users read it.
CREATE VIEW fstore.entities AS
  SELECT name, join_key, key_type, description, owner, tags, created_at, updated_at
  FROM fstore.entity_registry;

CREATE VIEW fstore.feature_views AS
  SELECT v.name, v.entity, v.table_oid AS table_name, v.ttl, v.online, v.version, v.description,
         v.owner, v.tags, v.created_at, v.updated_at,
         v.key_column AS join_key, e.key_type, v.timestamp_column, v.created_column, v.managed
  FROM fstore.view_registry v JOIN fstore.entity_registry e ON e.name = v.entity;

CREATE VIEW fstore.features AS
  SELECT f.view_name AS view, f.name, v.entity, f.type, f.description, v.owner, f.tags, f.status,
         f.version, f.validation, f.expression, f.created_at, f.updated_at, f.position
  FROM fstore.feature_registry f JOIN fstore.view_registry v ON v.name = f.view_name;

CREATE VIEW fstore.feature_services AS
  SELECT name, features, description, owner, tags, created_at, updated_at
  FROM fstore.service_registry;

CREATE VIEW fstore.registry_history AS
  SELECT at, actor, object_type, object_name, action, old_version, new_version, detail
  FROM fstore.history_log;

CREATE VIEW fstore.api_tokens AS
  SELECT name, role, created_by, created_at, revoked_at FROM fstore.api_token_registry;

-- C++ helpers (extension/registry_checks.cpp).
CREATE FUNCTION fstore._check_name(kind text, name text) RETURNS void
  AS 'MODULE_PATHNAME', 'fstore_check_name' LANGUAGE C IMMUTABLE;
CREATE FUNCTION fstore._check_expression(expression text) RETURNS void
  AS 'MODULE_PATHNAME', 'fstore_check_expression' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION fstore._next_version(version text, part text) RETURNS text
  AS 'MODULE_PATHNAME', 'fstore_next_version' LANGUAGE C IMMUTABLE STRICT;
-- Called by feature CHECK constraints only when a rule fails; always raises 23514.
CREATE FUNCTION fstore._validation_failed(view text, feature text, rule text, value text) RETURNS boolean
  AS 'MODULE_PATHNAME', 'fstore_validation_failed' LANGUAGE C VOLATILE;
-- The registry: entities, feature views, features and feature services.
-- Registry functions are SECURITY DEFINER (callers need only EXECUTE, granted to fstore_admin),
-- pin search_path, quote every identifier with %I and pass every value as a parameter.

-- Serializes registry changes of this database, so concurrent changes on one name queue up and
-- the later one sees the earlier one (and fails with 42710) instead of a unique-index error.
CREATE FUNCTION fstore._lock_registry() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('fstore.registry')) $$;

-- Records one registry change and wakes up fstore-server (which reloads its registry).
CREATE FUNCTION fstore._log(object_type text, object_name text, action text,
                            old_version text, new_version text, detail jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  INSERT INTO fstore.history_log (object_type, object_name, action, old_version, new_version, detail)
  VALUES (_log.object_type, _log.object_name, _log.action, _log.old_version, _log.new_version,
          COALESCE(_log.detail, '{}'));
  NOTIFY fstore_registry;
END
$$;

-- The registry row of a feature view; raises 42704 when there is none.
CREATE FUNCTION fstore._view(view_name text) RETURNS fstore.view_registry
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v fstore.view_registry;
BEGIN
  SELECT * INTO v FROM fstore.view_registry r WHERE r.name = _view.view_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'feature view "%" does not exist', view_name USING ERRCODE = '42704';
  END IF;
  RETURN v;
END
$$;

-- Raises 22023 unless `tags` is a usable tag list.
CREATE FUNCTION fstore._check_tags(tags text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF tags IS NULL OR array_position(tags, NULL) IS NOT NULL OR cardinality(tags) > 100 THEN
    RAISE EXCEPTION 'tags must be an array of at most 100 non-NULL strings' USING ERRCODE = '22023';
  END IF;
END
$$;

-- Validates a feature spec of view `view_name` (an element of the `features` JSON array) and
-- returns it normalized: name, type (as format_type prints it), description, tags, status,
-- validation, expression. Raises 22023 naming the view and the feature on any mistake.
CREATE FUNCTION fstore._normalize_feature(view_name text, spec jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  feature text;
  type_oid oid;
  type_name text;
  bad_key text;
  rule text;
  status text;
  validation jsonb;
  tags text[];
BEGIN
  IF jsonb_typeof(spec) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'feature view "%": each feature must be a JSON object, got %', view_name, spec
      USING ERRCODE = '22023';
  END IF;
  SELECT k INTO bad_key FROM jsonb_object_keys(spec) k
   WHERE k NOT IN ('name', 'type', 'description', 'tags', 'status', 'validation', 'expression') LIMIT 1;
  IF bad_key IS NOT NULL THEN
    RAISE EXCEPTION 'feature view "%": unknown feature attribute "%"', view_name, bad_key
      USING ERRCODE = '22023',
            HINT = 'Known attributes: name, type, description, tags, status, validation, expression.';
  END IF;
  feature := spec ->> 'name';
  PERFORM fstore._check_name('feature', feature);
  IF feature IN ('event_ts', 'created_ts') THEN
    RAISE EXCEPTION 'feature view "%": "%" is reserved and cannot name a feature', view_name, feature
      USING ERRCODE = '22023';
  END IF;

  -- The type: any existing non-pseudo type, printed back by the catalog (never the user's text).
  BEGIN
    type_oid := pg_catalog.to_regtype(spec ->> 'type');
  EXCEPTION WHEN OTHERS THEN
    type_oid := NULL;
  END;
  IF type_oid IS NULL OR (SELECT t.typtype = 'p' FROM pg_catalog.pg_type t WHERE t.oid = type_oid) THEN
    RAISE EXCEPTION 'feature view "%", feature "%": unknown or unusable type "%"',
      view_name, feature, COALESCE(spec ->> 'type', 'NULL') USING ERRCODE = '22023';
  END IF;
  type_name := pg_catalog.format_type(type_oid, NULL);

  status := COALESCE(spec ->> 'status', 'active');
  IF status NOT IN ('draft', 'active', 'deprecated', 'archived') THEN
    RAISE EXCEPTION 'feature view "%", feature "%": invalid status "%"', view_name, feature, status
      USING ERRCODE = '22023', HINT = 'Use draft, active, deprecated or archived.';
  END IF;

  BEGIN
    tags := COALESCE(ARRAY(SELECT jsonb_array_elements_text(spec -> 'tags')), '{}');
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'feature view "%", feature "%": tags must be a JSON array of strings', view_name, feature
      USING ERRCODE = '22023';
  END;

  validation := COALESCE(spec -> 'validation', '{}');
  IF jsonb_typeof(validation) <> 'object' THEN
    RAISE EXCEPTION 'feature view "%", feature "%": validation must be a JSON object', view_name, feature
      USING ERRCODE = '22023';
  END IF;
  SELECT k INTO rule FROM jsonb_object_keys(validation) k
   WHERE k NOT IN ('min', 'max', 'allowed', 'not_null', 'unique') LIMIT 1;
  IF rule IS NOT NULL THEN
    RAISE EXCEPTION 'feature view "%", feature "%": unknown validation rule "%"', view_name, feature, rule
      USING ERRCODE = '22023', HINT = 'Known rules: min, max, allowed, not_null, unique.';
  END IF;
  FOREACH rule IN ARRAY ARRAY['not_null', 'unique'] LOOP
    IF validation ? rule AND jsonb_typeof(validation -> rule) <> 'boolean' THEN
      RAISE EXCEPTION 'feature view "%", feature "%": validation rule "%" must be true or false',
        view_name, feature, rule USING ERRCODE = '22023';
    END IF;
  END LOOP;
  IF validation ? 'allowed' AND (jsonb_typeof(validation -> 'allowed') <> 'array'
                                 OR jsonb_array_length(validation -> 'allowed') = 0) THEN
    RAISE EXCEPTION 'feature view "%", feature "%": validation rule "allowed" must be a non-empty JSON array',
      view_name, feature USING ERRCODE = '22023';
  END IF;
  -- Every bound must be a value of the feature's type.
  BEGIN
    PERFORM fstore._typed_literal(validation -> 'min', type_name) WHERE validation ? 'min';
    PERFORM fstore._typed_literal(validation -> 'max', type_name) WHERE validation ? 'max';
    PERFORM fstore._typed_literal(a, type_name) FROM jsonb_array_elements(validation -> 'allowed') a
     WHERE validation ? 'allowed';
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'feature view "%", feature "%": validation bound is not a valid %: %',
      view_name, feature, type_name, SQLERRM USING ERRCODE = '22023';
  END;

  IF spec ? 'expression' THEN
    PERFORM fstore._check_expression(spec ->> 'expression');
  END IF;

  RETURN jsonb_build_object('name', feature, 'type', type_name,
                            'description', COALESCE(spec ->> 'description', ''),
                            'tags', to_jsonb(tags), 'status', status, 'validation', validation,
                            'expression', spec -> 'expression');
END
$$;

-- A JSON scalar as a SQL literal of type `type_name`, checked by casting it once.
CREATE FUNCTION fstore._typed_literal(value jsonb, type_name text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  literal text;
BEGIN
  IF jsonb_typeof(value) NOT IN ('number', 'string', 'boolean') THEN
    RAISE EXCEPTION 'a bound must be a JSON number, string or boolean, got %', value USING ERRCODE = '22023';
  END IF;
  literal := format('%L::%s', value #>> '{}', type_name);
  EXECUTE 'SELECT ' || literal;  -- raises when the value is not of the type
  RETURN literal;
END
$$;

-- DDL of one managed feature column (normalized spec `f`): type, generation, NOT NULL.
CREATE FUNCTION fstore._feature_column_ddl(f jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ddl text := format('%I %s', f ->> 'name', f ->> 'type');
BEGIN
  IF f ->> 'expression' IS NOT NULL THEN
    ddl := ddl || format(' GENERATED ALWAYS AS (((%s))::%s) STORED', f ->> 'expression', f ->> 'type');
  END IF;
  IF (f -> 'validation' -> 'not_null') = 'true' THEN
    ddl := ddl || ' NOT NULL';
  END IF;
  RETURN ddl;
END
$$;

-- Table constraints for the validation rules of feature `f` of view `view_name`.
-- min, max and allowed become CHECK constraints that call fstore._validation_failed only when the
-- rule fails, so INSERT, COPY and fstore.ingest all get an error naming view, feature, rule and
-- value; unique becomes a UNIQUE constraint (not_null is part of the column).
CREATE FUNCTION fstore._feature_constraints_ddl(view_name text, f jsonb) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  feature text := f ->> 'name';
  type_name text := f ->> 'type';
  v jsonb := f -> 'validation';
  col text := format('%I', feature);
  short text := left(feature, 50);
  result text[] := '{}';
  rule text;
  test text;
BEGIN
  FOREACH rule IN ARRAY ARRAY['min', 'max', 'allowed'] LOOP
    CONTINUE WHEN NOT v ? rule;
    test := CASE rule
      WHEN 'min' THEN format('%s >= %s', col, fstore._typed_literal(v -> 'min', type_name))
      WHEN 'max' THEN format('%s <= %s', col, fstore._typed_literal(v -> 'max', type_name))
      ELSE format('%s IN (%s)', col, (SELECT string_agg(fstore._typed_literal(a, type_name), ', ')
                                         FROM jsonb_array_elements(v -> 'allowed') a))
    END;
    result := result || format('CONSTRAINT %I CHECK (%s IS NULL OR %s OR fstore._validation_failed(%L, %L, %L, %s::text))',
                               short || '_' || rule, col, test, view_name, feature,
                               rule || ' ' || (v ->> rule), col);
  END LOOP;
  IF (v -> 'unique') = 'true' THEN
    result := result || format('CONSTRAINT %I UNIQUE (%s)', short || '_unique', col);
  END IF;
  RETURN result;
END
$$;

-- Inserts the registry rows of normalized features `specs` of view `view_name`, at `version`,
-- positions after the view's current last one.
CREATE FUNCTION fstore._register_features(view_name text, specs jsonb, version text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$
  INSERT INTO fstore.feature_registry (view_name, name, position, type, description, tags, status,
                                       version, validation, expression)
  SELECT _register_features.view_name, s ->> 'name',
         COALESCE((SELECT max(position) FROM fstore.feature_registry r
                    WHERE r.view_name = _register_features.view_name), 0) + ord,
         (s ->> 'type')::regtype, s ->> 'description',
         ARRAY(SELECT jsonb_array_elements_text(s -> 'tags')), s ->> 'status', _register_features.version,
         s -> 'validation', s ->> 'expression'
  FROM jsonb_array_elements(specs) WITH ORDINALITY AS t(s, ord);
$$;

-- Normalizes a JSON array of feature specs, refusing duplicates and names taken in `taken`.
CREATE FUNCTION fstore._normalize_features(view_name text, features jsonb, taken text[]) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  result jsonb := '[]';
  spec jsonb;
  f jsonb;
BEGIN
  IF jsonb_typeof(features) IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION 'feature view "%": features must be a JSON array of feature objects', view_name
      USING ERRCODE = '22023';
  END IF;
  IF jsonb_array_length(features) > 1000 THEN
    RAISE EXCEPTION 'feature view "%": at most 1000 features per call', view_name USING ERRCODE = '22023';
  END IF;
  FOR spec IN SELECT jsonb_array_elements(features) LOOP
    f := fstore._normalize_feature(view_name, spec);
    IF (f ->> 'name') = ANY (taken) THEN
      RAISE EXCEPTION 'feature view "%": feature "%" already exists', view_name, f ->> 'name'
        USING ERRCODE = '42710';
    END IF;
    taken := taken || (f ->> 'name');
    result := result || jsonb_build_array(f);
  END LOOP;
  RETURN result;
END
$$;

CREATE FUNCTION fstore.create_entity(name text, join_key text, key_type regtype DEFAULT 'text',
                                     description text DEFAULT '', owner text DEFAULT current_user,
                                     tags text[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM fstore._check_name('entity', create_entity.name);
  PERFORM fstore._check_name('join key', create_entity.join_key);
  PERFORM fstore._check_tags(create_entity.tags);
  IF create_entity.join_key IN ('event_ts', 'created_ts') THEN
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

CREATE FUNCTION fstore.create_feature_view(name text, entity text, features jsonb,
                                           ttl interval DEFAULT NULL, online boolean DEFAULT true,
                                           description text DEFAULT '', owner text DEFAULT current_user,
                                           tags text[] DEFAULT '{}')
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
  FOR f IN SELECT jsonb_array_elements(specs) LOOP
    columns := columns || ', ' || fstore._feature_column_ddl(f);
    columns := columns || COALESCE(', ' || NULLIF(array_to_string(fstore._feature_constraints_ddl(create_feature_view.name, f), ', '), ''), '');
  END LOOP;

  EXECUTE format('CREATE TABLE fstore_data.%I (%I %s NOT NULL, event_ts timestamptz NOT NULL, '
                 'created_ts timestamptz NOT NULL DEFAULT pg_catalog.now()%s)',
                 create_feature_view.name, e.join_key, pg_catalog.format_type(e.key_type, NULL), columns);
  tbl := format('fstore_data.%I', create_feature_view.name)::regclass;
  -- The point-in-time join and the sync worker read by (key, event_ts, created_ts).
  EXECUTE format('CREATE INDEX %I ON %s (%I, event_ts, created_ts)',
                 left(create_feature_view.name, 50) || '_key_ts', tbl, e.join_key);
  EXECUTE format('GRANT SELECT ON %s TO fstore_reader', tbl);
  EXECUTE format('GRANT INSERT, UPDATE, DELETE ON %s TO fstore_writer', tbl);
  EXECUTE format('GRANT TRUNCATE ON %s TO fstore_admin', tbl);

  INSERT INTO fstore.view_registry (name, entity, managed, table_oid, key_column, timestamp_column,
                                    created_column, ttl, online, description, owner, tags)
  VALUES (create_feature_view.name, e.name, true, tbl, e.join_key, 'event_ts', 'created_ts',
          create_feature_view.ttl, COALESCE(create_feature_view.online, true),
          COALESCE(create_feature_view.description, ''),
          COALESCE(create_feature_view.owner, fstore._caller()), create_feature_view.tags);
  PERFORM fstore._register_features(create_feature_view.name, specs, '1.0.0');
  IF COALESCE(create_feature_view.online, true) THEN
    PERFORM fstore._attach_sync(create_feature_view.name);
  END IF;
  PERFORM fstore._log('feature_view', create_feature_view.name, 'create', NULL, '1.0.0',
                      jsonb_build_object('table', tbl::text, 'features', specs));
  RETURN tbl;
END
$$;

CREATE FUNCTION fstore.register_feature_view(name text, entity text, source regclass,
                                             timestamp_column text DEFAULT 'event_ts',
                                             created_column text DEFAULT NULL,
                                             features text[] DEFAULT NULL,
                                             ttl interval DEFAULT NULL, online boolean DEFAULT true,
                                             description text DEFAULT '', owner text DEFAULT current_user,
                                             tags text[] DEFAULT '{}')
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
  PERFORM fstore._check_name('feature view', register_feature_view.name);
  PERFORM fstore._check_tags(register_feature_view.tags);
  IF register_feature_view.source IS NULL THEN
    RAISE EXCEPTION 'source table must not be NULL' USING ERRCODE = '22023';
  END IF;
  src := register_feature_view.source::text;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = register_feature_view.source
                  AND c.relkind IN ('r', 'p')) THEN
    RAISE EXCEPTION 'feature view "%": source % is not a table', register_feature_view.name, src
      USING ERRCODE = '22023';
  END IF;
  -- The caller (not this function's owner) must be able to read the table it exposes.
  IF NOT pg_catalog.has_table_privilege(fstore._caller(), register_feature_view.source, 'SELECT') THEN
    RAISE EXCEPTION 'permission denied for table %', src USING ERRCODE = '42501';
  END IF;
  IF register_feature_view.ttl IS NOT NULL AND register_feature_view.ttl <= interval '0' THEN
    RAISE EXCEPTION 'feature view "%": ttl must be positive', register_feature_view.name USING ERRCODE = '22023';
  END IF;
  PERFORM fstore._lock_registry();
  SELECT * INTO e FROM fstore.entity_registry r WHERE r.name = register_feature_view.entity;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'entity "%" does not exist', register_feature_view.entity USING ERRCODE = '42704';
  END IF;
  IF EXISTS (SELECT FROM fstore.view_registry v WHERE v.name = register_feature_view.name) THEN
    RAISE EXCEPTION 'feature view "%" already exists', register_feature_view.name USING ERRCODE = '42710';
  END IF;

  -- Key, timestamp and created columns must exist with fitting types.
  col_type := fstore._column_type(register_feature_view.source, e.join_key);
  IF col_type IS NULL THEN
    RAISE EXCEPTION 'feature view "%": table % has no join key column "%" of entity "%"',
      register_feature_view.name, src, e.join_key, e.name USING ERRCODE = '42703';
  END IF;
  IF col_type <> e.key_type THEN
    RAISE EXCEPTION 'feature view "%": column "%" of % is %, entity "%" has key type %',
      register_feature_view.name, e.join_key, src, col_type, e.name, e.key_type USING ERRCODE = '42804';
  END IF;
  FOREACH feature IN ARRAY ARRAY[register_feature_view.timestamp_column, register_feature_view.created_column] LOOP
    CONTINUE WHEN feature IS NULL;
    col_type := fstore._column_type(register_feature_view.source, feature);
    IF col_type IS NULL THEN
      RAISE EXCEPTION 'feature view "%": table % has no column "%"', register_feature_view.name, src, feature
        USING ERRCODE = '42703';
    ELSIF col_type <> 'timestamptz'::regtype THEN
      RAISE EXCEPTION 'feature view "%": column "%" of % must be timestamptz, not %',
        register_feature_view.name, feature, src, col_type USING ERRCODE = '42804';
    END IF;
  END LOOP;

  chosen := COALESCE(register_feature_view.features, ARRAY(
    SELECT a.attname::text FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = register_feature_view.source AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname::text NOT IN (e.join_key, register_feature_view.timestamp_column,
                                   COALESCE(register_feature_view.created_column, ''))
     ORDER BY a.attnum));
  FOREACH feature IN ARRAY chosen LOOP
    PERFORM fstore._check_name('feature', feature);
    col_type := fstore._column_type(register_feature_view.source, feature);
    IF col_type IS NULL THEN
      RAISE EXCEPTION 'feature view "%": table % has no column "%"', register_feature_view.name, src, feature
        USING ERRCODE = '42703';
    END IF;
    IF feature IN (e.join_key, register_feature_view.timestamp_column, register_feature_view.created_column)
       OR specs @> jsonb_build_array(jsonb_build_object('name', feature)) THEN
      RAISE EXCEPTION 'feature view "%": column "%" cannot be a feature twice or be a key or time column',
        register_feature_view.name, feature USING ERRCODE = '42710';
    END IF;
    specs := specs || jsonb_build_array(jsonb_build_object(
      'name', feature, 'type', pg_catalog.format_type(col_type, NULL), 'description', '', 'tags', '[]'::jsonb,
      'status', 'active', 'validation', '{}'::jsonb, 'expression', NULL));
  END LOOP;

  IF NOT EXISTS (
      SELECT FROM pg_catalog.pg_index i
       WHERE i.indrelid = register_feature_view.source AND i.indnkeyatts >= 2
         AND i.indkey[0] = (SELECT attnum FROM pg_catalog.pg_attribute
                             WHERE attrelid = register_feature_view.source AND attname = e.join_key)
         AND i.indkey[1] = (SELECT attnum FROM pg_catalog.pg_attribute
                             WHERE attrelid = register_feature_view.source
                               AND attname = register_feature_view.timestamp_column)) THEN
    RAISE NOTICE 'feature view "%": table % has no index on (%, %); training sets and online sync read by it',
      register_feature_view.name, src, quote_ident(e.join_key), quote_ident(register_feature_view.timestamp_column)
      USING HINT = format('CREATE INDEX ON %s (%I, %I);', src, e.join_key, register_feature_view.timestamp_column);
  END IF;

  EXECUTE format('GRANT SELECT ON %s TO fstore_reader', src);
  INSERT INTO fstore.view_registry (name, entity, managed, table_oid, key_column, timestamp_column,
                                    created_column, ttl, online, description, owner, tags)
  VALUES (register_feature_view.name, e.name, false, register_feature_view.source, e.join_key,
          register_feature_view.timestamp_column, register_feature_view.created_column,
          register_feature_view.ttl, COALESCE(register_feature_view.online, true),
          COALESCE(register_feature_view.description, ''),
          COALESCE(register_feature_view.owner, fstore._caller()), register_feature_view.tags);
  PERFORM fstore._register_features(register_feature_view.name, specs, '1.0.0');
  IF COALESCE(register_feature_view.online, true) THEN
    PERFORM fstore._attach_sync(register_feature_view.name);
  END IF;
  PERFORM fstore._log('feature_view', register_feature_view.name, 'register', NULL, '1.0.0',
                      jsonb_build_object('table', src, 'features', specs));
  RETURN register_feature_view.source;
END
$$;

-- The type of column `col` of table `tbl`, or NULL when there is no such column.
CREATE FUNCTION fstore._column_type(tbl regclass, col text) RETURNS regtype
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT a.atttypid::regtype FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped
$$;

CREATE FUNCTION fstore.add_features(view text, features jsonb) RETURNS text
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
  v := fstore._view(add_features.view);
  specs := fstore._normalize_features(v.name, add_features.features,
    ARRAY(SELECT r.name FROM fstore.feature_registry r WHERE r.view_name = v.name)
      || ARRAY[v.key_column, v.timestamp_column, COALESCE(v.created_column, '')]);
  IF jsonb_array_length(specs) = 0 THEN
    RAISE EXCEPTION 'feature view "%": no features to add', v.name USING ERRCODE = '22023';
  END IF;
  FOR f IN SELECT jsonb_array_elements(specs) LOOP
    IF v.managed THEN
      EXECUTE format('ALTER TABLE %s ADD COLUMN %s', v.table_oid, fstore._feature_column_ddl(f))
           || COALESCE(', ADD ' || NULLIF(array_to_string(fstore._feature_constraints_ddl(v.name, f), ', ADD '), ''), '');
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
  new_version := fstore._next_version(v.version, 'minor');
  PERFORM fstore._register_features(v.name, specs, new_version);
  UPDATE fstore.view_registry r SET version = new_version, updated_at = now() WHERE r.name = v.name;
  PERFORM fstore._log('feature_view', v.name, 'add_features', v.version, new_version,
                      jsonb_build_object('features', specs));
  RETURN new_version;
END
$$;

CREATE FUNCTION fstore.set_feature_status(feature text, status text) RETURNS void
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

CREATE FUNCTION fstore.drop_feature_view(name text, drop_data boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v fstore.view_registry;
  users text;
BEGIN
  PERFORM fstore._lock_registry();
  v := fstore._view(drop_feature_view.name);
  SELECT string_agg(s.name, ', ') INTO users FROM fstore.service_registry s
   WHERE EXISTS (SELECT FROM unnest(s.features) ref WHERE split_part(ref, ':', 1) = v.name);
  IF users IS NOT NULL THEN
    RAISE EXCEPTION 'cannot drop feature view "%": feature services use it: %', v.name, users
      USING ERRCODE = '2BP01';
  END IF;
  IF v.online THEN
    PERFORM fstore._detach_sync(v.name);
  END IF;
  DELETE FROM fstore.view_registry r WHERE r.name = v.name;
  IF COALESCE(drop_feature_view.drop_data, false) THEN
    IF v.managed THEN
      EXECUTE format('DROP TABLE %s', v.table_oid);
    ELSE
      RAISE NOTICE 'feature view "%" was registered on %: fstore does not drop tables it does not own',
        v.name, v.table_oid;
    END IF;
  END IF;
  PERFORM fstore._log('feature_view', v.name, 'drop', v.version, NULL,
                      jsonb_build_object('drop_data', COALESCE(drop_feature_view.drop_data, false)));
END
$$;

CREATE FUNCTION fstore.create_feature_service(name text, features text[], description text DEFAULT '',
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
CREATE FUNCTION fstore._resolve_feature_refs(refs text[])
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
-- Ingestion through SQL: fstore.ingest. Plain INSERT and COPY into a view's table are validated
-- by the same constraints, so every path in checks the same rules.

-- Columns of view `v` that ingestion writes (derived features are computed, never written).
CREATE FUNCTION fstore._writable_columns(v fstore.view_registry) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
  SELECT array_agg(a.attname::text ORDER BY a.attnum)
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = v.table_oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
$$;

CREATE FUNCTION fstore.ingest(view text, rows jsonb, on_error text DEFAULT 'raise') RETURNS bigint
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
-- API tokens for fstore-server: random, shown once, stored as sha256.

CREATE FUNCTION fstore.create_api_token(name text, role text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  token text;
BEGIN
  PERFORM fstore._check_name('token', create_api_token.name);
  IF create_api_token.role IS NULL OR create_api_token.role NOT IN ('reader', 'writer') THEN
    RAISE EXCEPTION 'token role must be ''reader'' or ''writer'', not %',
      COALESCE(quote_literal(create_api_token.role), 'NULL') USING ERRCODE = '22023';
  END IF;
  PERFORM fstore._lock_registry();
  IF EXISTS (SELECT FROM fstore.api_token_registry t WHERE t.name = create_api_token.name AND t.revoked_at IS NULL) THEN
    RAISE EXCEPTION 'API token "%" already exists', create_api_token.name USING ERRCODE = '42710';
  END IF;
  DELETE FROM fstore.api_token_registry t WHERE t.name = create_api_token.name;  -- a revoked one
  -- Two v4 UUIDs from pg_strong_random: 244 random bits.
  token := 'fst_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
  INSERT INTO fstore.api_token_registry (name, role, token_hash, created_by)
  VALUES (create_api_token.name, create_api_token.role, sha256(convert_to(token, 'UTF8')), fstore._caller());
  PERFORM fstore._log('api_token', create_api_token.name, 'create', NULL, NULL,
                      jsonb_build_object('role', create_api_token.role));
  RETURN token;
END
$$;

CREATE FUNCTION fstore.revoke_api_token(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM fstore._lock_registry();
  UPDATE fstore.api_token_registry t SET revoked_at = now()
   WHERE t.name = revoke_api_token.name AND t.revoked_at IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'API token "%" does not exist or is already revoked', revoke_api_token.name
      USING ERRCODE = '42704';
  END IF;
  PERFORM fstore._log('api_token', revoke_api_token.name, 'revoke', NULL, NULL);
END
$$;

-- The role of a live token, or NULL. Used by fstore-server; the lookup is by hash, so the
-- comparison never touches the secret itself.
CREATE FUNCTION fstore.lookup_api_token(token text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
  SELECT t.role FROM fstore.api_token_registry t
   WHERE t.token_hash = sha256(convert_to(lookup_api_token.token, 'UTF8')) AND t.revoked_at IS NULL
$$;
-- Training sets: the point-in-time join engine (extension/training_set.cpp).

CREATE FUNCTION fstore.create_training_set(target text, entity_rows text, features text[] DEFAULT NULL,
                                           feature_service text DEFAULT NULL,
                                           full_feature_names boolean DEFAULT false)
RETURNS bigint AS 'MODULE_PATHNAME', 'fstore_create_training_set' LANGUAGE C VOLATILE;
-- Sync subsystem (issue 5): change capture for online views, the change queue the sync worker of
-- fstore-server consumes, fstore.materialize and fstore.sync_status. Design: docs/sync.md.
--
-- Every statement that changes an online view's table (INSERT, UPDATE, DELETE, COPY, TRUNCATE)
-- adds ONE row to fstore.change_queue holding the distinct entity keys it touched (key::text), or
-- NULL for "the whole view" (TRUNCATE), and sends one payload-free NOTIFY fstore_changes. The
-- worker consumes (deletes) queue rows in the same transaction in which it re-reads the winning
-- rows, and commits only after Redis acknowledged the write, so a change is never lost: NOTIFY only
-- wakes the worker up.

-- The change queue. Rows are consumed (deleted) by the sync worker; never read with an id cursor.
-- keys: distinct key::text values touched by one statement; NULL = resync the whole view.
-- due_at: NULL = now; otherwise the change only becomes visible at that time (rows whose event_ts
--         lies in the future win the point-in-time rule later, so they are re-queued for then).
CREATE TABLE fstore.change_queue (
  id        bigserial PRIMARY KEY,
  view_name text NOT NULL,
  keys      text[],
  due_at    timestamptz,
  queued_at timestamptz NOT NULL DEFAULT statement_timestamp()
);
COMMENT ON TABLE fstore.change_queue IS
  'fstore sync: changes of online views not yet applied to Redis (consumed by fstore-server)';

-- State shared by the sync workers of one database: the leader epoch (fencing token written into
-- the Redis marker) and the number of the last batch committed (detects a Redis that lost writes).
CREATE TABLE fstore.sync_state (
  id          boolean PRIMARY KEY DEFAULT true CHECK (id),
  epoch       bigint NOT NULL DEFAULT 0,
  applied_seq bigint NOT NULL DEFAULT 0,
  leader_pid  integer,
  leader_since timestamptz,
  last_sync_at timestamptz
);
INSERT INTO fstore.sync_state DEFAULT VALUES;
-- Big key arrays (a COPY of a million rows is one queue row): lz4 compresses them far faster than pglz.
DO $$ BEGIN
  ALTER TABLE fstore.change_queue ALTER COLUMN keys SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN NULL;
END $$;

-- Per online view: what the worker last synced, and the signature (table, columns, ttl) Redis was
-- built with; a changed signature (features added or archived, view re-created) resyncs the view.
CREATE TABLE fstore.sync_views (
  view_name    text PRIMARY KEY,
  signature    text,
  last_sync_at timestamptz,
  keys_synced  bigint NOT NULL DEFAULT 0
);

-- Neither table is dumped by pg_dump (pg_extension_config_dump is deliberately not called): after
-- a restore the worker finds no signature for any view and rebuilds Redis from the restored data.

-- Statement-level capture. TG_ARGV: view name, join key column, timestamp column.
-- Kept cheap (it runs inside every ingesting statement): one pass over the transition table, keys
-- aggregated without sorting (the worker removes duplicates). Rows whose event time lies in the
-- future win the point-in-time rule only later, so their keys are queued a second time, due at the
-- earliest such event time (the worker re-queues keys that have still later rows).
CREATE FUNCTION fstore._sync_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  n bigint;
  src text;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    INSERT INTO fstore.change_queue (view_name, keys) VALUES (TG_ARGV[0], NULL);
    n := 1;
  ELSE
    src := CASE TG_OP
      WHEN 'INSERT' THEN format('SELECT %I AS k, (%I)::timestamptz AS t FROM fstore_sync_new',
                                TG_ARGV[1], TG_ARGV[2])
      WHEN 'UPDATE' THEN format('SELECT %1$I AS k, (%2$I)::timestamptz AS t FROM fstore_sync_new '
                                'UNION ALL SELECT %1$I, NULL FROM fstore_sync_old',
                                TG_ARGV[1], TG_ARGV[2])
      ELSE format('SELECT %I AS k, NULL::timestamptz AS t FROM fstore_sync_old', TG_ARGV[1])
    END;
    EXECUTE 'INSERT INTO fstore.change_queue (view_name, keys, due_at) '
            'SELECT $1, x.keys, x.due FROM ('
            '  SELECT pg_catalog.array_agg(s.k::text) AS all_keys, '
            '         pg_catalog.array_agg(s.k::text) FILTER (WHERE s.t > pg_catalog.statement_timestamp()) AS fut, '
            '         pg_catalog.min(s.t) FILTER (WHERE s.t > pg_catalog.statement_timestamp()) AS fut_at '
            '  FROM (' || src || ') s) a, '
            'LATERAL (VALUES (a.all_keys, NULL::timestamptz), (a.fut, a.fut_at)) x(keys, due) '
            'WHERE x.keys IS NOT NULL'
      USING TG_ARGV[0];
    GET DIAGNOSTICS n = ROW_COUNT;
  END IF;
  IF n > 0 THEN
    -- Constant channel, no payload: PostgreSQL folds it into one notification per transaction.
    PERFORM pg_catalog.pg_notify('fstore_changes', '');
  END IF;
  RETURN NULL;
END
$fn$;
REVOKE EXECUTE ON FUNCTION fstore._sync_capture() FROM PUBLIC;

-- Attaches change capture (four statement triggers) to an online view's table. Called by the
-- registry after the view's row exists. Idempotent.
CREATE FUNCTION fstore._attach_sync(view_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v record;
BEGIN
  SELECT fv.table_name, fv.join_key, fv.timestamp_column INTO v
    FROM fstore.feature_views fv WHERE fv.name = _attach_sync.view_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'feature view "%" does not exist', view_name USING ERRCODE = '42704';
  END IF;
  PERFORM fstore._detach_triggers(v.table_name);
  EXECUTE format('CREATE TRIGGER fstore_sync_insert AFTER INSERT ON %s '
                 'REFERENCING NEW TABLE AS fstore_sync_new FOR EACH STATEMENT '
                 'EXECUTE FUNCTION fstore._sync_capture(%L, %L, %L)',
                 v.table_name, view_name, v.join_key, v.timestamp_column);
  EXECUTE format('CREATE TRIGGER fstore_sync_update AFTER UPDATE ON %s '
                 'REFERENCING OLD TABLE AS fstore_sync_old NEW TABLE AS fstore_sync_new '
                 'FOR EACH STATEMENT EXECUTE FUNCTION fstore._sync_capture(%L, %L, %L)',
                 v.table_name, view_name, v.join_key, v.timestamp_column);
  EXECUTE format('CREATE TRIGGER fstore_sync_delete AFTER DELETE ON %s '
                 'REFERENCING OLD TABLE AS fstore_sync_old FOR EACH STATEMENT '
                 'EXECUTE FUNCTION fstore._sync_capture(%L, %L, %L)',
                 v.table_name, view_name, v.join_key, v.timestamp_column);
  EXECUTE format('CREATE TRIGGER fstore_sync_truncate AFTER TRUNCATE ON %s '
                 'FOR EACH STATEMENT EXECUTE FUNCTION fstore._sync_capture(%L, %L, %L)',
                 v.table_name, view_name, v.join_key, v.timestamp_column);
  -- Rows the table already holds (register_feature_view adopts a filled table) reach Redis through
  -- the worker's view resync: it sees a view without a stored signature.
END
$fn$;
REVOKE EXECUTE ON FUNCTION fstore._attach_sync(text) FROM PUBLIC;

-- Drops the capture triggers of a table, if any.
CREATE FUNCTION fstore._detach_triggers(rel regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT tg.tgname FROM pg_catalog.pg_trigger tg
            WHERE tg.tgrelid = rel AND NOT tg.tgisinternal
              AND tg.tgname IN ('fstore_sync_insert', 'fstore_sync_update', 'fstore_sync_delete',
                                'fstore_sync_truncate') LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', t, rel);
  END LOOP;
END
$fn$;
REVOKE EXECUTE ON FUNCTION fstore._detach_triggers(regclass) FROM PUBLIC;

-- Removes change capture from a view's table; called by the registry before the view is dropped.
-- The view's pending changes go; the worker deletes its Redis keys once the view is gone from the
-- registry (it still has the view's row in fstore.sync_views).
CREATE FUNCTION fstore._detach_sync(view_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  rel regclass;
BEGIN
  SELECT fv.table_name INTO rel FROM fstore.feature_views fv WHERE fv.name = _detach_sync.view_name;
  IF rel IS NOT NULL THEN
    PERFORM fstore._detach_triggers(rel);
  END IF;
  DELETE FROM fstore.change_queue q WHERE q.view_name = _detach_sync.view_name;
  PERFORM pg_catalog.pg_notify('fstore_changes', '');
END
$fn$;
REVOKE EXECUTE ON FUNCTION fstore._detach_sync(text) FROM PUBLIC;

-- Queues the latest values of every entity of `view` with an event in [start_ts, end_ts) for the
-- online store. A repair and backfill tool: ordinary ingestion reaches Redis on its own.
-- Returns the number of entities queued. Errors: 42704 unknown view, 22023 offline view or bad range.
CREATE FUNCTION fstore.materialize(view text, start_ts timestamptz DEFAULT '-infinity',
                                   end_ts timestamptz DEFAULT 'infinity') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v record;
  n bigint;
BEGIN
  IF view IS NULL OR start_ts IS NULL OR end_ts IS NULL THEN
    RAISE EXCEPTION 'fstore.materialize: arguments must not be NULL' USING ERRCODE = '22023';
  END IF;
  SELECT fv.table_name, fv.join_key, fv.timestamp_column, fv.online INTO v
    FROM fstore.feature_views fv WHERE fv.name = materialize.view;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'feature view "%" does not exist', view USING ERRCODE = '42704';
  END IF;
  IF NOT v.online THEN
    RAISE EXCEPTION 'feature view "%" is not online', view USING ERRCODE = '22023',
      HINT = 'Only online views are materialized to Redis.';
  END IF;
  IF start_ts > end_ts THEN
    RAISE EXCEPTION 'fstore.materialize: start_ts % is after end_ts %', start_ts, end_ts
      USING ERRCODE = '22023';
  END IF;
  EXECUTE format('WITH k AS (SELECT DISTINCT (%1$I)::text COLLATE "C" AS k FROM %2$s '
                 'WHERE (%3$I)::timestamptz >= $2 AND (%3$I)::timestamptz < $3), '
                 'q AS (INSERT INTO fstore.change_queue (view_name, keys) '
                 'SELECT $1, pg_catalog.array_agg(k) FROM k HAVING pg_catalog.count(*) > 0) '
                 'SELECT pg_catalog.count(*) FROM k',
                 v.join_key, v.table_name, v.timestamp_column)
    INTO n USING view, start_ts, end_ts;
  IF n > 0 THEN
    PERFORM pg_catalog.pg_notify('fstore_changes', '');
  END IF;
  RETURN n;
END
$fn$;
REVOKE EXECUTE ON FUNCTION fstore.materialize(text, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fstore.materialize(text, timestamptz, timestamptz) TO fstore_writer;

-- Per online view: changes not yet in Redis and when the worker last synced it.
--   pending_changes: queued statements (or materialize calls) not yet applied
--   pending_keys:    entity keys they name (a whole-view resync counts as 1)
--   oldest_pending_at / lag_seconds: age of the oldest change that is due
--   last_sync_at:    commit time of the worker's last batch for the view
CREATE VIEW fstore.sync_status AS
SELECT fv.name AS view,
       coalesce(q.pending_changes, 0) AS pending_changes,
       coalesce(q.pending_keys, 0) AS pending_keys,
       q.oldest_pending_at,
       coalesce(extract(epoch FROM pg_catalog.clock_timestamp() - q.oldest_pending_at), 0)::float8
         AS lag_seconds,
       sv.last_sync_at,
       coalesce(sv.keys_synced, 0) AS keys_synced
  FROM fstore.feature_views fv
  LEFT JOIN (SELECT cq.view_name,
                    pg_catalog.count(*) AS pending_changes,
                    pg_catalog.sum(coalesce(pg_catalog.cardinality(cq.keys), 1))::bigint AS pending_keys,
                    pg_catalog.min(cq.queued_at) AS oldest_pending_at
               FROM fstore.change_queue cq
              WHERE cq.due_at IS NULL OR cq.due_at <= pg_catalog.now()
              GROUP BY cq.view_name) q ON q.view_name = fv.name
  LEFT JOIN fstore.sync_views sv ON sv.view_name = fv.name
 WHERE fv.online;
GRANT SELECT ON fstore.sync_status TO fstore_reader;

-- The sync worker's role needs these (tests and the default setup run it as a superuser).
GRANT SELECT, INSERT, DELETE, UPDATE ON fstore.change_queue TO fstore_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON fstore.sync_state, fstore.sync_views TO fstore_admin;
GRANT USAGE ON SEQUENCE fstore.change_queue_id_seq TO fstore_admin;
-- Least privilege: nothing for PUBLIC; readers read, writers ingest, admins change the registry.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA fstore FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA fstore FROM PUBLIC;
GRANT USAGE ON SCHEMA fstore, fstore_data TO fstore_reader;

GRANT SELECT ON fstore.entities, fstore.feature_views, fstore.features, fstore.feature_services,
                fstore.registry_history, fstore.rejected_rows TO fstore_reader;
GRANT SELECT ON fstore.api_tokens TO fstore_admin;
GRANT EXECUTE ON FUNCTION fstore.lookup_api_token(text) TO fstore_reader;
-- Feature constraints call it on every write path, by whoever writes; it only ever raises.
GRANT EXECUTE ON FUNCTION fstore._validation_failed(text, text, text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION fstore.create_training_set(text, text, text[], text, boolean) TO fstore_reader;
GRANT EXECUTE ON FUNCTION fstore._resolve_feature_refs(text[]), fstore._view(text) TO fstore_reader;

GRANT EXECUTE ON FUNCTION fstore.ingest(text, jsonb, text), fstore._writable_columns(fstore.view_registry)
  TO fstore_writer;
GRANT INSERT ON fstore.rejected_rows TO fstore_writer;
GRANT USAGE ON SEQUENCE fstore.rejected_rows_id_seq TO fstore_writer;

GRANT EXECUTE ON FUNCTION
  fstore.create_entity(text, text, regtype, text, text, text[]),
  fstore.create_feature_view(text, text, jsonb, interval, boolean, text, text, text[]),
  fstore.register_feature_view(text, text, regclass, text, text, text[], interval, boolean, text, text, text[]),
  fstore.add_features(text, jsonb),
  fstore.set_feature_status(text, text),
  fstore.drop_feature_view(text, boolean),
  fstore.create_feature_service(text, text[], text, text, text[]),
  fstore.create_api_token(text, text),
  fstore.revoke_api_token(text)
TO fstore_admin;
