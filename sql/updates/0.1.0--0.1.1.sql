-- fstore 0.1.0 -> 0.1.1: the security and robustness release.
-- State changes only (roles, tables, ownership, functions that are gone or changed shape); the
-- definition parts of sql/parts/ (10-99) follow this file in the assembled upgrade script.

\echo Use "ALTER EXTENSION fstore UPDATE TO '0.1.1'" to load this file. \quit

-- Rejected rows record who ingested them and are visible only for views one may read.
ALTER TABLE fstore.rejected_rows ADD COLUMN actor text NOT NULL DEFAULT fstore._caller();
ALTER TABLE fstore.rejected_rows ENABLE ROW LEVEL SECURITY;

-- The registry's version, bumped by every registry change (fstore-server reloads on a change only).
CREATE TABLE fstore.registry_state (
  id      boolean PRIMARY KEY DEFAULT true CHECK (id),
  version bigint NOT NULL DEFAULT 0
);
INSERT INTO fstore.registry_state DEFAULT VALUES;

-- Views the sync worker cannot sync are marked and skipped.
ALTER TABLE fstore.sync_views ADD COLUMN state text NOT NULL DEFAULT 'ok', ADD COLUMN reason text;

-- Derived columns are built from PostgreSQL's deparse of the checked expression, against the table.
DROP FUNCTION fstore._feature_column_ddl(jsonb);
