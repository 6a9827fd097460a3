-- Least privilege: nothing for PUBLIC; readers read, writers ingest, admins change the registry.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA fstore FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA fstore FROM PUBLIC;
GRANT USAGE ON SCHEMA fstore, fstore_data TO fstore_reader;

GRANT SELECT ON fstore.entities, fstore.feature_views, fstore.features, fstore.feature_services,
                fstore.registry_history, fstore.rejected_rows TO fstore_reader;
GRANT SELECT ON fstore.api_tokens TO fstore_admin;
GRANT EXECUTE ON FUNCTION fstore.lookup_api_token(text) TO fstore_reader;
-- Feature constraints call it on every write path, by whoever writes; it only ever raises.
GRANT EXECUTE ON FUNCTION fstore._validation_failed(text, text, text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION fstore.create_training_set(text, text, text[], text, boolean) TO fstore_reader;
GRANT EXECUTE ON FUNCTION fstore._resolve_feature_refs(text[]), fstore._view(text) TO fstore_reader;

GRANT EXECUTE ON FUNCTION fstore.ingest(text, jsonb, text), fstore._writable_columns(fstore.view_registry)
  TO fstore_writer;
GRANT INSERT ON fstore.rejected_rows TO fstore_writer;
GRANT USAGE ON SEQUENCE fstore.rejected_rows_id_seq TO fstore_writer;

GRANT EXECUTE ON FUNCTION
  fstore.create_entity(text, text, regtype, text, text, text[]),
  fstore.create_feature_view(text, text, jsonb, interval, boolean, text, text, text[]),
  fstore.register_feature_view(text, text, regclass, text, text, text[], interval, boolean, text, text, text[]),
  fstore.add_features(text, jsonb),
  fstore.set_feature_status(text, text),
  fstore.drop_feature_view(text, boolean),
  fstore.create_feature_service(text, text[], text, text, text[]),
  fstore.create_api_token(text, text),
  fstore.revoke_api_token(text)
TO fstore_admin;
