-- Stream sources (0.2.0): create/drop and their errors, the catalog view, and _stream_store, the
-- one transaction fstore-server stores a batch and its offsets in (exactly once, bad rows aside).
SELECT fstore.create_entity('sk_card', 'card_id', 'text');
SELECT fstore.create_feature_view('sk_txn', 'sk_card', $$[
  {"name": "amount", "type": "numeric", "validation": {"min": 0, "max": 10000}},
  {"name": "n", "type": "integer", "validation": {"not_null": true}},
  {"name": "device", "type": "text", "validation": {"unique": true}},
  {"name": "double_n", "type": "integer", "expression": "n * 2"}
]$$);

-- Errors: names, kind, view, options.
SELECT regress_error($q$SELECT fstore.create_stream_source('bad name!', 'sk_txn', '{"brokers": "127.0.0.1:9092", "topic": "t"}')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '{"brokers": "127.0.0.1:9092", "topic": "t"}', 'kinesis')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'nope', '{"brokers": "127.0.0.1:9092", "topic": "t"}')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '[]')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '{"topic": "t"}')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '{"brokers": "a b", "topic": "t"}')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '{"brokers": "127.0.0.1:9092"}')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '{"brokers": "127.0.0.1:9092", "topic": "a/b"}')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '{"brokers": "127.0.0.1:9092", "topic": "t", "colour": 1}')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '{"brokers": "127.0.0.1:9092", "topic": "t", "format": "avro"}')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '{"brokers": "127.0.0.1:9092", "topic": "t", "batch_size": 0}')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '{"brokers": "127.0.0.1:9092", "topic": "t", "batch_ms": 1.5}')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '{"brokers": "127.0.0.1:9092", "topic": "t", "start": "middle"}')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '{"brokers": "127.0.0.1:9092", "topic": "t", "kafka": {"enable.auto.commit": true}}')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '{"brokers": "127.0.0.1:9092", "topic": "t", "kafka": {"plugin.library.paths": "/tmp/x.so"}}')$q$);
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '{"brokers": "127.0.0.1:9092", "topic": "t", "kafka": {"fetch.wait.max.ms": [1]}}')$q$);
SELECT regress_error($q$SELECT fstore.drop_stream_source('nope')$q$);

-- Created with every default written out; secrets masked in the catalog view; history and the
-- registry version record it.
SELECT fstore.registry_version() AS v0 \gset
SELECT fstore.create_stream_source('s1', 'sk_txn', '{"brokers": "127.0.0.1:9092", "topic": "card_txns",
  "kafka": {"fetch.wait.max.ms": 50, "sasl.password": "hunter2"}}');
SELECT regress_error($q$SELECT fstore.create_stream_source('s1', 'sk_txn', '{"brokers": "127.0.0.1:9092", "topic": "t"}')$q$);
SELECT name, view, kind, options, state, lag, last_error FROM fstore.stream_sources;
SELECT fstore.registry_version() > :v0 AS registry_version_moved;
SELECT object_type, object_name, action, detail FROM fstore.registry_history WHERE object_type = 'stream_source';
SELECT options -> 'kafka' ->> 'sasl.password' AS stored_for_the_server FROM fstore.stream_source_registry;

-- A batch: good rows, a row with an unknown field, a derived field, a wrong type, failed
-- validation (min, not_null, unique twice in one batch), a message the server could not parse,
-- a non-object; one message of two rows (same offset).
SELECT fstore._stream_store('s1', 'card_txns', $$[
  {"p": 0, "o": 0, "row": {"card_id": "a", "event_ts": "2024-05-01T00:00:00Z", "amount": 1, "n": 1, "device": "d1"}},
  {"p": 0, "o": 1, "row": {"card_id": "b", "event_ts": "2024-05-01T00:00:00Z", "amount": 2, "n": 2, "colour": "red"}},
  {"p": 0, "o": 2, "row": {"card_id": "c", "event_ts": "2024-05-01T00:00:00Z", "n": 3, "double_n": 9}},
  {"p": 0, "o": 3, "row": {"card_id": "d", "event_ts": "2024-05-01T00:00:00Z", "amount": "lots", "n": 4}},
  {"p": 1, "o": 0, "row": {"card_id": "e", "event_ts": "2024-05-01T00:00:00Z", "amount": -1, "n": 5}},
  {"p": 1, "o": 1, "row": {"card_id": "f", "event_ts": "2024-05-01T00:00:00Z", "amount": 6}},
  {"p": 1, "o": 2, "row": {"card_id": "g", "event_ts": "2024-05-01T00:00:00Z", "n": 7, "device": "d1"}},
  {"p": 1, "o": 3, "raw": "{not json", "error": "invalid JSON: syntax error at byte 1", "sqlstate": "22P02"},
  {"p": 1, "o": 4, "row": 42},
  {"p": 1, "o": 5, "row": {"card_id": "h", "event_ts": "2024-05-01T00:00:00Z", "n": 8}},
  {"p": 1, "o": 5, "row": {"card_id": "i", "event_ts": "2024-05-01T00:00:00Z", "n": 9}},
  {"p": 2, "o": 7, "row": {"card_id": "j", "event_ts": "2024-05-01T00:00:00Z", "n": 10}}
]$$, '{"0": 10, "1": 6, "2": 8}');
SELECT card_id, amount, n, device, double_n FROM fstore_data.sk_txn ORDER BY card_id;
SELECT source, partition, "offset", row, sqlstate, reason FROM fstore.rejected_rows WHERE view = 'sk_txn' ORDER BY partition, "offset";
SELECT topic, partition, next_offset, high_watermark FROM fstore.stream_offsets ORDER BY partition;
SELECT name, state, lag FROM fstore.stream_sources;

