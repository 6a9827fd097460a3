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
  -- Sequences of their own (those of serial columns moved with their tables above).
  FOR obj IN SELECT c.oid::regclass AS name FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'fstore'::regnamespace AND c.relkind = 'S'
                AND c.relowner <> 'fstore_owner'::regrole LOOP
    EXECUTE pg_catalog.format('ALTER SEQUENCE %s OWNER TO fstore_owner', obj.name);
  END LOOP;
  FOR obj IN SELECT t.oid::regtype AS name FROM pg_catalog.pg_type t
              WHERE t.typnamespace = 'fstore'::regnamespace AND t.typtype = 'c' AND t.typrelid = 0 LOOP
    EXECUTE pg_catalog.format('ALTER TYPE %s OWNER TO fstore_owner', obj.name);
  END LOOP;
END
$own$;
