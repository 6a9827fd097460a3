-- fstore: schema, roles and registry tables. Parts 00-09 hold state and run only at install;
-- parts 10-99 hold definitions (CREATE OR REPLACE) and run again in every upgrade script.

\echo Use "CREATE EXTENSION fstore" to load this file. \quit

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
  at       timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  actor    text NOT NULL DEFAULT fstore._caller()   -- who ingested the row (0.1.1)
);
CREATE INDEX ON fstore.rejected_rows (view, at);
-- Rejected rows hold data: a role sees those of the views it may read (policy in 30_ingest.sql).
ALTER TABLE fstore.rejected_rows ENABLE ROW LEVEL SECURITY;

-- Bumped by every registry change, in its transaction: fstore-server reloads its registry only
-- when this changed (a NOTIFY alone, which anyone can send, is only a hint). (0.1.1)
CREATE TABLE fstore.registry_state (
  id      boolean PRIMARY KEY DEFAULT true CHECK (id),
  version bigint NOT NULL DEFAULT 0
);
INSERT INTO fstore.registry_state DEFAULT VALUES;

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

-- Sync subsystem state (install only): the change queue and the state the sync workers share.

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
  keys_synced  bigint NOT NULL DEFAULT 0,
  state        text NOT NULL DEFAULT 'ok',   -- 'ok', or 'error': the worker skips the view (0.1.1)
  reason       text                          -- why the view cannot be synced
);

-- Neither table is dumped by pg_dump (pg_extension_config_dump is deliberately not called): after
-- a restore the worker finds no signature for any view and rebuilds Redis from the restored data.

-- Roles. Cluster-wide, so created once and reused by every database; this part runs at install and
-- again in every upgrade.
--   fstore_owner  NOLOGIN, no attributes, no members: owns every object of the extension, so the
--                 SECURITY DEFINER functions and capture triggers run with its rights, never a
--                 superuser's. A hole elsewhere yields fstore's own objects, not the cluster.
--   fstore_reader catalog, training sets, online reads;  fstore_writer + ingestion;
--   fstore_admin  + registry changes and tokens;          fstore_sync what the sync worker needs.
DO $roles$
DECLARE
  pair text[];
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'fstore_owner') THEN
    CREATE ROLE fstore_owner NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
  ELSIF EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = 'fstore_owner'
                   AND (r.rolsuper OR r.rolcanlogin OR r.rolcreaterole OR r.rolcreatedb
                        OR r.rolreplication OR r.rolbypassrls))
        OR EXISTS (SELECT FROM pg_catalog.pg_auth_members m
                    WHERE m.roleid = 'fstore_owner'::regrole OR m.member = 'fstore_owner'::regrole) THEN
    -- Someone made it before us, or changed it: whoever can use it would own fstore.
    RAISE EXCEPTION 'role fstore_owner exists with login, attributes or memberships'
      USING ERRCODE = '42501',
            HINT = 'fstore_owner must be NOLOGIN, without attributes, members or memberships; fix or drop it.';
  END IF;
  FOREACH pair SLICE 1 IN ARRAY ARRAY[['fstore_reader', ''], ['fstore_writer', 'fstore_reader'],
                                      ['fstore_admin', 'fstore_writer'], ['fstore_sync', 'fstore_reader']] LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = pair[1]) THEN
      EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', pair[1]);
    END IF;
    IF pair[2] <> '' AND NOT pg_catalog.pg_has_role(pair[1], pair[2], 'MEMBER') THEN
      EXECUTE pg_catalog.format('GRANT %I TO %I', pair[2], pair[1]);
    END IF;
  END LOOP;
END
$roles$;
-- Catalog views (the registry as users read it) and the C++ helpers of the registry.

CREATE OR REPLACE VIEW fstore.entities AS
  SELECT name, join_key, key_type, description, owner, tags, created_at, updated_at
  FROM fstore.entity_registry;

