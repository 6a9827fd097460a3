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

-- Statistics, drift and monitors (issue 12): the tables of sql/parts/07_stats_state.sql, unchanged.
-- One row per feature of each statistics snapshot (fstore.compute_statistics). A snapshot goes
-- with its view (ON DELETE CASCADE).
CREATE SEQUENCE fstore.statistics_snapshot_seq;
CREATE TABLE fstore.statistics_registry (
  snapshot_id     bigint NOT NULL,
  view_name       text NOT NULL REFERENCES fstore.view_registry (name) ON DELETE CASCADE,
  feature         text NOT NULL,
  start_ts        timestamptz NOT NULL,
  end_ts          timestamptz NOT NULL,
  computed_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
  computed_by     text NOT NULL,
  row_count       bigint NOT NULL,      -- rows of the view in [start_ts, end_ts)
  null_count      bigint NOT NULL,
  distinct_count  bigint NOT NULL,      -- exact up to 100,000, else HyperLogLog (0.81%)
  mean            float8,               -- numbers: over the finite values
  stddev          float8,
  min             float8,
  max             float8,
  quantiles       jsonb,                -- {"p01": ..., ..., "p99": ...}
  histogram       jsonb,                -- {"edges": [...], "counts": [...]}
  top_values      jsonb,                -- other types: [{"value": text, "count": n}, ...]
  nan_count       bigint NOT NULL DEFAULT 0,
  infinite_count  bigint NOT NULL DEFAULT 0,
  quantile_rank_error bigint NOT NULL DEFAULT 0,  -- 0: quantiles and histogram exact
  PRIMARY KEY (snapshot_id, feature)
);
CREATE INDEX ON fstore.statistics_registry (view_name, feature, computed_at);
SELECT pg_catalog.pg_extension_config_dump('fstore.statistics_registry', '');
SELECT pg_catalog.pg_extension_config_dump('fstore.statistics_snapshot_seq', '');

-- Drift monitors (fstore.create_monitor): compare the last `detection` window with the
-- `reference` window before it, every `every`. `next_due` is the due time of the next run; the
-- syncing fstore-server runs a monitor once it is due (fstore._run_due_monitors).
CREATE TABLE fstore.monitor_registry (
  name        text PRIMARY KEY,
  view_name   text NOT NULL,
  feature     text NOT NULL,
  metric      text NOT NULL CHECK (metric IN ('psi', 'ks', 'wasserstein', 'chi_square', 'jensen_shannon')),
  threshold   float8 NOT NULL CHECK (threshold >= 0 AND threshold < 'infinity'),
  detection   interval NOT NULL CHECK (detection > interval '0'),
  reference   interval NOT NULL CHECK (reference > interval '0'),
  every       interval NOT NULL CHECK (every >= interval '1 second'),
  description text NOT NULL DEFAULT '',
  owner       text NOT NULL,
  next_due    timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  FOREIGN KEY (view_name, feature) REFERENCES fstore.feature_registry (view_name, name) ON DELETE CASCADE
);
SELECT pg_catalog.pg_extension_config_dump('fstore.monitor_registry', '');

-- One row per monitor run; the key makes a due time run at most once, also across a takeover.
-- `value` is NULL with `error` set when the run could not compute (an empty window, say).
CREATE TABLE fstore.monitor_results (
  monitor     text NOT NULL REFERENCES fstore.monitor_registry (name) ON DELETE CASCADE,
  at          timestamptz NOT NULL,     -- the due time the run was for
  value       float8,
  p_value     float8,
  threshold   float8 NOT NULL,
  alert       boolean NOT NULL,
  error       text,
  computed_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  PRIMARY KEY (monitor, at)
);
SELECT pg_catalog.pg_extension_config_dump('fstore.monitor_results', '');
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
-- ---- Web UI and the registry over HTTP (issue 15): tokens with the admin role. ----
ALTER TABLE fstore.api_token_registry DROP CONSTRAINT api_token_registry_role_check,
  ADD CONSTRAINT api_token_registry_role_check CHECK (role IN ('reader', 'writer', 'admin'));
-- ---- Partitioned history (issue 14): the columns of sql/parts/00_schema.sql. ----
ALTER TABLE fstore.view_registry
  ADD COLUMN partition_by text CHECK (partition_by IN ('day', 'week', 'month')),
  ADD COLUMN retention interval CHECK (retention IS NULL OR (retention > interval '0' AND partition_by IS NOT NULL));
-- create_feature_view gains `partition_by` and `retention` at the end.
DROP FUNCTION fstore.create_feature_view(text, text, jsonb, interval, boolean, text, text, text[]);
