#include "stream/stream_config.hpp"

#include "online/json_limit.hpp"

#include <algorithm>
#include <array>

namespace fstore::stream {

using nlohmann::json;

namespace {

// A JSON scalar of options.kafka as the text librdkafka wants ("true", "50", "abc").
std::string setting_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return v.dump();
}

// An integer option within [lo, hi], or `fallback` when absent; false when present and invalid.
bool int_option(const json& options, const char* key, long lo, long hi, long& out) {
  if (!options.contains(key)) return true;
  const json& v = options[key];
  if (!v.is_number_integer()) return false;
  long n = v.get<long>();
  if (n < lo || n > hi) return false;
  out = n;
  return true;
}

// True when `text` holds the JSON escape \u0000 (jsonb refuses it), outside or inside strings.
bool has_nul_escape(std::string_view text) {
  for (size_t i = text.find("\\u"); i != std::string_view::npos; i = text.find("\\u", i + 2)) {
    // Count the backslashes before: an even number in front means this one escapes.
    size_t back = 0;
    while (back < i && text[i - 1 - back] == '\\') ++back;
    if (back % 2 == 1) continue;
    if (i + 6 <= text.size() && text.substr(i + 2, 4) == "0000") return true;
  }
  return false;
}

std::string entry_prefix(int32_t partition, int64_t offset) {
  return "{\"p\":" + std::to_string(partition) + ",\"o\":" + std::to_string(offset);
}

}  // namespace

std::optional<SourceConfig> SourceConfig::from_row(const json& row, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<SourceConfig> {
    if (error) *error = why;
    return std::nullopt;
  };
  if (!row.is_object() || !row.contains("name") || !row["name"].is_string() || !row.contains("view") ||
      !row["view"].is_string() || !row.contains("options") || !row["options"].is_object())
    return fail("a stream source row needs name, view and options");
  SourceConfig c;
  c.name = row["name"].get<std::string>();
  c.view = row["view"].get<std::string>();
  const json& o = row["options"];
  if (!o.contains("brokers") || !o["brokers"].is_string() || o["brokers"].get<std::string>().empty())
    return fail("options.brokers is missing");
  if (!o.contains("topic") || !o["topic"].is_string() || o["topic"].get<std::string>().empty())
    return fail("options.topic is missing");
  c.brokers = o["brokers"].get<std::string>();
  c.topic = o["topic"].get<std::string>();
  if (o.contains("group") && o["group"].is_string()) c.group = o["group"].get<std::string>();
  if (o.contains("start") && o["start"].is_string()) c.start = o["start"].get<std::string>();
  if (c.start != "earliest" && c.start != "latest") return fail("options.start must be earliest or latest");
  long batch_size = c.batch_size, batch_ms = c.batch_ms, max_bytes = static_cast<long>(c.max_message_bytes);
  if (!int_option(o, "batch_size", 1, 100000, batch_size)) return fail("options.batch_size is out of range");
  if (!int_option(o, "batch_ms", 1, 60000, batch_ms)) return fail("options.batch_ms is out of range");
  if (!int_option(o, "max_message_bytes", 1, 64L << 20, max_bytes)) return fail("options.max_message_bytes is out of range");
  c.batch_size = static_cast<int>(batch_size);
  c.batch_ms = static_cast<int>(batch_ms);
  c.max_message_bytes = static_cast<size_t>(max_bytes);
  if (o.contains("kafka")) {
    if (!o["kafka"].is_object()) return fail("options.kafka must be an object");
    for (const auto& [k, v] : o["kafka"].items()) {
      if (!v.is_primitive() || v.is_null()) return fail("librdkafka setting " + k + " must be a scalar");
      c.kafka[k] = setting_text(v);
    }
  }
  c.fingerprint = c.view + "\n" + o.dump();
  return c;
}

