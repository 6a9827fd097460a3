-- Least privilege: readers read, writers ingest, admins change the registry; API tokens.
CREATE ROLE regress_reader LOGIN IN ROLE fstore_reader;
CREATE ROLE regress_writer LOGIN IN ROLE fstore_writer;
CREATE ROLE regress_admin LOGIN IN ROLE fstore_admin;
CREATE ROLE regress_nobody LOGIN;
GRANT CREATE ON SCHEMA public TO regress_reader;

SET ROLE regress_nobody;
SELECT regress_error($$SELECT count(*) FROM fstore.entities$$);
SELECT regress_error($$SELECT count(*) FROM fstore_data.card_txn$$);
RESET ROLE;

SET ROLE regress_reader;
SELECT count(*) > 0 AS reader_sees_catalog FROM fstore.features;
SELECT count(*) > 0 AS reader_sees_data FROM fstore_data.card_txn;
SELECT regress_error($$SELECT fstore.ingest('card_txn', '{"card_id": "x", "event_ts": "2024-01-01", "txn_count_1h": 1}')$$);
SELECT regress_error($$INSERT INTO fstore_data.card_txn (card_id, event_ts, txn_count_1h) VALUES ('x', now(), 1)$$);
SELECT regress_error($$SELECT fstore.create_entity('r', 'r_id')$$);
SELECT regress_error($$SELECT fstore.create_api_token('t', 'reader')$$);
SELECT regress_error($$SELECT * FROM fstore.api_token_registry$$);
RESET ROLE;

SET ROLE regress_writer;
SELECT fstore.ingest('card_txn', '{"card_id": "w1", "event_ts": "2024-01-01T00:00:00Z", "txn_count_1h": 1}');
SELECT fstore.ingest('card_txn', '{"card_id": "w2", "event_ts": "2024-01-01T00:00:00Z", "txn_count_1h": 1, "amount": -3}', 'reject');
INSERT INTO fstore_data.card_txn (card_id, event_ts, txn_count_1h) VALUES ('w3', now(), 1);
SELECT regress_error($$SELECT fstore.create_entity('w', 'w_id')$$);
SELECT regress_error($$SELECT fstore.add_features('card_txn', '[{"name": "x", "type": "int"}]')$$);
SELECT regress_error($$SELECT fstore.set_feature_status('card_txn:amount', 'deprecated')$$);
SELECT regress_error($$SELECT fstore.drop_feature_view('card_txn')$$);
SELECT regress_error($$TRUNCATE fstore_data.card_txn$$);
SELECT regress_error($$ALTER TABLE fstore_data.card_txn DROP CONSTRAINT amount_min$$);
SELECT regress_error($$UPDATE fstore.feature_registry SET status = 'active'$$);
RESET ROLE;

SET ROLE regress_admin;
SELECT fstore.create_entity('store', 'store_id', 'integer');
SELECT fstore.create_feature_view('store_stats', 'store', '[{"name": "visits", "type": "int"}]');
-- Tokens: shown once, stored hashed, checked by role, revocable
CREATE TEMP TABLE tokens AS
  SELECT fstore.create_api_token('svc_reader', 'reader') AS reader_token,
         fstore.create_api_token('svc_writer', 'writer') AS writer_token;
SELECT reader_token ~ '^fst_[0-9a-f]{64}$' AS well_formed, reader_token <> writer_token AS distinct_tokens FROM tokens;
SELECT name, role, revoked_at IS NULL AS live FROM fstore.api_tokens ORDER BY name;
SELECT fstore.lookup_api_token(reader_token) AS reader_role, fstore.lookup_api_token(writer_token) AS writer_role,
       fstore.lookup_api_token('fst_guess') AS unknown FROM tokens;
SELECT regress_error($$SELECT fstore.create_api_token('svc_reader', 'reader')$$);
-- (0.2.0) admin tokens, and names that are labels: letters, digits, '-', '_', '.', 1 to 63 characters.
SELECT fstore.lookup_api_token(fstore.create_api_token('ci.nightly-admin_2', 'admin')) AS admin_role;
SELECT fstore.lookup_api_token(fstore.create_api_token(repeat('a', 63), 'reader')) AS longest_name;
SELECT regress_error($$SELECT fstore.create_api_token('svc_owner', 'owner')$$);
SELECT regress_error($$SELECT fstore.create_api_token(NULL, 'reader')$$);
SELECT regress_error($$SELECT fstore.create_api_token('', 'reader')$$);
SELECT regress_error($$SELECT fstore.create_api_token(repeat('a', 64), 'reader')$$);
SELECT regress_error($$SELECT fstore.create_api_token('has space', 'reader')$$);
SELECT regress_error($$SELECT fstore.create_api_token('semi;colon', 'reader')$$);
SELECT regress_error($$SELECT fstore.create_api_token(E'new\nline', 'reader')$$);
SELECT fstore.revoke_api_token('ci.nightly-admin_2');
SELECT fstore.revoke_api_token(repeat('a', 63));
SELECT fstore.revoke_api_token('svc_reader');
SELECT fstore.lookup_api_token(reader_token) AS revoked_role FROM tokens;
SELECT regress_error($$SELECT fstore.revoke_api_token('svc_reader')$$);
RESET ROLE;
-- Only hashes are stored.
SELECT count(*) AS plaintext_tokens FROM fstore.api_token_registry r, tokens t
 WHERE position(convert_to(t.reader_token, 'UTF8') IN r.token_hash) > 0 OR length(r.token_hash) <> 32;

-- Objects made through SECURITY DEFINER functions are not owned by the caller.
SELECT tableowner = 'fstore_owner' AS owned_by_fstore_owner FROM pg_tables
 WHERE schemaname = 'fstore_data' AND tablename = 'store_stats';
SELECT actor FROM fstore.registry_history WHERE object_name = 'store' ;