CREATE OR REPLACE VIEW fstore.feature_views AS
  SELECT v.name, v.entity, v.table_oid AS table_name, v.ttl, v.online, v.version, v.description,
         v.owner, v.tags, v.created_at, v.updated_at,
         v.key_column AS join_key, e.key_type, v.timestamp_column, v.created_column, v.managed
  FROM fstore.view_registry v JOIN fstore.entity_registry e ON e.name = v.entity;

CREATE OR REPLACE VIEW fstore.features AS
  SELECT f.view_name AS view, f.name, v.entity, f.type, f.description, v.owner, f.tags, f.status,
         f.version, f.validation, f.expression, f.created_at, f.updated_at, f.position
  FROM fstore.feature_registry f JOIN fstore.view_registry v ON v.name = f.view_name;

CREATE OR REPLACE VIEW fstore.feature_services AS
  SELECT name, features, description, owner, tags, created_at, updated_at
  FROM fstore.service_registry;

CREATE OR REPLACE VIEW fstore.registry_history AS
  SELECT at, actor, object_type, object_name, action, old_version, new_version, detail
  FROM fstore.history_log;

CREATE OR REPLACE VIEW fstore.api_tokens AS
  SELECT name, role, created_by, created_at, revoked_at FROM fstore.api_token_registry;

-- C++ helpers (extension/registry_checks.cpp).
CREATE OR REPLACE FUNCTION fstore._check_name(kind text, name text) RETURNS void
  AS 'MODULE_PATHNAME', 'fstore_check_name' LANGUAGE C IMMUTABLE;
CREATE OR REPLACE FUNCTION fstore._check_expression(expression text) RETURNS void
  AS 'MODULE_PATHNAME', 'fstore_check_expression' LANGUAGE C IMMUTABLE STRICT;
CREATE OR REPLACE FUNCTION fstore._next_version(version text, part text) RETURNS text
  AS 'MODULE_PATHNAME', 'fstore_next_version' LANGUAGE C IMMUTABLE STRICT;
-- Derived-feature expressions as PostgreSQL deparses them after checking (extension/expression_check.cpp).
CREATE OR REPLACE FUNCTION fstore._deparse_expression(tbl regclass, expression text, type regtype) RETURNS text
  AS 'MODULE_PATHNAME', 'fstore_deparse_expression' LANGUAGE C STABLE;
-- Feature and join-key types: built in, or of a superuser-owned installed extension.
CREATE OR REPLACE FUNCTION fstore._trusted_type(type regtype) RETURNS boolean
  AS 'MODULE_PATHNAME', 'fstore_trusted_type' LANGUAGE C STABLE;
-- Called by feature CHECK constraints only when a rule fails; always raises 23514.
CREATE OR REPLACE FUNCTION fstore._validation_failed(view text, feature text, rule text, value text) RETURNS boolean
  AS 'MODULE_PATHNAME', 'fstore_validation_failed' LANGUAGE C VOLATILE;

-- The registry's version: changes exactly when a registry change commits (fstore-server polls it
-- after a NOTIFY fstore_registry and reloads only when it moved).
CREATE OR REPLACE FUNCTION fstore.registry_version() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT s.version FROM fstore.registry_state s $$;
-- The registry's helpers: locking, history, and feature specs (normalization, validation rules,
-- the DDL of feature columns). Registry functions are SECURITY DEFINER owned by fstore_owner
-- (callers need only EXECUTE, granted to fstore_admin), pin search_path, quote every identifier
-- with %I and pass every value as a parameter or a typed literal.

-- Column names PostgreSQL reserves in every table: never a join key or a feature.
CREATE OR REPLACE FUNCTION fstore._system_column_names() RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT ARRAY['tableoid', 'xmin', 'cmin', 'xmax', 'cmax', 'ctid'] $$;

