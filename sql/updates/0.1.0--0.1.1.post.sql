
-- 0.1.0 -> 0.1.1, after the definitions: registered tables were shared whole with fstore_reader
-- (GRANT SELECT ON <table>). Replace that by SELECT on exactly the columns their views use, granted
-- by fstore_owner (delegated by the table's owner, as register_feature_view now does), so that
-- dropping a view revokes them.
DO $regrant$
DECLARE
  v fstore.view_registry;
  cols text;
BEGIN
  FOR v IN SELECT * FROM fstore.view_registry r WHERE NOT r.managed LOOP
    EXECUTE pg_catalog.format('REVOKE SELECT ON %s FROM fstore_reader', v.table_oid);
    SELECT pg_catalog.string_agg(pg_catalog.format('%I', c), ', ') INTO cols FROM unnest(fstore._view_columns(v)) c;
    EXECUTE pg_catalog.format('GRANT SELECT (%s) ON %s TO fstore_owner WITH GRANT OPTION', cols, v.table_oid);
    IF v.online THEN
      EXECUTE pg_catalog.format('GRANT TRIGGER ON %s TO fstore_owner', v.table_oid);
    END IF;
    SET LOCAL ROLE fstore_owner;
    PERFORM fstore._publish_columns(v.table_oid, fstore._view_columns(v), false);
    RESET ROLE;
  END LOOP;
END
$regrant$;
