-- Transformations with fitted state (0.2.0, install only): the fitted versions of each feature
-- service's transformations. Immutable once stored (a trigger refuses changes, 70_transforms.sql).
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