-- Serializes registry changes of this database, so concurrent changes on one name queue up and
-- the later one sees the earlier one (and fails with 42710) instead of a unique-index error.
CREATE OR REPLACE FUNCTION fstore._lock_registry() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('fstore.registry')) $$;

-- Records one registry change and wakes up fstore-server (which reloads its registry).
CREATE OR REPLACE FUNCTION fstore._log(object_type text, object_name text, action text,
                            old_version text, new_version text, detail jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  INSERT INTO fstore.history_log (object_type, object_name, action, old_version, new_version, detail)
  VALUES (_log.object_type, _log.object_name, _log.action, _log.old_version, _log.new_version,
          COALESCE(_log.detail, '{}'));
  UPDATE fstore.registry_state SET version = version + 1;
  NOTIFY fstore_registry;
END
$$;

-- The registry row of a feature view; raises 42704 when there is none.
CREATE OR REPLACE FUNCTION fstore._view(view_name text) RETURNS fstore.view_registry
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
CREATE OR REPLACE FUNCTION fstore._check_tags(tags text[]) RETURNS void
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
CREATE OR REPLACE FUNCTION fstore._normalize_feature(view_name text, spec jsonb) RETURNS jsonb
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
  IF feature IN ('event_ts', 'created_ts') OR feature = ANY (fstore._system_column_names()) THEN
    RAISE EXCEPTION 'feature view "%": "%" is reserved and cannot name a feature', view_name, feature
      USING ERRCODE = '22023';
  END IF;

  -- The type, printed back by the catalog (never the user's text): built in or of an installed
  -- extension. A domain, enum or composite a role could create would run its code as fstore.
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
  PERFORM fstore._check_trusted_type(format('feature view "%s", feature "%s"', view_name, feature), type_oid);

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
  IF validation ? 'min' AND validation ? 'max' AND fstore._literal_greater(validation -> 'min', validation -> 'max', type_name) THEN
    RAISE EXCEPTION 'feature view "%", feature "%": validation min % is greater than max %',
      view_name, feature, validation -> 'min', validation -> 'max' USING ERRCODE = '22023';
  END IF;

  IF spec ? 'expression' THEN
    PERFORM fstore._check_expression(spec ->> 'expression');
  END IF;

  RETURN jsonb_build_object('name', feature, 'type', type_name,
                            'description', COALESCE(spec ->> 'description', ''),
                            'tags', to_jsonb(tags), 'status', status, 'validation', validation,
                            'expression', spec -> 'expression');
END
$$;

-- Raises 22023 naming `what` unless `type_oid` may be a feature or join-key type.
CREATE OR REPLACE FUNCTION fstore._check_trusted_type(what text, type_oid oid) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT fstore._trusted_type(type_oid) THEN
    RAISE EXCEPTION '%: type % is neither built in nor part of an installed extension', what,
      pg_catalog.format_type(type_oid, NULL) USING ERRCODE = '22023',
      HINT = 'Domains, enums and composite types would run user code with fstore''s rights; use the base type.';
  END IF;
END
$$;

-- True when bound `a` is greater than bound `b`, both compared as values of `type_name`.
CREATE OR REPLACE FUNCTION fstore._literal_greater(a jsonb, b jsonb, type_name text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  greater boolean;
BEGIN
  EXECUTE format('SELECT %s > %s', fstore._typed_literal(a, type_name), fstore._typed_literal(b, type_name))
    INTO greater;
  RETURN greater;
EXCEPTION WHEN undefined_function THEN
  RETURN false;  -- a type without an order: min and max are refused by its constraints anyway
END
$$;

-- A JSON scalar as a SQL literal of type `type_name`, checked by casting it once.
CREATE OR REPLACE FUNCTION fstore._typed_literal(value jsonb, type_name text) RETURNS text
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

-- DDL of one managed feature column (normalized spec `f`) of table `tbl`: type, generation,
-- NOT NULL. A derived feature's generation expression is PostgreSQL's deparse of the checked
-- expression against `tbl` (which must already hold the columns it reads), never the user's text.
CREATE OR REPLACE FUNCTION fstore._feature_column_ddl(tbl regclass, f jsonb) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ddl text := format('%I %s', f ->> 'name', f ->> 'type');
BEGIN
  IF f ->> 'expression' IS NOT NULL THEN
    ddl := ddl || format(' GENERATED ALWAYS AS (%s) STORED',
                         fstore._deparse_expression(tbl, f ->> 'expression', (f ->> 'type')::regtype));
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
CREATE OR REPLACE FUNCTION fstore._feature_constraints_ddl(view_name text, f jsonb) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  feature text := f ->> 'name';
  type_name text := f ->> 'type';
  v jsonb := f -> 'validation';
  col text := format('%I', feature);
  -- Constraint names: <feature>_<rule>, the feature shortened with a hash when long, so that two
  -- long features never collide after PostgreSQL's 63-byte truncation.
  short text := CASE WHEN length(feature) <= 50 THEN feature
                     ELSE left(feature, 41) || '_' || left(md5(feature), 8) END;
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
CREATE OR REPLACE FUNCTION fstore._register_features(view_name text, specs jsonb, version text) RETURNS void
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
CREATE OR REPLACE FUNCTION fstore._normalize_features(view_name text, features jsonb, taken text[]) RETURNS jsonb
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
  -- Stored features first, in one CREATE TABLE; derived ones after, since each is analyzed against
  -- the table's columns (fstore._feature_column_ddl).
  FOR f IN SELECT s FROM jsonb_array_elements(specs) s WHERE s ->> 'expression' IS NULL LOOP
    columns := columns || ', ' || fstore._feature_column_ddl(NULL, f);
    columns := columns || COALESCE(', ' || NULLIF(array_to_string(fstore._feature_constraints_ddl(create_feature_view.name, f), ', '), ''), '');
  END LOOP;
  EXECUTE format('CREATE TABLE fstore_data.%I (%I %s NOT NULL, event_ts timestamptz NOT NULL, '
                 'created_ts timestamptz NOT NULL DEFAULT pg_catalog.now()%s)',
                 create_feature_view.name, e.join_key, pg_catalog.format_type(e.key_type, NULL), columns);
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
-- API tokens for fstore-server: random, shown once, stored as sha256.

CREATE OR REPLACE FUNCTION fstore.create_api_token(name text, role text) RETURNS text
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

CREATE OR REPLACE FUNCTION fstore.revoke_api_token(name text) RETURNS void
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
CREATE OR REPLACE FUNCTION fstore.lookup_api_token(token text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
  SELECT t.role FROM fstore.api_token_registry t
   WHERE t.token_hash = sha256(convert_to(lookup_api_token.token, 'UTF8')) AND t.revoked_at IS NULL
$$;
-- Training sets: the point-in-time join engine (extension/training_set.cpp).

CREATE OR REPLACE FUNCTION fstore.create_training_set(target text, entity_rows text, features text[] DEFAULT NULL,
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


-- Statement-level capture, installed once per table (fstore._attach_sync). The registry, looked up
-- by the table's OID, says which online views the table backs; the trigger's arguments are not
-- trusted (0.1.0 passed the view and columns there). Per view, one queue row with the distinct
-- keys the statement touched; rows whose event time lies in the future win the point-in-time rule
-- only later, so their keys are queued a second time, due at the earliest such (finite) time.
-- Nothing here evaluates user code with fstore_owner's rights: the key and time columns are
-- compared with the registry's types by OID first, and when they differ (the owner altered the
-- table) no value is read at all: the whole view is queued and the worker reports it.
CREATE OR REPLACE FUNCTION fstore._sync_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v record;
  n bigint := 0;
  added bigint;
  src text;
BEGIN
  FOR v IN SELECT r.name, r.key_column, r.timestamp_column,
                  fstore._column_type(TG_RELID, r.key_column) IS NOT DISTINCT FROM e.key_type
                    AND fstore._column_type(TG_RELID, r.timestamp_column) IS NOT DISTINCT FROM 'timestamptz'::regtype
                    AS types_match
             FROM fstore.view_registry r JOIN fstore.entity_registry e ON e.name = r.entity
            WHERE r.table_oid = TG_RELID AND r.online LOOP
    IF TG_OP = 'TRUNCATE' OR NOT v.types_match THEN
      INSERT INTO fstore.change_queue (view_name, keys) VALUES (v.name, NULL);
      n := n + 1;
      CONTINUE;
    END IF;
    src := CASE TG_OP
      WHEN 'INSERT' THEN format('SELECT %I AS k, %I AS t FROM fstore_sync_new', v.key_column, v.timestamp_column)
      WHEN 'UPDATE' THEN format('SELECT %1$I AS k, %2$I AS t FROM fstore_sync_new '
                                'UNION ALL SELECT %1$I, NULL FROM fstore_sync_old',
                                v.key_column, v.timestamp_column)
      ELSE format('SELECT %I AS k, NULL::timestamptz AS t FROM fstore_sync_old', v.key_column)
    END;
    -- A NULL key can never be looked up: it is not queued. An 'infinity' row is never due.
    EXECUTE 'INSERT INTO fstore.change_queue (view_name, keys, due_at) '
            'SELECT $1, x.keys, x.due FROM ('
            '  SELECT pg_catalog.array_agg(s.k::text) FILTER (WHERE s.k IS NOT NULL) AS all_keys, '
            '         pg_catalog.array_agg(s.k::text) FILTER (WHERE s.k IS NOT NULL AND s.t > $2 AND s.t < $3) AS fut, '
            '         pg_catalog.min(s.t) FILTER (WHERE s.k IS NOT NULL AND s.t > $2 AND s.t < $3) AS fut_at '
            '  FROM (' || src || ') s) a, '
            'LATERAL (VALUES (a.all_keys, NULL::timestamptz), (a.fut, a.fut_at)) x(keys, due) '
            'WHERE x.keys IS NOT NULL'
      USING v.name, pg_catalog.statement_timestamp(), 'infinity'::timestamptz;
    GET DIAGNOSTICS added = ROW_COUNT;
    n := n + added;
  END LOOP;
  IF n > 0 THEN
    -- Constant channel, no payload: PostgreSQL folds it into one notification per transaction.
    PERFORM pg_catalog.pg_notify('fstore_changes', '');
  END IF;
  RETURN NULL;
END
$fn$;

-- Attaches change capture (four statement triggers) to the table of online view `view_name`,
-- unless the table has them already (several views may share a table). Called by the registry
-- after the view's row exists, as fstore_owner: it owns managed tables and was granted TRIGGER on
-- registered ones by their owner.
CREATE OR REPLACE FUNCTION fstore._attach_sync(view_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  rel regclass;
  op text;
BEGIN
  SELECT r.table_oid INTO rel FROM fstore.view_registry r WHERE r.name = _attach_sync.view_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'feature view "%" does not exist', view_name USING ERRCODE = '42704';
  END IF;
  FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
    CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_trigger tg
                           WHERE tg.tgrelid = rel AND tg.tgname = 'fstore_sync_' || op);
    EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION fstore._sync_capture()',
                   'fstore_sync_' || op, upper(op), rel,
                   CASE op WHEN 'insert' THEN 'REFERENCING NEW TABLE AS fstore_sync_new'
                           WHEN 'update' THEN 'REFERENCING OLD TABLE AS fstore_sync_old NEW TABLE AS fstore_sync_new'
                           WHEN 'delete' THEN 'REFERENCING OLD TABLE AS fstore_sync_old'
                           ELSE '' END);
  END LOOP;
  -- Rows the table already holds (register_feature_view adopts a filled table) reach Redis through
  -- the worker's view resync: it sees a view without a stored signature.
END
$fn$;

-- Drops the capture triggers of a table, if any, with the caller's rights (fstore_owner's for
-- managed tables, the owner's through drop_feature_view for registered ones).
CREATE OR REPLACE FUNCTION fstore._detach_triggers(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
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

-- Removes change capture of a view; called by the registry before the view is dropped. The
-- triggers go when no other online view uses the table and fstore owns it (a registered table's
-- triggers can only be dropped by its owner; left alone they do nothing once no view uses them).
-- The view's pending changes go; the worker deletes its Redis keys once the view is gone from the
-- registry (it still has the view's row in fstore.sync_views).
CREATE OR REPLACE FUNCTION fstore._detach_sync(view_name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v fstore.view_registry;
BEGIN
  SELECT * INTO v FROM fstore.view_registry r WHERE r.name = _detach_sync.view_name;
  IF FOUND AND NOT EXISTS (SELECT FROM fstore.view_registry o
                            WHERE o.table_oid = v.table_oid AND o.name <> v.name AND o.online) THEN
    IF v.managed THEN
      PERFORM fstore._detach_triggers(v.table_oid);
    ELSIF NOT pg_catalog.pg_has_role(fstore._caller(),
                                     (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = v.table_oid), 'USAGE') THEN
      RAISE NOTICE 'the change-capture triggers fstore_sync_* stay on % (only its owner can drop them); they do nothing now',
        v.table_oid USING HINT = format('DROP TRIGGER fstore_sync_insert ON %1$s; DROP TRIGGER fstore_sync_update ON %1$s; '
                                        'DROP TRIGGER fstore_sync_delete ON %1$s; DROP TRIGGER fstore_sync_truncate ON %1$s;',
                                        v.table_oid);
    END IF;
  END IF;
  DELETE FROM fstore.change_queue q WHERE q.view_name = _detach_sync.view_name;
  PERFORM pg_catalog.pg_notify('fstore_changes', '');
END
$fn$;

-- Queues `keys` of online view `view` for the sync worker, due now or at `due_at` (the
-- writer-facing half of materialize).
CREATE OR REPLACE FUNCTION fstore._queue_keys(view text, keys text[], due_at timestamptz DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF NOT EXISTS (SELECT FROM fstore.view_registry r WHERE r.name = _queue_keys.view AND r.online) THEN
    RAISE EXCEPTION 'feature view "%" does not exist or is not online', view USING ERRCODE = '42704';
  END IF;
  IF cardinality(keys) > 0 THEN
    INSERT INTO fstore.change_queue (view_name, keys, due_at) VALUES (view, keys, _queue_keys.due_at);
    PERFORM pg_catalog.pg_notify('fstore_changes', '');
  END IF;
END
$fn$;

-- Queues the latest values of every entity of `view` with an event in [start_ts, end_ts) for the
-- online store. A repair and backfill tool: ordinary ingestion reaches Redis on its own.
-- SECURITY INVOKER: the caller reads the view's table with its own rights. Returns the number of
-- entities queued. Errors: 42704 unknown view, 22023 offline view or bad range, 42804 when the
-- table's columns no longer have the registry's types.
CREATE OR REPLACE FUNCTION fstore.materialize(view text, start_ts timestamptz DEFAULT '-infinity',
                                   end_ts timestamptz DEFAULT 'infinity') RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  v record;
  keys text[];
  future_keys text[];
  future_at timestamptz;
BEGIN
  IF view IS NULL OR start_ts IS NULL OR end_ts IS NULL THEN
    RAISE EXCEPTION 'fstore.materialize: arguments must not be NULL' USING ERRCODE = '22023';
  END IF;
  SELECT fv.table_name, fv.join_key, fv.key_type, fv.timestamp_column, fv.online INTO v
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
  IF fstore._column_type(v.table_name, v.join_key) IS DISTINCT FROM v.key_type
     OR fstore._column_type(v.table_name, v.timestamp_column) IS DISTINCT FROM 'timestamptz'::regtype THEN
    RAISE EXCEPTION 'feature view "%": columns "%" and "%" of % no longer have the registered types',
      view, v.join_key, v.timestamp_column, v.table_name USING ERRCODE = '42804';
  END IF;
  -- The keys with events in the range, queued now; those of them with rows still in the future
  -- queued again, due at the earliest such (finite) time, as the capture trigger does.
  EXECUTE format('SELECT pg_catalog.array_agg(DISTINCT %1$I::text COLLATE "C"), '
                 '       pg_catalog.array_agg(DISTINCT %1$I::text COLLATE "C") FILTER (WHERE %3$I > $3 AND %3$I < $4), '
                 '       pg_catalog.min(%3$I) FILTER (WHERE %3$I > $3 AND %3$I < $4) '
                 'FROM %2$s WHERE %1$I IS NOT NULL AND %3$I >= $1 AND %3$I < $2',
                 v.join_key, v.table_name, v.timestamp_column)
    INTO keys, future_keys, future_at USING start_ts, end_ts, pg_catalog.statement_timestamp(), 'infinity'::timestamptz;
  PERFORM fstore._queue_keys(view, keys);
  IF future_keys IS NOT NULL THEN
    PERFORM fstore._queue_keys(view, future_keys, future_at);
  END IF;
  RETURN COALESCE(cardinality(keys), 0);
END
$fn$;

-- Per online view: changes not yet in Redis and when the worker last synced it.
--   pending_changes: queued statements (or materialize calls) not yet applied
--   pending_keys:    entity keys they name (a whole-view resync counts as 1)
--   oldest_pending_at / lag_seconds: age of the oldest change that is due
--   last_sync_at:    commit time of the worker's last batch for the view
CREATE OR REPLACE VIEW fstore.sync_status AS
SELECT fv.name AS view,
       coalesce(q.pending_changes, 0) AS pending_changes,
       coalesce(q.pending_keys, 0) AS pending_keys,
       q.oldest_pending_at,
       coalesce(extract(epoch FROM pg_catalog.clock_timestamp() - q.oldest_pending_at), 0)::float8
         AS lag_seconds,
       sv.last_sync_at,
       coalesce(sv.keys_synced, 0) AS keys_synced,
       coalesce(sv.state, 'ok') AS state,
       sv.reason
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

-- What the sync worker's role needs (fstore_sync; see docs/operations.md), and nothing for admins.
REVOKE ALL ON fstore.change_queue, fstore.sync_state, fstore.sync_views FROM fstore_admin;
REVOKE ALL ON SEQUENCE fstore.change_queue_id_seq FROM fstore_admin;
GRANT SELECT, INSERT, DELETE, UPDATE ON fstore.change_queue TO fstore_sync;
GRANT SELECT, INSERT, UPDATE, DELETE ON fstore.sync_state, fstore.sync_views TO fstore_sync;
GRANT USAGE ON SEQUENCE fstore.change_queue_id_seq TO fstore_sync;
GRANT EXECUTE ON FUNCTION fstore._queue_keys(text, text[], timestamptz) TO fstore_writer;
-- Least privilege: nothing for PUBLIC; readers read, writers ingest, admins change the registry.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA fstore FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA fstore FROM PUBLIC;
GRANT USAGE ON SCHEMA fstore, fstore_data TO fstore_reader;

GRANT SELECT ON fstore.entities, fstore.feature_views, fstore.features, fstore.feature_services,
                fstore.registry_history TO fstore_reader;
-- Rejected rows: readers see those of views they may read (row-level policy, 30_ingest.sql);
-- nobody inserts directly (fstore._reject).
GRANT SELECT ON fstore.rejected_rows TO fstore_reader;
REVOKE INSERT ON fstore.rejected_rows FROM fstore_writer;
REVOKE USAGE ON SEQUENCE fstore.rejected_rows_id_seq FROM fstore_writer;
GRANT EXECUTE ON FUNCTION fstore._may_read_view(text, name), fstore.registry_version() TO fstore_reader;
GRANT SELECT ON fstore.api_tokens TO fstore_admin;
GRANT EXECUTE ON FUNCTION fstore.lookup_api_token(text) TO fstore_reader;
-- Feature constraints call it on every write path, by whoever writes; it only ever raises.
GRANT EXECUTE ON FUNCTION fstore._validation_failed(text, text, text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION fstore.create_training_set(text, text, text[], text, boolean) TO fstore_reader;
GRANT EXECUTE ON FUNCTION fstore._resolve_feature_refs(text[]), fstore._view(text), fstore._column_type(regclass, text)
  TO fstore_reader;

GRANT EXECUTE ON FUNCTION fstore.ingest(text, jsonb, text), fstore._writable_columns(fstore.view_registry)
  TO fstore_writer;
GRANT EXECUTE ON FUNCTION fstore._reject(text, jsonb, text, text),
                          fstore.materialize(text, timestamptz, timestamptz) TO fstore_writer;

GRANT EXECUTE ON FUNCTION
  fstore.create_entity(text, text, regtype, text, text, text[]),
  fstore.create_feature_view(text, text, jsonb, interval, boolean, text, text, text[]),
  fstore.register_feature_view(text, text, regclass, text, text, text[], interval, boolean, text, text, text[]),
  fstore._register_feature_view(text, text, regclass, text, text, text[], interval, boolean, text, text, text[]),
  fstore._delegate_columns(regclass, text[], boolean),
  fstore.add_features(text, jsonb),
  fstore._add_features(text, jsonb),
  fstore.set_feature_status(text, text),
  fstore.drop_feature_view(text, boolean),
  fstore._drop_feature_view(text, boolean),
  fstore._detach_triggers(regclass),
  fstore.create_feature_service(text, text[], text, text, text[]),
  fstore.create_api_token(text, text),
  fstore.revoke_api_token(text)
TO fstore_admin;
-- Ownership: every object of the extension belongs to fstore_owner (see 10_roles.sql), so that
-- nothing fstore runs with raised rights runs as a superuser. The DBA's superuser only runs
-- CREATE EXTENSION / ALTER EXTENSION UPDATE. Runs last, at install and in every upgrade.
DO $own$
DECLARE
  obj record;
BEGIN
  ALTER SCHEMA fstore OWNER TO fstore_owner;
  ALTER SCHEMA fstore_data OWNER TO fstore_owner;
  FOR obj IN SELECT p.oid::regprocedure AS name, p.prokind FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = 'fstore'::regnamespace AND p.proowner <> 'fstore_owner'::regrole LOOP
    EXECUTE pg_catalog.format('ALTER %s %s OWNER TO fstore_owner',
                              CASE obj.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, obj.name);
  END LOOP;
  -- Tables (with their sequences and indexes) and views; managed views' tables in fstore_data too.
  FOR obj IN SELECT c.oid::regclass AS name, c.relkind FROM pg_catalog.pg_class c
              WHERE c.relnamespace IN ('fstore'::regnamespace, 'fstore_data'::regnamespace)
                AND c.relkind IN ('r', 'p', 'v') AND c.relowner <> 'fstore_owner'::regrole LOOP
    EXECUTE pg_catalog.format('ALTER %s %s OWNER TO fstore_owner',
                              CASE obj.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, obj.name);
  END LOOP;
  FOR obj IN SELECT t.oid::regtype AS name FROM pg_catalog.pg_type t
              WHERE t.typnamespace = 'fstore'::regnamespace AND t.typtype = 'c' AND t.typrelid = 0 LOOP
    EXECUTE pg_catalog.format('ALTER TYPE %s OWNER TO fstore_owner', obj.name);
  END LOOP;
END
$own$;
