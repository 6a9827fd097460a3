-- Catalog views (the registry as users read it) and the C++ helpers of the registry.

CREATE OR REPLACE VIEW fstore.entities AS
  SELECT name, join_key, key_type, description, owner, tags, created_at, updated_at
  FROM fstore.entity_registry;

CREATE OR REPLACE VIEW fstore.feature_views AS
  SELECT v.name, v.entity, v.table_oid AS table_name, v.ttl, v.online, v.version, v.description,
         v.owner, v.tags, v.created_at, v.updated_at,
         v.key_column AS join_key, e.key_type, v.timestamp_column, v.created_column, v.managed,
         v.partition_by, v.retention
  FROM fstore.view_registry v JOIN fstore.entity_registry e ON e.name = v.entity;

CREATE OR REPLACE VIEW fstore.features AS
  SELECT f.view_name AS view, f.name, v.entity, f.type, f.description, v.owner, f.tags, f.status,
         f.version, f.validation, f.expression, f.created_at, f.updated_at, f.position
  FROM fstore.feature_registry f JOIN fstore.view_registry v ON v.name = f.view_name;

CREATE OR REPLACE VIEW fstore.feature_services AS
  SELECT name, features, description, owner, tags, created_at, updated_at, version, transforms
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
