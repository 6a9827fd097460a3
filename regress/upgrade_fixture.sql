-- Data put in place before ALTER EXTENSION fstore UPDATE (regress/upgrade_test.sh): written
-- against the oldest release's API, so it loads into every release. The update must keep all of it.
SELECT fstore.create_entity('up_driver', 'driver_id', 'bigint', description => 'upgrade fixture');
SELECT fstore.create_feature_view('up_stats', 'up_driver', '[
  {"name": "trips", "type": "integer", "validation": {"min": 0}},
  {"name": "rate", "type": "float8", "validation": {"min": 0, "max": 1}},
  {"name": "trips_x2", "type": "bigint", "expression": "trips * 2"}]', ttl => '1 day');
CREATE TABLE public.up_src (driver_id bigint, event_ts timestamptz, score float8, secret text);
CREATE INDEX ON public.up_src (driver_id, event_ts);
INSERT INTO public.up_src VALUES (1, '2024-01-01', 0.5, 'hidden'), (2, '2024-01-02', 0.7, 'hidden');
SELECT fstore.register_feature_view('up_reg', 'up_driver', 'public.up_src', features => ARRAY['score']);
-- A registered table in a schema of its own, where fstore's owner role has no rights of its own.
CREATE SCHEMA up_schema;
CREATE TABLE up_schema.up_events (driver_id bigint, event_ts timestamptz, level int);
INSERT INTO up_schema.up_events VALUES (1, '2024-01-01', 3);
SELECT fstore.register_feature_view('up_reg2', 'up_driver', 'up_schema.up_events');
SELECT fstore.create_feature_service('up_service', ARRAY['up_stats:trips', 'up_reg:score']);
SELECT fstore.ingest('up_stats', '[{"driver_id": 1, "event_ts": "2024-01-01", "trips": 3, "rate": 0.5},
                                   {"driver_id": 2, "event_ts": "2024-01-01", "trips": -1, "rate": 0.5}]', 'reject');
SELECT fstore.create_api_token('up_token', 'reader') AS up_token \gset
-- Queued changes nobody synced yet.
INSERT INTO fstore_data.up_stats (driver_id, event_ts, trips, rate) VALUES (3, '2024-01-03', 1, 0.1);
