// Pure parts of the stream consumer (no Kafka, no PostgreSQL): a source's options as the server
// uses them, the librdkafka settings built from them, and a Kafka message turned into the
// entries of fstore._stream_store's batch (docs/streams.md). Unit tested in
// tests/unit/stream_config_test.cpp.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fstore::stream {

// One row of fstore.stream_source_registry, options normalized by fstore.create_stream_source.
struct SourceConfig {
  std::string name;
  std::string view;
  std::string brokers;
  std::string topic;
  std::string group = "fstore";
  std::string start = "earliest";      // where a partition without a stored offset begins
  int batch_size = 1000;               // messages per transaction at most
  int batch_ms = 100;                  // a batch waits at most this long for more messages
  size_t max_message_bytes = 1 << 20;  // larger messages are rejected (54000)
  std::map<std::string, std::string> kafka;  // librdkafka settings from options.kafka
  std::string fingerprint;             // view + options as stored: a change restarts the consumer

  // Parses a source row ({"name", "view", "options"}); nullopt and `error` when it does not fit.
  static std::optional<SourceConfig> from_row(const nlohmann::json& row, std::string* error);
};

// librdkafka settings the server sets itself, whatever options.kafka says: exactly once rests on
// them (offsets live in PostgreSQL; eager assignment with offsets read from it).
bool is_forced_setting(std::string_view key);

// The librdkafka settings of a consumer for `source`, in the order they are applied: the
// user's (options.kafka, forced ones left out), then the server's.
std::vector<std::pair<std::string, std::string>> consumer_settings(const SourceConfig& source);

// One Kafka message as entries of fstore._stream_store's batch (JSON texts): {"p", "o", "row"}
// per row (a JSON array gives one entry per element), or a single {"p", "o", "raw", "error",
// "sqlstate"} when the message is empty or too large (54000), not JSON or nested too deep
// (22P02), or holds a \u0000 that PostgreSQL's jsonb refuses (22P05). Rows that are not objects
// are passed on for the SQL side to reject with its reason. Entries of one message stay
// together: the batch is only ever split between messages.
struct EncodedMessage {
  int32_t partition = 0;
  int64_t offset = 0;
  std::vector<std::string> entries;
};

EncodedMessage encode_message(int32_t partition, int64_t offset, std::string_view payload, size_t max_message_bytes);

// The one entry saying that message (partition, offset) cannot be stored: `raw` (cut to 10,000
// bytes, invalid UTF-8 and NUL replaced), `error` and `sqlstate`.
std::string error_entry(int32_t partition, int64_t offset, std::string_view raw, const std::string& error,
                        const std::string& sqlstate);

// The batch text ("[entry,entry,...]") of messages [first, last).
std::string batch_text(const std::vector<EncodedMessage>& messages, size_t first, size_t last);

}  // namespace fstore::stream