bool is_forced_setting(std::string_view key) {
  static constexpr std::array<std::string_view, 15> kForced = {
      "bootstrap.servers", "metadata.broker.list", "group.id", "enable.auto.commit", "auto.commit.enable",
      "enable.auto.offset.store", "auto.offset.reset", "isolation.level", "enable.partition.eof",
      "plugin.library.paths", "ssl.engine.location", "sasl.kerberos.kinit.cmd", "interceptors",
      "partition.assignment.strategy", "group.protocol"};
  return std::find(kForced.begin(), kForced.end(), key) != kForced.end();
}

std::vector<std::pair<std::string, std::string>> consumer_settings(const SourceConfig& source) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : source.kafka)
    if (!is_forced_setting(k)) out.emplace_back(k, v);
  out.insert(out.end(), {
      {"bootstrap.servers", source.brokers},
      {"group.id", source.group},
      {"enable.auto.commit", "false"},        // PostgreSQL holds the offsets
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", source.start == "latest" ? "latest" : "earliest"},
      {"isolation.level", "read_committed"},  // never rows of aborted Kafka transactions
      {"enable.partition.eof", "false"},
      {"partition.assignment.strategy", "range,roundrobin"},  // eager: the rebalance callback assigns
  });
  return out;
}

EncodedMessage encode_message(int32_t partition, int64_t offset, std::string_view payload, size_t max_message_bytes) {
  EncodedMessage m;
  m.partition = partition;
  m.offset = offset;
  auto reject = [&](const std::string& error, const char* sqlstate) {
    m.entries.push_back(error_entry(partition, offset, payload, error, sqlstate));
    return m;
  };
  if (payload.size() > max_message_bytes)
    return reject("message of " + std::to_string(payload.size()) + " bytes is over max_message_bytes (" +
                      std::to_string(max_message_bytes) + ")", "54000");
  size_t first = payload.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return reject("empty message: expected a JSON object or an array of objects", "22P02");
  switch (server::check_json(payload)) {
    case server::JsonCheck::ok: break;
    case server::JsonCheck::too_deep: return reject(server::json_too_deep_message(), "22P02");
    case server::JsonCheck::invalid: return reject("invalid JSON: the message is not valid UTF-8 JSON text", "22P02");
  }
  if (has_nul_escape(payload)) return reject("the message holds \\u0000, which PostgreSQL's jsonb cannot store", "22P05");
  if (payload[first] != '[') {
    // One row: the text is handed on as it came (already checked), without a re-encode.
    m.entries.push_back(entry_prefix(partition, offset) + ",\"row\":" + std::string(payload) + "}");
    return m;
  }
  nlohmann::ordered_json rows;
  server::parse_json_limited(payload, rows);
  if (rows.empty()) return reject("empty array: expected at least one row", "22023");
  for (const auto& row : rows) m.entries.push_back(entry_prefix(partition, offset) + ",\"row\":" + row.dump() + "}");
  return m;
}

std::string error_entry(int32_t partition, int64_t offset, std::string_view raw, const std::string& error,
                        const std::string& sqlstate) {
  std::string cut(raw.substr(0, 10000));
  std::replace(cut.begin(), cut.end(), '\0', '?');
  auto text = [](const std::string& s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); };
  return entry_prefix(partition, offset) + ",\"raw\":" + text(cut) + ",\"error\":" + text(error) +
         ",\"sqlstate\":" + text(sqlstate) + "}";
}

std::string batch_text(const std::vector<EncodedMessage>& messages, size_t first, size_t last) {
  size_t size = 2;
  for (size_t i = first; i < last; ++i)
    for (const auto& e : messages[i].entries) size += e.size() + 1;
  std::string out;
  out.reserve(size);
  out += '[';
  for (size_t i = first; i < last; ++i)
    for (const auto& e : messages[i].entries) {
      if (out.size() > 1) out += ',';
      out += e;
    }
  out += ']';
  return out;
}

}  // namespace fstore::stream
