-- Stream sources (0.2.0, install only; the same statements are in sql/updates/0.1.1--0.2.0.sql).
-- A source names a Kafka topic whose messages fstore-server ingests into a feature view. The
-- offsets it consumed live here, written in the transaction that stores the rows: PostgreSQL,
-- never Kafka's own offset commit, says where each partition goes on (docs/streams.md).
CREATE TABLE fstore.stream_source_registry (
  name       text PRIMARY KEY,
  view       text NOT NULL,                 -- no foreign key: dropping the view stops the source with an error
  kind       text NOT NULL CHECK (kind IN ('kafka')),
  options    jsonb NOT NULL,                -- normalized by fstore.create_stream_source
  owner      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Per (source, topic, partition): the next offset to consume (every offset below it is stored
-- in the view or in fstore.rejected_rows), and the partition's end as last seen (for the lag).
CREATE TABLE fstore.stream_offsets (
  source         text NOT NULL REFERENCES fstore.stream_source_registry (name) ON DELETE CASCADE,
  topic          text NOT NULL,
  partition      integer NOT NULL CHECK (partition >= 0),
  next_offset    bigint NOT NULL CHECK (next_offset >= 0),
  high_watermark bigint,
  updated_at     timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  PRIMARY KEY (source, topic, partition)
);

-- What the consuming server(s) last reported per source: state, last error, when.
CREATE TABLE fstore.stream_status (
  source      text PRIMARY KEY REFERENCES fstore.stream_source_registry (name) ON DELETE CASCADE,
  state       text NOT NULL CHECK (state IN ('starting', 'running', 'retrying', 'error', 'stopped')),
  last_error  text,
  reported_by text,
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);

-- A rejected message says where it came from (NULL for rows of other ingestion paths).
ALTER TABLE fstore.rejected_rows ADD COLUMN source text, ADD COLUMN partition integer, ADD COLUMN "offset" bigint;

SELECT pg_catalog.pg_extension_config_dump('fstore.stream_source_registry', '');
SELECT pg_catalog.pg_extension_config_dump('fstore.stream_offsets', '');
