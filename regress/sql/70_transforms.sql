-- Transformations with fitted state (0.2.0): set_transforms and its errors, fitting in a training
-- set, stored versions, applying 'latest' and a number, stale states, unknown versions.
SELECT fstore.create_entity('tf_customer', 'customer_id', 'bigint');
SELECT fstore.create_feature_view('tf_stats', 'tf_customer', '[
  {"name": "spent", "type": "float8"}, {"name": "orders", "type": "integer"},
  {"name": "city", "type": "text"}, {"name": "vip", "type": "boolean"}, {"name": "score", "type": "numeric"}]');
INSERT INTO fstore_data.tf_stats (customer_id, event_ts, spent, orders, city, vip, score)
SELECT i, '2024-01-01'::timestamptz, i * 10.5, i % 7, (ARRAY['Paris', 'Berlin', 'Rome', 'New York'])[1 + i % 4],
       i % 3 = 0, i / 3.0
  FROM generate_series(1, 40) i;
INSERT INTO fstore_data.tf_stats (customer_id, event_ts, spent, orders, city, vip, score)
VALUES (41, '2024-01-01', NULL, NULL, NULL, NULL, NULL);
SELECT fstore.create_feature_service('tf_model', ARRAY['tf_stats:*']);
CREATE TABLE tf_rows AS SELECT i AS customer_id, '2024-02-01'::timestamptz AS event_timestamp, i % 2 AS label
  FROM generate_series(1, 42) i;

-- Errors: unknown service, not a feature of the service, kind against type, bad specs.
SELECT regress_error($q$SELECT fstore.set_transforms('nope', '{}')$q$);
SELECT regress_error($q$SELECT fstore.set_transforms('tf_model', '[]')$q$);
SELECT regress_error($q$SELECT fstore.set_transforms('tf_model', '{"tf_stats:nope": {"kind": "standard"}}')$q$);
SELECT regress_error($q$SELECT fstore.set_transforms('tf_model', '{"tf_stats:city": {"kind": "standard"}}')$q$);
SELECT regress_error($q$SELECT fstore.set_transforms('tf_model', '{"tf_stats:spent": {"kind": "onehot"}}')$q$);
SELECT regress_error($q$SELECT fstore.set_transforms('tf_model', '{"tf_stats:spent": {"kind": "minmax", "clip": "yes"}}')$q$);
SELECT regress_error($q$SELECT fstore.set_transforms('tf_model', '{"tf_stats:spent": {"kind": "bucketize", "boundaries": [3, 1]}}')$q$);
SELECT regress_error($q$SELECT fstore.set_transforms('tf_model', '{"tf_stats:city": {"kind": "onehot", "max_categories": 0}}')$q$);
SELECT regress_error($q$SELECT fstore.set_transforms('tf_model', '{"tf_stats:city": {"kind": "label", "impute": "mean"}}')$q$);

-- Every kind; the specs come back normalized, the service's version moves, history records it.
SELECT fstore.set_transforms('tf_model', '{
  "tf_stats:spent": {"kind": "standard", "impute": "mean"},
  "tf_stats:orders": {"kind": "bucketize", "bins": 3},
  "tf_stats:city": {"kind": "onehot", "max_categories": 2},
  "tf_stats:vip": {"kind": "label"},
  "tf_stats:score": {"kind": "robust"}}');
SELECT version, jsonb_pretty(transforms) FROM fstore.feature_services WHERE name = 'tf_model';
SELECT action, old_version, new_version FROM fstore.registry_history
 WHERE object_name = 'tf_model' ORDER BY at;

-- Applying before anything was fitted, or a version that does not exist: 42704, never a fallback.
SELECT regress_error($q$SELECT fstore.create_training_set('tf_none', 'tf_rows', feature_service => 'tf_model', transform => 'latest')$q$);
SELECT regress_error($q$SELECT fstore.create_training_set('tf_none', 'tf_rows', features => ARRAY['tf_stats:spent'], transform => 'fit')$q$);
SELECT regress_error($q$SELECT fstore.create_training_set('tf_none', 'tf_rows', feature_service => 'tf_model', transform => 'sometimes')$q$);

-- Fit: the state is fitted on the training set's own rows and stored as version 1.
SELECT fstore.create_training_set('tf_fit', 'tf_rows', feature_service => 'tf_model', transform => 'fit');
SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'tf_fit' ORDER BY ordinal_position;
SELECT service, version, fitted_by, entity_rows, row_count, features FROM fstore.transform_versions;
SELECT state -> 'tf_stats:spent' -> 'mean' AS mean, state -> 'tf_stats:city' -> 'columns' AS city_columns
  FROM fstore.transform_versions WHERE service = 'tf_model';
-- The standardized column has mean 0 and population stddev 1 over the rows it was fitted on
-- (NULL spent imputed with the mean, entity 42 has no row at all: imputed too).
SELECT round(avg(spent)::numeric, 12) AS mean, round(stddev_pop(spent)::numeric, 12) AS stddev,
       count(*) FILTER (WHERE spent IS NULL) AS nulls FROM tf_fit;
SELECT customer_id, city__berlin, city__new_york, city__other, vip, orders, spent FROM tf_fit WHERE customer_id IN (1, 2, 3, 41, 42) ORDER BY 1;

-- Apply the stored state: the same values as the fitted training set.
SELECT fstore.create_training_set('tf_latest', 'tf_rows', feature_service => 'tf_model', transform => 'latest');
SELECT fstore.create_training_set('tf_v1', 'tf_rows', feature_service => 'tf_model', transform => '1');
SELECT count(*) AS differing_rows FROM tf_fit f JOIN tf_v1 v USING (customer_id)
 WHERE (f.spent, f.orders, f.city__berlin, f.city__other, f.vip, f.score)
       IS DISTINCT FROM (v.spent, v.orders, v.city__berlin, v.city__other, v.vip, v.score);
SELECT regress_error($q$SELECT fstore.create_training_set('tf_v9', 'tf_rows', feature_service => 'tf_model', transform => '9')$q$);

-- A state is immutable; a service changed after fitting refuses the stale state.
SELECT regress_error($q$UPDATE fstore.transform_version_registry SET state = '{}'$q$);
SELECT fstore.set_transforms('tf_model', '{"tf_stats:spent": {"kind": "minmax"}}');
SELECT regress_error($q$SELECT fstore.create_training_set('tf_stale', 'tf_rows', feature_service => 'tf_model', transform => 'latest')$q$);
SELECT fstore.create_training_set('tf_fit2', 'tf_rows', feature_service => 'tf_model', transform => 'fit');
SELECT min(spent), max(spent) FROM tf_fit2;
SELECT fstore.set_feature_status('tf_stats:orders', 'archived');
SELECT regress_error($q$SELECT fstore.create_training_set('tf_stale2', 'tf_rows', feature_service => 'tf_model', transform => 'latest')$q$);

DROP TABLE tf_rows, tf_fit, tf_latest, tf_v1, tf_fit2;
