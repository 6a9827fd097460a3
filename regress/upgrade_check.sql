-- After the update: everything of regress/upgrade_fixture.sql is still there and still works.
SELECT count(*) AS entities FROM fstore.entities WHERE name = 'up_driver';
SELECT name, version FROM fstore.feature_views WHERE name LIKE 'up\_%' ORDER BY name;
SELECT count(*) AS features FROM fstore.features WHERE view LIKE 'up\_%';
SELECT count(*) AS services FROM fstore.feature_services WHERE name = 'up_service';
SELECT count(*) AS rows FROM fstore_data.up_stats;
SELECT count(*) AS rejected FROM fstore.rejected_rows WHERE view = 'up_stats';
SELECT fstore.lookup_api_token(:'up_token') AS token_role;
SELECT count(*) > 0 AS queued_changes_kept FROM fstore.change_queue WHERE view_name = 'up_stats';
-- Ingestion, validation and capture still work on the view made before the update.
SELECT fstore.ingest('up_stats', '{"driver_id": 4, "event_ts": "2024-01-04", "trips": 2, "rate": 0.2}');
SELECT trips_x2 FROM fstore_data.up_stats WHERE driver_id = 4;
SELECT count(*) AS queued_for_new_row FROM fstore.change_queue WHERE view_name = 'up_stats' AND '4' = ANY (keys);
-- Managed tables now belong to fstore_owner; the registered table is shared by column only.
SELECT tableowner FROM pg_tables WHERE schemaname = 'fstore_data' AND tablename = 'up_stats';
SELECT attname, has_column_privilege('fstore_reader', 'public.up_src', attname, 'SELECT') AS reader_may_select
  FROM pg_attribute WHERE attrelid = 'public.up_src'::regclass AND attnum > 0 ORDER BY attnum;
SELECT fstore.registry_version() >= 0 AS registry_version_works;
-- The registered table in its own schema is still captured and shared by column.
INSERT INTO up_schema.up_events VALUES (2, '2024-01-02', 4);
SELECT count(*) AS queued_for_up_reg2 FROM fstore.change_queue WHERE view_name = 'up_reg2' AND '2' = ANY (keys);
SELECT has_column_privilege('fstore_reader', 'up_schema.up_events', 'level', 'SELECT') AS reader_may_select_level;
