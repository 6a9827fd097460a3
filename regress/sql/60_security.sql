-- Security (0.1.1): nothing fstore runs with raised rights can be steered by a user. Every attack
-- is run as the least-privileged role that could try it and must end in a clean error, with no
-- role gaining superuser. Roles: sec_admin (fstore_admin only), sec_writer, sec_reader, sec_owner
-- (owns a table, no fstore role), sec_connect (CONNECT only).
CREATE ROLE sec_admin LOGIN IN ROLE fstore_admin;
CREATE ROLE sec_writer LOGIN IN ROLE fstore_writer;
CREATE ROLE sec_reader LOGIN IN ROLE fstore_reader;
CREATE ROLE sec_owner LOGIN;
CREATE ROLE sec_connect LOGIN;
GRANT CREATE ON SCHEMA public TO sec_admin, sec_owner;
CREATE VIEW sec_superusers AS
  SELECT string_agg(rolname, ',' ORDER BY rolname) AS superusers FROM pg_roles
   WHERE rolsuper AND rolname LIKE 'sec\_%';
GRANT SELECT ON sec_superusers TO PUBLIC;

-- The extension's code belongs to fstore_owner, a NOLOGIN role without attributes or members.
SELECT rolsuper, rolcanlogin, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = 'fstore_owner';
SELECT count(*) AS fstore_owner_members FROM pg_auth_members WHERE roleid = 'fstore_owner'::regrole;
SELECT count(*) AS definer_functions_not_owned_by_fstore_owner FROM pg_proc
 WHERE pronamespace = 'fstore'::regnamespace AND prosecdef AND proowner <> 'fstore_owner'::regrole;
SELECT count(*) AS definer_functions_without_pinned_search_path FROM pg_proc
 WHERE pronamespace = 'fstore'::regnamespace AND prosecdef
   AND NOT coalesce(proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false);
SELECT count(*) AS functions_executable_by_public FROM pg_proc
 WHERE pronamespace = 'fstore'::regnamespace AND has_function_privilege('public', oid, 'EXECUTE')
   AND proname <> '_validation_failed';

SELECT fstore.create_entity('sec_driver', 'driver_id', 'bigint');

-- 1. SQL injection into DDL through derived expressions and validation values (issue 9 item 1).
SET ROLE sec_admin;
SELECT regress_error($q$SELECT fstore.create_feature_view('pwn2','sec_driver',$j$[
 {"name":"a","type":"float8","expression":"1)\n--"},
 {"name":"b","type":"float8","expression":"'\n)::float8) STORED); ALTER ROLE sec_admin SUPERUSER; --'"}]$j$)$q$);
SELECT regress_error($q$SELECT fstore.create_feature_view('pwn3','sec_driver',$j$[
 {"name":"a","type":"float8","expression":"1 -- comment\n"},
 {"name":"b","type":"float8","expression":"a) STORED, c int); ALTER ROLE sec_admin SUPERUSER; --"}]$j$)$q$);
SELECT regress_error($q$SELECT fstore.create_feature_view('pwn4','sec_driver',$j$[
 {"name":"a","type":"float8","expression":"(SELECT 1); ALTER ROLE sec_admin SUPERUSER"}]$j$)$q$);
-- A comment in an expression is harmless: the column is built from PostgreSQL's deparse.
SELECT fstore.create_feature_view('sec_stats', 'sec_driver', $j$[
  {"name":"x","type":"float8"},
  {"name":"x2","type":"float8","expression":"x * 2 -- doubled\n"}]$j$);
SELECT pg_get_expr(d.adbin, d.adrelid) AS generation FROM pg_attrdef d
 JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
 WHERE d.adrelid = 'fstore_data.sec_stats'::regclass AND a.attname = 'x2';
-- add_features: the payload in validation.allowed, and in every other field that reaches DDL.
SELECT regress_error($q$SELECT fstore.add_features('sec_stats', $j$[
 {"name":"c","type":"float8","expression":"x)\n--"},
 {"name":"d","type":"text","validation":{"allowed":["'\n)); ALTER ROLE sec_admin SUPERUSER; --"]}}]$j$)$q$);
SELECT fstore.add_features('sec_stats', $j$[{"name":"e","type":"text",
  "validation":{"allowed":["'); ALTER ROLE sec_admin SUPERUSER; --", "a\nb"]}}]$j$);
SELECT regress_error($q$SELECT fstore.add_features('sec_stats', $j$[{"name":"f","type":"float8",
  "validation":{"min":"0) OR true); ALTER ROLE sec_admin SUPERUSER; --"}}]$j$)$q$);
