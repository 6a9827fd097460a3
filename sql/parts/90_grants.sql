-- Least privilege: nothing for PUBLIC; readers read, writers ingest, admins change the registry.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA fstore FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA fstore FROM PUBLIC;
GRANT USAGE ON SCHEMA fstore, fstore_data TO fstore_reader;

GRANT SELECT ON fstore.entities, fstore.feature_views, fstore.features, fstore.feature_services,
                fstore.registry_history TO fstore_reader;
-- Rejected rows: readers see those of views they may read (row-level policy, 30_ingest.sql);
-- nobody inserts directly (fstore._reject).
GRANT SELECT ON fstore.rejected_rows TO fstore_reader;
REVOKE INSERT ON fstore.rejected_rows FROM fstore_writer;
REVOKE USAGE ON SEQUENCE fstore.rejected_rows_id_seq FROM fstore_writer;
GRANT EXECUTE ON FUNCTION fstore._may_read_view(text, name), fstore.registry_version() TO fstore_reader;
GRANT SELECT ON fstore.api_tokens TO fstore_admin;
GRANT EXECUTE ON FUNCTION fstore.lookup_api_token(text) TO fstore_reader;
-- Feature constraints call it on every write path, by whoever writes; it only ever raises.
GRANT EXECUTE ON FUNCTION fstore._validation_failed(text, text, text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION fstore.create_training_set(text, text, text[], text, boolean, text) TO fstore_reader;
-- Transformations (0.2.0): readers fit and apply in training sets; admins set them.
GRANT SELECT ON fstore.transform_versions TO fstore_reader;
GRANT EXECUTE ON FUNCTION fstore._store_transform_version(text, jsonb, text, bigint, jsonb),
                          fstore._transform_state(text, text) TO fstore_reader;
GRANT EXECUTE ON FUNCTION fstore._resolve_feature_refs(text[]), fstore._view(text), fstore._column_type(regclass, text)
  TO fstore_reader;

GRANT EXECUTE ON FUNCTION fstore.ingest(text, jsonb, text), fstore._writable_columns(fstore.view_registry),
                          fstore._ingest_sql(fstore.view_registry, text[])
  TO fstore_writer;
GRANT EXECUTE ON FUNCTION fstore._reject(text, jsonb, text, text),
                          fstore.materialize(text, timestamptz, timestamptz) TO fstore_writer;

GRANT EXECUTE ON FUNCTION
  fstore.create_entity(text, text, regtype, text, text, text[]),
  fstore.create_feature_view(text, text, jsonb, interval, boolean, text, text, text[], text, interval),
  fstore.maintain_partitions(text),
  fstore.register_feature_view(text, text, regclass, text, text, text[], interval, boolean, text, text, text[]),
  fstore._register_feature_view(text, text, regclass, text, text, text[], interval, boolean, text, text, text[]),
  fstore._delegate_columns(regclass, text[], boolean),
  fstore.add_features(text, jsonb),
  fstore._add_features(text, jsonb),
  fstore.set_feature_status(text, text),
  fstore.drop_feature_view(text, boolean),
  fstore._drop_feature_view(text, boolean),
  fstore._detach_triggers(regclass),
  fstore.create_feature_service(text, text[], text, text, text[]),
  fstore.set_transforms(text, jsonb),
  fstore.create_api_token(text, text),
  fstore.revoke_api_token(text)
TO fstore_admin;

-- Statistics, drift and monitors (0.2.0): readers read them and compute drift (with their own
-- rights on the view); writers store statistics snapshots; admins manage monitors; the syncing
-- server runs them.
GRANT SELECT ON fstore.statistics, fstore.monitors, fstore.monitor_results TO fstore_reader;
GRANT EXECUTE ON FUNCTION fstore._statistics_pass(text, timestamptz, timestamptz),
                          fstore.feature_drift(text, timestamptz, timestamptz, timestamptz, timestamptz),
                          fstore._drift_metrics(regtype) TO fstore_reader;
GRANT EXECUTE ON FUNCTION fstore.compute_statistics(text, timestamptz, timestamptz),
                          fstore._store_statistics(text, timestamptz, timestamptz, jsonb) TO fstore_writer;
GRANT EXECUTE ON FUNCTION fstore.create_monitor(text, text, text, float8, interval, interval, interval, text, text),
                          fstore.drop_monitor(text) TO fstore_admin;
GRANT EXECUTE ON FUNCTION fstore._run_due_monitor() TO fstore_sync;
-- (0.2.0) the syncing fstore-server keeps partitions ahead and applies retention.
GRANT EXECUTE ON FUNCTION fstore.maintain_partitions(text) TO fstore_sync;
-- Stream sources (0.2.0): admins create and drop them, every role sees the catalog view (options
-- with secrets masked), fstore-server (fstore_sync) reads the sources and stores batches.
GRANT EXECUTE ON FUNCTION fstore.create_stream_source(text, text, jsonb, text), fstore.drop_stream_source(text)
  TO fstore_admin;
GRANT SELECT ON fstore.stream_sources TO fstore_reader;
GRANT EXECUTE ON FUNCTION fstore._mask_stream_options(jsonb) TO fstore_reader;
GRANT SELECT ON fstore.stream_source_registry, fstore.stream_offsets TO fstore_sync;
GRANT EXECUTE ON FUNCTION fstore._stream_store(text, text, jsonb, jsonb),
                          fstore._stream_report(text, text, text, text, jsonb) TO fstore_sync;
