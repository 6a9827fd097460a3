-- CREATE EXTENSION, roles, a second database, DROP EXTENSION CASCADE.
SET client_min_messages = warning;
CREATE EXTENSION fstore;
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'fstore';
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'fstore\_%' ORDER BY rolname;
SELECT pg_has_role('fstore_admin', 'fstore_writer', 'MEMBER') AS admin_is_writer,
       pg_has_role('fstore_writer', 'fstore_reader', 'MEMBER') AS writer_is_reader,
       pg_has_role('fstore_reader', 'fstore_writer', 'MEMBER') AS reader_is_writer;

-- Nothing of the extension is open to PUBLIC but the validation failure function.
SELECT p.proname FROM pg_proc p
 WHERE p.pronamespace = 'fstore'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1;
-- Every SECURITY DEFINER function pins search_path.
SELECT p.proname FROM pg_proc p
 WHERE p.pronamespace = 'fstore'::regnamespace AND p.prosecdef
   AND NOT coalesce(p.proconfig::text LIKE '%search_path=pg_catalog, pg_temp%', false);

-- A helper for the suites: runs a statement and shows its SQLSTATE and message.
CREATE FUNCTION regress_error(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- DROP EXTENSION CASCADE removes what it made, data included; CREATE works again.
SELECT fstore.create_entity('tmp_entity', 'tmp_id', 'bigint');
SELECT fstore.create_feature_view('tmp_view', 'tmp_entity', '[{"name": "x", "type": "int"}]');
SET client_min_messages = warning;
DROP EXTENSION fstore CASCADE;
RESET client_min_messages;
SELECT count(*) AS fstore_schemas FROM pg_namespace WHERE nspname IN ('fstore', 'fstore_data');
CREATE EXTENSION fstore;
SELECT count(*) AS entities FROM fstore.entities;

-- A second database of the same cluster (the roles exist already).
CREATE DATABASE regress_fstore_second;
\c regress_fstore_second
CREATE EXTENSION fstore;
SELECT count(*) AS entities FROM fstore.entities;
\c fstore_regress
DROP DATABASE regress_fstore_second;