SELECT regress_error($q$SELECT fstore.add_features('sec_stats', $j$[{"name":"g","type":"float8); ALTER ROLE sec_admin SUPERUSER; --"}]$j$)$q$);
SELECT regress_error($q$SELECT fstore.add_features('sec_stats', $j$[{"name":"h\"; ALTER ROLE sec_admin SUPERUSER; --","type":"int"}]$j$)$q$);
-- Expressions may use only built-in code, no system columns and no other derived feature.
CREATE FUNCTION public.sec_double(float8) RETURNS float8 IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 2';
SELECT regress_error($q$SELECT fstore.add_features('sec_stats', '[{"name":"u","type":"float8","expression":"public.sec_double(x)"}]')$q$);
SELECT regress_error($q$SELECT fstore.add_features('sec_stats', '[{"name":"u","type":"float8","expression":"x2 + 1"}]')$q$);
SELECT regress_error($q$SELECT fstore.add_features('sec_stats', '[{"name":"u","type":"text","expression":"ctid::text"}]')$q$);
SELECT regress_error($q$SELECT fstore.add_features('sec_stats', '[{"name":"u","type":"float8","expression":"random()"}]')$q$);
SELECT * FROM sec_superusers;
RESET ROLE;

-- 2. Feature types that would run user code as the extension: domains, enums, composites.
SET ROLE sec_admin;
CREATE FUNCTION public.sec_evil() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN ALTER ROLE sec_admin SUPERUSER; RETURN true; END $$;
CREATE DOMAIN public.sec_dom AS integer CHECK (public.sec_evil());
CREATE TYPE public.sec_enum AS ENUM ('a', 'b');
SELECT regress_error($q$SELECT fstore.create_feature_view('pwn5','sec_driver','[{"name":"a","type":"public.sec_dom","validation":{"min":1}}]')$q$);
SELECT regress_error($q$SELECT fstore.create_feature_view('pwn6','sec_driver','[{"name":"a","type":"public.sec_enum"}]')$q$);
SELECT regress_error($q$SELECT fstore.create_feature_view('pwn7','sec_driver','[{"name":"a","type":"public.sec_dom[]"}]')$q$);
SELECT regress_error($q$SELECT fstore.add_features('sec_stats','[{"name":"a","type":"sec_superusers"}]')$q$);
-- Built-in types, their arrays and built-in domains are fine.
SELECT fstore.add_features('sec_stats', '[{"name":"tags_arr","type":"text[]"},{"name":"w","type":"numeric(10,2)"}]');
SELECT * FROM sec_superusers;
RESET ROLE;

-- 3. The owner of a registered table, without any fstore role, changes the time column's type to
-- one whose cast to timestamptz makes it superuser, then inserts: the capture trigger (run as
-- fstore_owner) compares types by OID and casts nothing; the view is queued whole for the worker.
SET ROLE sec_owner;
CREATE TABLE public.sec_owned (driver_id bigint, event_ts timestamptz, val float8, salary int);
CREATE INDEX ON public.sec_owned (driver_id, event_ts);
RESET ROLE;
SELECT fstore.register_feature_view('sec_owned_view', 'sec_driver', 'public.sec_owned', features => ARRAY['val']);
SET ROLE sec_owner;
CREATE TYPE public.sec_ts AS (t timestamptz);
CREATE FUNCTION public.sec_ts_cast(public.sec_ts) RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN ALTER ROLE sec_owner SUPERUSER; RETURN $1.t; END $$;
CREATE CAST (public.sec_ts AS timestamptz) WITH FUNCTION public.sec_ts_cast(public.sec_ts);
ALTER TABLE public.sec_owned ALTER COLUMN event_ts TYPE public.sec_ts USING ROW(event_ts)::public.sec_ts;
INSERT INTO public.sec_owned VALUES (1, ROW(now())::public.sec_ts, 1.0, 100);
SELECT * FROM sec_superusers;
RESET ROLE;
SELECT keys IS NULL AS whole_view_queued FROM fstore.change_queue WHERE view_name = 'sec_owned_view';
SET ROLE sec_writer;
SELECT regress_error($q$SELECT fstore.materialize('sec_owned_view')$q$);
RESET ROLE;
SELECT * FROM sec_superusers;
SELECT fstore.drop_feature_view('sec_owned_view');
DELETE FROM fstore.change_queue WHERE view_name = 'sec_owned_view';

-- 4. Registering shares only the view's columns, needs the right to share them, and is undone by
-- dropping the view.
SET ROLE sec_owner;
CREATE TABLE public.sec_hr (driver_id bigint, event_ts timestamptz, rating float8, salary int, ssn text);
INSERT INTO public.sec_hr VALUES (1, '2024-01-01', 4.5, 100000, '123-45-6789');
RESET ROLE;
SET ROLE sec_admin;
-- sec_admin neither owns the table nor may grant on it.
SELECT regress_error($q$SELECT fstore.register_feature_view('sec_hr_view', 'sec_driver', 'public.sec_hr', features => ARRAY['rating'])$q$);
RESET ROLE;
SET ROLE sec_owner;
GRANT SELECT (driver_id, event_ts, rating) ON public.sec_hr TO sec_admin WITH GRANT OPTION;
RESET ROLE;
SET ROLE sec_admin;
-- With the grant option on the columns but not the table's ownership: offline only.
SELECT regress_error($q$SELECT fstore.register_feature_view('sec_hr_view', 'sec_driver', 'public.sec_hr', features => ARRAY['rating'])$q$);
SELECT fstore.register_feature_view('sec_hr_view', 'sec_driver', 'public.sec_hr', features => ARRAY['rating'], online => false);
RESET ROLE;
SELECT attname, has_column_privilege('fstore_reader', 'public.sec_hr', attname, 'SELECT') AS reader_may_select
  FROM pg_attribute WHERE attrelid = 'public.sec_hr'::regclass AND attnum > 0 ORDER BY attnum;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'public.sec_hr'::regclass AND NOT tgisinternal;
