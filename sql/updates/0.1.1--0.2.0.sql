-- fstore 0.1.1 -> 0.2.0. State changes only; the definition parts of sql/parts/ (10-99) follow
-- this file in the assembled upgrade script.

\echo Use "ALTER EXTENSION fstore UPDATE TO '0.2.0'" to load this file. \quit

-- Transformations with fitted state: a service's specs and version, and the fitted versions.
ALTER TABLE fstore.service_registry ADD COLUMN version text NOT NULL DEFAULT '1.0.0',
                                    ADD COLUMN transforms jsonb NOT NULL DEFAULT '{}';
CREATE TABLE fstore.transform_version_registry (
  service     text NOT NULL REFERENCES fstore.service_registry (name),
  version     integer NOT NULL CHECK (version > 0),
  fitted_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
  fitted_by   text NOT NULL,
  entity_rows text NOT NULL,           -- what it was fitted on (the query or table name)
  row_count   bigint NOT NULL,
  features    text[] NOT NULL,         -- the service's features when fitted, expanded
  transforms  jsonb NOT NULL,          -- the service's specs when fitted
  state       jsonb NOT NULL,          -- {"view:feature": fitted state}
  PRIMARY KEY (service, version)
);
SELECT pg_catalog.pg_extension_config_dump('fstore.transform_version_registry', '');

-- create_training_set gains `transform` at the end.
DROP FUNCTION fstore.create_training_set(text, text, text[], text, boolean);

-- ---- Stream sources (issue 13): the same statements as sql/parts/07_stream_state.sql. ----
CREATE TABLE fstore.stream_source_registry (
  name       text PRIMARY KEY,
  view       text NOT NULL,                 -- no foreign key: dropping the view stops the source with an error
  kind       text NOT NULL CHECK (kind IN ('kafka')),
  options    jsonb NOT NULL,                -- normalized by fstore.create_stream_source
  owner      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE TABLE fstore.stream_offsets (
  source         text NOT NULL REFERENCES fstore.stream_source_registry (name) ON DELETE CASCADE,
  topic          text NOT NULL,
  partition      integer NOT NULL CHECK (partition >= 0),
  next_offset    bigint NOT NULL CHECK (next_offset >= 0),
  high_watermark bigint,
  updated_at     timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  PRIMARY KEY (source, topic, partition)
);
CREATE TABLE fstore.stream_status (
  source      text PRIMARY KEY REFERENCES fstore.stream_source_registry (name) ON DELETE CASCADE,
  state       text NOT NULL CHECK (state IN ('starting', 'running', 'retrying', 'error', 'stopped')),
  last_error  text,
  reported_by text,
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
ALTER TABLE fstore.rejected_rows ADD COLUMN source text, ADD COLUMN partition integer, ADD COLUMN "offset" bigint;
SELECT pg_catalog.pg_extension_config_dump('fstore.stream_source_registry', '');
SELECT pg_catalog.pg_extension_config_dump('fstore.stream_offsets', '');
