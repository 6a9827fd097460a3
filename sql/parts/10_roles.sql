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
