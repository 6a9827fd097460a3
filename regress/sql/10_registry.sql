-- Registry: entities, feature views, features, services, versions and history.

-- Entities
SELECT fstore.create_entity('driver', 'driver_id', 'bigint', 'A driver', 'ml-team', ARRAY['core']);
SELECT fstore.create_entity('customer', 'customer_id');
SELECT name, join_key, key_type, description, owner, tags FROM fstore.entities ORDER BY name;
SELECT regress_error($$SELECT fstore.create_entity('driver', 'driver_id', 'bigint')$$);
SELECT regress_error($$SELECT fstore.create_entity('bad name', 'id')$$);
SELECT regress_error($$SELECT fstore.create_entity('x"; DROP TABLE t; --', 'id')$$);
SELECT regress_error($$SELECT fstore.create_entity('ok', 'bad-key')$$);
SELECT regress_error($$SELECT fstore.create_entity('ok', 'id', 'float8')$$);
SELECT regress_error($$SELECT fstore.create_entity('ok', 'event_ts')$$);
SELECT regress_error($$SELECT fstore.create_entity(NULL, 'id')$$);
SELECT regress_error($$SELECT fstore.create_entity(repeat('a', 64), 'id')$$);
SELECT regress_error($$SELECT fstore.create_entity('ok', 'id', tags => ARRAY[NULL])$$);

-- Managed feature views
SELECT fstore.create_feature_view('driver_stats', 'driver', $$[
  {"name": "conv_rate", "type": "float8", "description": "conversion", "tags": ["pii-free"],
   "validation": {"min": 0, "max": 1}},
  {"name": "trips", "type": "integer", "validation": {"not_null": true}},
  {"name": "tier", "type": "text", "validation": {"allowed": ["gold", "silver"]}},
  {"name": "trips_x2", "type": "bigint", "expression": "trips * 2"},
  {"name": "code", "type": "text", "status": "draft", "validation": {"unique": true}}
]$$, ttl => '7 days', description => 'Driver statistics', tags => ARRAY['drivers']);
SELECT name, entity, table_name, ttl, online, version, description, tags, join_key, key_type,
       timestamp_column, created_column FROM fstore.feature_views;
SELECT view, name, entity, type, status, version, validation, expression, position
  FROM fstore.features ORDER BY position;
\d fstore_data.driver_stats

-- Feature view errors
SELECT regress_error($$SELECT fstore.create_feature_view('driver_stats', 'driver', '[]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'nobody', '[]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '{}')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "a"}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "a", "type": "nosuchtype"}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "a", "type": "int; DROP TABLE t"}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "a", "type": "anyelement"}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "x\"y", "type": "int"}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "driver_id", "type": "int"}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "event_ts", "type": "int"}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "a", "type": "int", "colour": "red"}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "a", "type": "int", "status": "retired"}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "a", "type": "int", "validation": {"min": "abc"}}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "a", "type": "int", "validation": {"between": 1}}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "a", "type": "int", "validation": {"not_null": "yes"}}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "a", "type": "int", "validation": {"allowed": []}}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "a", "type": "int", "expression": "1) STORED, b int); DROP TABLE t; --"}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "a", "type": "int", "expression": "(SELECT 1)"}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[{"name": "a", "type": "int", "expression": "nosuchcolumn + 1"}]')$$);
SELECT regress_error($$SELECT fstore.create_feature_view('v1', 'driver', '[]', ttl => '-1 day')$$);
-- None of the failed calls left anything behind.
SELECT count(*) AS views FROM fstore.feature_views;
SELECT count(*) AS tables FROM pg_tables WHERE schemaname = 'fstore_data';

-- Registered (user-owned) views: nothing copied
CREATE TABLE public.customer_profile (
  customer_id text NOT NULL, updated timestamptz NOT NULL, loaded timestamptz NOT NULL DEFAULT now(),
  segment text, lifetime_value numeric);
SELECT fstore.register_feature_view('customer_profile', 'customer', 'public.customer_profile',
                                    timestamp_column => 'updated', created_column => 'loaded');
CREATE INDEX ON public.customer_profile (customer_id, updated);
SELECT name, table_name, join_key, timestamp_column, created_column, managed FROM fstore.feature_views
 WHERE name = 'customer_profile';