-- The same batch again (a server that crashed after the commit, or a partition that moved):
-- everything is skipped, nothing lands twice. Overlap: only the new message lands.
SELECT fstore._stream_store('s1', 'card_txns', '[{"p": 0, "o": 0, "row": {"card_id": "a", "event_ts": "2024-05-01T00:00:00Z", "n": 1}}]');
SELECT fstore._stream_store('s1', 'card_txns', $$[
  {"p": 2, "o": 7, "row": {"card_id": "j", "event_ts": "2024-05-01T00:00:00Z", "n": 10}},
  {"p": 2, "o": 8, "row": {"card_id": "k", "event_ts": "2024-05-01T00:00:00Z", "n": 11}}]$$);
SELECT card_id, count(*) FROM fstore_data.sk_txn GROUP BY card_id HAVING count(*) > 1;
SELECT count(*) AS rows FROM fstore_data.sk_txn;
SELECT count(*) AS rejected FROM fstore.rejected_rows WHERE source = 's1';

-- Stored changes reach the online store's queue like any ingestion.
SELECT count(*) > 0 AS queued FROM fstore.change_queue WHERE view_name = 'sk_txn';

-- Errors of _stream_store: an unknown source, another topic, not an array.
SELECT regress_error($q$SELECT fstore._stream_store('nope', 'card_txns', '[]')$q$);
SELECT regress_error($q$SELECT fstore._stream_store('s1', 'other', '[]')$q$);
SELECT regress_error($q$SELECT fstore._stream_store('s1', 'card_txns', '{}')$q$);

-- Reports: state, error and watermarks; a report for a dropped source is ignored.
SELECT fstore._stream_report('s1', 'retrying', 'broker 127.0.0.1:1 down', 'test', '{"0": 12, "2": 9}');
SELECT name, state, lag, last_error, reported_by FROM fstore.stream_sources;
SELECT regress_error($q$SELECT fstore._stream_report('s1', 'sleepy', NULL, 'test')$q$);
SELECT fstore._stream_report('gone', 'running', NULL, 'test');

-- Privileges: writers and readers may neither register sources nor store batches; readers see
-- the catalog view; fstore_sync stores.
CREATE ROLE st_writer LOGIN IN ROLE fstore_writer;
CREATE ROLE st_sync LOGIN IN ROLE fstore_sync;
SET ROLE st_writer;
SELECT regress_error($q$SELECT fstore.create_stream_source('s2', 'sk_txn', '{"brokers": "127.0.0.1:9092", "topic": "t"}')$q$);
SELECT regress_error($q$SELECT fstore._stream_store('s1', 'card_txns', '[]')$q$);
SELECT regress_error($q$SELECT fstore.drop_stream_source('s1')$q$);
SELECT regress_error($q$SELECT * FROM fstore.stream_offsets$q$);
SELECT name, options -> 'kafka' AS kafka FROM fstore.stream_sources;
RESET ROLE;
SET ROLE st_sync;
SELECT fstore._stream_store('s1', 'card_txns', '[{"p": 2, "o": 9, "row": {"card_id": "l", "event_ts": "2024-05-01T00:00:00Z", "n": 12}}]');
SELECT count(*) AS sources_visible_to_sync FROM fstore.stream_source_registry;
RESET ROLE;
DROP ROLE st_writer;
DROP ROLE st_sync;

-- The view dropped under its source: the batch fails (42704) and its offsets stay where they were.
SELECT fstore.create_feature_view('st_other', 'sk_card', '[{"name": "n", "type": "integer"}]');
SELECT fstore.create_stream_source('s3', 'st_other', '{"brokers": "127.0.0.1:9092", "topic": "other"}');
SELECT fstore._stream_store('s3', 'other', '[{"p": 0, "o": 0, "row": {"card_id": "a", "event_ts": "2024-05-01T00:00:00Z", "n": 1}}]');
SELECT fstore.drop_feature_view('st_other', drop_data => true);
SELECT regress_error($q$SELECT fstore._stream_store('s3', 'other', '[{"p": 0, "o": 1, "row": {"card_id": "a", "event_ts": "2024-05-01T00:00:00Z", "n": 2}}]')$q$);
SELECT partition, next_offset FROM fstore.stream_offsets WHERE source = 's3';
SELECT fstore.drop_stream_source('s3');

-- Drop: offsets and status go with the source.
SELECT fstore.drop_stream_source('s1');
SELECT count(*) AS offsets_left FROM fstore.stream_offsets;
SELECT count(*) AS status_left FROM fstore.stream_status;
SELECT count(*) AS sources_left FROM fstore.stream_sources;
SELECT fstore.drop_feature_view('sk_txn', drop_data => true);
