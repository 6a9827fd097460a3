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
  updated_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
  -- (0.2.0) managed views partitioned by range on event_ts (fstore.maintain_partitions)
  partition_by     text CHECK (partition_by IN ('day', 'week', 'month')),
  retention        interval CHECK (retention IS NULL OR (retention > interval '0' AND partition_by IS NOT NULL))
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
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  version     text NOT NULL DEFAULT '1.0.0',   -- (0.2.0) bumped by set_transforms
  transforms  jsonb NOT NULL DEFAULT '{}'      -- (0.2.0) {"view:feature": spec}
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
  role       text NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),  -- admin: 0.2.0
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

