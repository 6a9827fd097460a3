-- PLACEHOLDER until the sync subsystem lands (issue 5): the hooks the registry calls.

-- Attaches change capture to an online view's table (no-op for now).
CREATE FUNCTION fstore._attach_sync(view_name text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$ SELECT $$;

-- Removes change capture from a view's table (no-op for now).
CREATE FUNCTION fstore._detach_sync(view_name text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$ SELECT $$;
