-- Validated ingestion: INSERT, COPY and fstore.ingest all check the same rules.
SELECT fstore.create_entity('card', 'card_id', 'text');
SELECT fstore.create_feature_view('card_txn', 'card', $$[
  {"name": "amount", "type": "numeric", "validation": {"min": 0, "max": 10000}},
  {"name": "merchant_category", "type": "text", "validation": {"allowed": ["grocery", "travel", "online"]}},
  {"name": "txn_count_1h", "type": "integer", "validation": {"not_null": true}},
  {"name": "device_id", "type": "text", "validation": {"unique": true}},
  {"name": "amount_per_txn", "type": "numeric", "expression": "amount / NULLIF(txn_count_1h, 0)"}
]$$);

-- INSERT
INSERT INTO fstore_data.card_txn (card_id, event_ts, amount, merchant_category, txn_count_1h, device_id)
VALUES ('c1', '2024-05-01 10:00+00', 120.50, 'grocery', 2, 'd1');
SELECT regress_error($$INSERT INTO fstore_data.card_txn (card_id, event_ts, amount, txn_count_1h) VALUES ('c1', now(), -5, 1)$$);
SELECT regress_error($$INSERT INTO fstore_data.card_txn (card_id, event_ts, amount, txn_count_1h) VALUES ('c1', now(), 20000, 1)$$);
SELECT regress_error($$INSERT INTO fstore_data.card_txn (card_id, event_ts, merchant_category, txn_count_1h) VALUES ('c1', now(), 'casino', 1)$$);
SELECT regress_error($$INSERT INTO fstore_data.card_txn (card_id, event_ts, amount) VALUES ('c1', now(), 1)$$);
SELECT regress_error($$INSERT INTO fstore_data.card_txn (card_id, event_ts, txn_count_1h, device_id) VALUES ('c2', now(), 1, 'd1')$$);
SELECT regress_error($$INSERT INTO fstore_data.card_txn (card_id, txn_count_1h) VALUES ('c2', 1)$$);
SELECT regress_error($$INSERT INTO fstore_data.card_txn (card_id, event_ts, txn_count_1h, amount_per_txn) VALUES ('c2', now(), 1, 5)$$);

-- COPY
COPY fstore_data.card_txn (card_id, event_ts, amount, merchant_category, txn_count_1h) FROM stdin;
c2	2024-05-01 11:00+00	40	online	4
c3	2024-05-01 12:00+00	\N	\N	0
\.
\set VERBOSITY terse
COPY fstore_data.card_txn (card_id, event_ts, amount, merchant_category, txn_count_1h) FROM stdin;
c4	2024-05-01 11:00+00	-1	online	4
\.
\set VERBOSITY default
SELECT card_id, amount, merchant_category, txn_count_1h, amount_per_txn FROM fstore_data.card_txn ORDER BY card_id;

-- fstore.ingest: one object or an array; 'raise' is all or nothing
SELECT fstore.ingest('card_txn', '{"card_id": "c5", "event_ts": "2024-05-02T00:00:00Z", "amount": 5, "txn_count_1h": 1}');
SELECT fstore.ingest('card_txn', $$[
  {"card_id": "c6", "event_ts": "2024-05-02T00:00:00Z", "amount": 6, "txn_count_1h": 1, "created_ts": "2024-05-02T00:00:01Z"},
  {"card_id": "c7", "event_ts": "2024-05-02T00:00:00Z", "amount": 7, "txn_count_1h": 1}]$$);
SELECT regress_error($$SELECT fstore.ingest('card_txn', '[{"card_id": "c8", "event_ts": "2024-05-02", "txn_count_1h": 1}, {"card_id": "c9", "event_ts": "2024-05-02", "txn_count_1h": 1, "amount": 99999}]')$$);
SELECT count(*) AS c8_loaded FROM fstore_data.card_txn WHERE card_id = 'c8';
SELECT regress_error($$SELECT fstore.ingest('card_txn', '[{"card_id": "c8", "event_ts": "2024-05-02", "txn_count_1h": 1, "colour": "red"}]')$$);
SELECT regress_error($$SELECT fstore.ingest('card_txn', '[{"card_id": "c8", "event_ts": "2024-05-02", "txn_count_1h": 1, "amount_per_txn": 1}]')$$);
SELECT regress_error($$SELECT fstore.ingest('card_txn', '[1, 2]')$$);
SELECT regress_error($$SELECT fstore.ingest('card_txn', '"text"')$$);
SELECT regress_error($$SELECT fstore.ingest('card_txn', NULL)$$);
SELECT regress_error($$SELECT fstore.ingest('card_txn', '[{"card_id": "c8", "event_ts": "yesterday-ish", "txn_count_1h": 1}]')$$);
SELECT regress_error($$SELECT fstore.ingest('card_txn', '[{"card_id": "c8", "event_ts": "2024-05-02", "txn_count_1h": "many"}]')$$);
SELECT regress_error($$SELECT fstore.ingest('nope', '[]')$$);
SELECT regress_error($$SELECT fstore.ingest('card_txn', '[]', 'ignore')$$);
SELECT fstore.ingest('card_txn', '[]');

-- 'reject': bad rows are kept with the reason, good rows load
SELECT fstore.ingest('card_txn', $$[
  {"card_id": "r1", "event_ts": "2024-05-03T00:00:00Z", "amount": 1, "txn_count_1h": 1},
  {"card_id": "r2", "event_ts": "2024-05-03T00:00:00Z", "amount": -1, "txn_count_1h": 1},
  {"card_id": "r3", "event_ts": "2024-05-03T00:00:00Z", "merchant_category": "casino", "txn_count_1h": 1},
  {"card_id": "r4", "event_ts": "2024-05-03T00:00:00Z", "txn_count_1h": null},
  {"card_id": "r5", "event_ts": "2024-05-03T00:00:00Z", "amount": 5, "txn_count_1h": 1}]$$, 'reject');
SELECT view, row ->> 'card_id' AS card, sqlstate, reason FROM fstore.rejected_rows ORDER BY id;
SELECT card_id FROM fstore_data.card_txn WHERE card_id LIKE 'r%' ORDER BY 1;