SELECT view, name, type FROM fstore.features WHERE view = 'customer_profile' ORDER BY position;
SELECT regress_error($$SELECT fstore.register_feature_view('p2', 'customer', 'public.customer_profile')$$);
SELECT regress_error($$SELECT fstore.register_feature_view('p2', 'driver', 'public.customer_profile', 'updated')$$);
SELECT regress_error($$SELECT fstore.register_feature_view('p2', 'customer', 'public.customer_profile', 'updated', features => ARRAY['nope'])$$);
SELECT regress_error($$SELECT fstore.register_feature_view('p2', 'customer', 'public.customer_profile', 'segment')$$);
SELECT regress_error($$SELECT fstore.register_feature_view('p2', 'customer', 'fstore.entities', 'updated')$$);

-- add_features bumps the minor version, set_feature_status the patch version
SELECT fstore.add_features('driver_stats', '[{"name": "rating", "type": "numeric", "validation": {"min": 1, "max": 5}}]');
SELECT fstore.set_feature_status('driver_stats:tier', 'deprecated');
SELECT fstore.set_feature_status('driver_stats:tier', 'deprecated');  -- no change, no bump
SELECT fstore.set_feature_status('driver_stats:code', 'archived');
SELECT version FROM fstore.feature_views WHERE name = 'driver_stats';
SELECT name, status, version FROM fstore.features WHERE view = 'driver_stats' ORDER BY position;
SELECT regress_error($$SELECT fstore.add_features('driver_stats', '[{"name": "trips", "type": "int"}]')$$);
SELECT regress_error($$SELECT fstore.add_features('nope', '[{"name": "a", "type": "int"}]')$$);
SELECT regress_error($$SELECT fstore.add_features('driver_stats', '[]')$$);
SELECT regress_error($$SELECT fstore.add_features('customer_profile', '[{"name": "nope", "type": "int"}]')$$);
SELECT regress_error($$SELECT fstore.set_feature_status('driver_stats:nope', 'active')$$);
SELECT regress_error($$SELECT fstore.set_feature_status('driver_stats', 'active')$$);
SELECT regress_error($$SELECT fstore.set_feature_status('driver_stats:trips', 'gone')$$);
SELECT regress_error($$SELECT fstore.set_feature_status('nope:trips', 'active')$$);

-- Feature services
SELECT fstore.create_feature_service('driver_model', ARRAY['driver_stats:conv_rate', 'customer_profile:*'],
                                     'Ranks drivers', tags => ARRAY['ranking']);
SELECT name, features, description, tags FROM fstore.feature_services;
SELECT regress_error($$SELECT fstore.create_feature_service('driver_model', ARRAY['driver_stats:trips'])$$);
SELECT regress_error($$SELECT fstore.create_feature_service('s2', ARRAY['driver_stats:nope'])$$);
SELECT regress_error($$SELECT fstore.create_feature_service('s2', ARRAY['nope:x'])$$);
SELECT regress_error($$SELECT fstore.create_feature_service('s2', ARRAY['driver_stats:code'])$$);
SELECT regress_error($$SELECT fstore.create_feature_service('s2', ARRAY['no colon'])$$);
SELECT regress_error($$SELECT fstore.create_feature_service('s2', '{}')$$);

-- drop_feature_view
SELECT regress_error($$SELECT fstore.drop_feature_view('driver_stats')$$);
SELECT fstore.create_feature_view('scratch', 'driver', '[{"name": "x", "type": "int"}]');
SELECT fstore.drop_feature_view('scratch');
SELECT to_regclass('fstore_data.scratch') AS kept_table;
SELECT regress_error($$SELECT fstore.create_feature_view('scratch', 'driver', '[]')$$);
DROP TABLE fstore_data.scratch;
SELECT fstore.create_feature_view('scratch', 'driver', '[{"name": "x", "type": "int"}]');
SELECT fstore.drop_feature_view('scratch', drop_data => true);
SELECT to_regclass('fstore_data.scratch') AS dropped_table;
SELECT regress_error($$SELECT fstore.drop_feature_view('scratch')$$);

-- History records every change, in order
SELECT object_type, object_name, action, old_version, new_version, actor = session_user AS by_me
  FROM fstore.registry_history ORDER BY at;