SET ROLE sec_reader;
SELECT driver_id, rating FROM public.sec_hr;
SELECT regress_error($q$SELECT salary, ssn FROM public.sec_hr$q$);
RESET ROLE;
SET ROLE sec_admin;
SELECT fstore.drop_feature_view('sec_hr_view');
RESET ROLE;
SELECT count(*) AS reader_columns_after_drop FROM pg_attribute
 WHERE attrelid = 'public.sec_hr'::regclass AND attnum > 0
   AND has_column_privilege('fstore_reader', 'public.sec_hr', attname, 'SELECT');
-- Calling the SECURITY DEFINER half directly, without delegating the columns first, is refused.
SET ROLE sec_admin;
SELECT regress_error($q$SELECT fstore._register_feature_view('sec_hr_view', 'sec_driver', 'public.sec_hr', 'event_ts', NULL, ARRAY['salary'], NULL, false, '', 'x', '{}')$q$);
-- fstore's own tables cannot be registered as another view.
RESET ROLE;
SELECT regress_error($q$SELECT fstore.register_feature_view('sec_again', 'sec_driver', 'fstore_data.sec_stats', features => ARRAY['x'])$q$);

-- 5. A role with CONNECT only reaches nothing; writers cannot forge rejected rows; readers see the
-- rejected rows of the views they may read only.
SET ROLE sec_connect;
SELECT regress_error($q$SELECT fstore.create_entity('x', 'x_id')$q$);
SELECT regress_error($q$SELECT fstore._deparse_expression('fstore.view_registry', '1', 'int')$q$);
SELECT regress_error($q$SELECT fstore._queue_keys('sec_stats', ARRAY['1'])$q$);
SELECT regress_error($q$SELECT fstore.lookup_api_token('x')$q$);
SELECT regress_error($q$SELECT count(*) FROM fstore.rejected_rows$q$);
RESET ROLE;
SET ROLE sec_writer;
SELECT regress_error($q$INSERT INTO fstore.rejected_rows (view, row, reason, sqlstate) VALUES ('sec_stats', '{}', 'forged', '23514')$q$);
SELECT regress_error($q$SELECT fstore._reject('sec_stats', '{}', 'forged', '40001')$q$);
SELECT fstore.ingest('sec_stats', '{"driver_id": 1, "event_ts": "2024-01-01", "x": 1, "e": "nope"}', 'reject');
SELECT view, sqlstate, actor FROM fstore.rejected_rows WHERE view = 'sec_stats';
RESET ROLE;
SELECT fstore.create_entity('sec_secret', 'secret_id', 'bigint');
SELECT fstore.create_feature_view('sec_secret_view', 'sec_secret', '[{"name":"v","type":"int","validation":{"min":0}}]');
SELECT fstore.ingest('sec_secret_view', '{"secret_id": 1, "event_ts": "2024-01-01", "v": -1}', 'reject');
REVOKE SELECT ON fstore_data.sec_secret_view FROM fstore_reader;
SET ROLE sec_reader;
SELECT view, count(*) FROM fstore.rejected_rows WHERE view LIKE 'sec\_%' GROUP BY view ORDER BY view;
RESET ROLE;
SELECT view, count(*) FROM fstore.rejected_rows WHERE view LIKE 'sec\_%' GROUP BY view ORDER BY view;

-- The registry version moves with every registry change, and only then.
SELECT fstore.registry_version() AS v0 \gset
SELECT fstore.registry_version() = :v0 AS unchanged_without_change;
NOTIFY fstore_registry;
SELECT fstore.registry_version() = :v0 AS unchanged_by_notify;
SELECT fstore.set_feature_status('sec_stats:x', 'deprecated');
SELECT fstore.registry_version() > :v0 AS moved_by_change;

SELECT * FROM sec_superusers;
-- Clean up (roles are cluster-wide).
SELECT fstore.drop_feature_view('sec_stats', drop_data => true);
SELECT fstore.drop_feature_view('sec_secret_view', drop_data => true);
DROP TABLE public.sec_owned, public.sec_hr;
DROP DOMAIN public.sec_dom;
DROP CAST (public.sec_ts AS timestamptz);
DROP FUNCTION public.sec_ts_cast(public.sec_ts), public.sec_evil(), public.sec_double(float8);
DROP TYPE public.sec_ts, public.sec_enum;
DROP VIEW sec_superusers;
REVOKE CREATE ON SCHEMA public FROM sec_admin, sec_owner;
DROP ROLE sec_admin, sec_writer, sec_reader, sec_owner, sec_connect;
