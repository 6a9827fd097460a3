// The pure parts of the stream consumer (server/stream/stream_config.*): a source row's options,
// the librdkafka settings (fstore's own always win), and Kafka messages turned into the entries
// of fstore._stream_store's batch.
#include "stream/stream_config.hpp"

#include <gtest/gtest.h>

#include <map>

using fstore::stream::batch_text;
using fstore::stream::consumer_settings;
using fstore::stream::encode_message;
using fstore::stream::error_entry;
using fstore::stream::SourceConfig;
using nlohmann::json;

namespace {

json source_row(const json& options) { return {{"name", "s1"}, {"view", "txn"}, {"options", options}}; }

std::map<std::string, std::string> settings_of(const SourceConfig& c) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : consumer_settings(c)) out[k] = v;  // later wins, as librdkafka applies them
  return out;
}

}  // namespace

TEST(StreamConfig, RowWithDefaultsAndKafkaSettings) {
  std::string error;
  auto c = SourceConfig::from_row(source_row({{"brokers", "127.0.0.1:9092"}, {"topic", "t"},
                                              {"kafka", {{"fetch.wait.max.ms", 50}, {"check.crcs", true}}}}), &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->group, "fstore");
  EXPECT_EQ(c->start, "earliest");
  EXPECT_EQ(c->batch_size, 1000);
  EXPECT_EQ(c->batch_ms, 100);
  EXPECT_EQ(c->max_message_bytes, 1u << 20);
  auto s = settings_of(*c);
  EXPECT_EQ(s["fetch.wait.max.ms"], "50");
  EXPECT_EQ(s["check.crcs"], "true");
  EXPECT_EQ(s["bootstrap.servers"], "127.0.0.1:9092");
  EXPECT_EQ(s["group.id"], "fstore");
}

TEST(StreamConfig, BadRowsRefused) {
  std::string error;
  EXPECT_FALSE(SourceConfig::from_row(source_row({{"topic", "t"}}), &error));
  EXPECT_NE(error.find("brokers"), std::string::npos);
  EXPECT_FALSE(SourceConfig::from_row(source_row({{"brokers", "b:1"}}), &error));
  EXPECT_FALSE(SourceConfig::from_row(source_row({{"brokers", "b:1"}, {"topic", "t"}, {"batch_size", 0}}), &error));
  EXPECT_FALSE(SourceConfig::from_row(source_row({{"brokers", "b:1"}, {"topic", "t"}, {"start", "middle"}}), &error));
  EXPECT_FALSE(SourceConfig::from_row(source_row({{"brokers", "b:1"}, {"topic", "t"}, {"kafka", {{"x", json::array()}}}}), &error));
  EXPECT_FALSE(SourceConfig::from_row(json::array(), &error));
}

// Settings exactly once rests on are fstore's, whatever the row says (the SQL side refuses them
// too; a row edited by hand must not get around it).
TEST(StreamConfig, ForcedSettingsWin) {
  auto c = SourceConfig::from_row(source_row({{"brokers", "b:1"}, {"topic", "t"}, {"start", "latest"},
                                              {"kafka", {{"enable.auto.commit", "true"}, {"group.id", "other"},
                                                         {"plugin.library.paths", "/tmp/x.so"},
                                                         {"isolation.level", "read_uncommitted"}}}}), nullptr);
  ASSERT_TRUE(c);
  auto s = settings_of(*c);
  EXPECT_EQ(s["enable.auto.commit"], "false");
  EXPECT_EQ(s["enable.auto.offset.store"], "false");
  EXPECT_EQ(s["group.id"], "fstore");
  EXPECT_EQ(s["isolation.level"], "read_committed");
  EXPECT_EQ(s["auto.offset.reset"], "latest");
  EXPECT_EQ(s.count("plugin.library.paths"), 0u);
  for (const auto& [k, v] : consumer_settings(*c)) {
    if (k == "enable.auto.commit") {
      EXPECT_EQ(v, "false") << "never set to true, not even before being overridden";
    }
  }
}

TEST(StreamConfig, FingerprintFollowsViewAndOptions) {
  auto a = SourceConfig::from_row(source_row({{"brokers", "b:1"}, {"topic", "t"}}), nullptr);
  auto b = SourceConfig::from_row(source_row({{"brokers", "b:1"}, {"topic", "t2"}}), nullptr);
  auto row = source_row({{"brokers", "b:1"}, {"topic", "t"}});
  row["view"] = "other";
  auto c = SourceConfig::from_row(row, nullptr);
  EXPECT_NE(a->fingerprint, b->fingerprint);
  EXPECT_NE(a->fingerprint, c->fingerprint);
}

// An object is passed on as it came; an array gives one entry per row at one offset.
TEST(StreamMessages, ObjectsAndArrays) {
  auto m = encode_message(3, 17, R"({"card_id": "a", "n": 1})", 1000);
  ASSERT_EQ(m.entries.size(), 1u);
  EXPECT_EQ(json::parse(m.entries[0]), json::parse(R"({"p": 3, "o": 17, "row": {"card_id": "a", "n": 1}})"));
  m = encode_message(0, 5, R"([{"a": 1}, {"a": 2}, 7])", 1000);
  ASSERT_EQ(m.entries.size(), 3u);
  EXPECT_EQ(json::parse(m.entries[1]), json::parse(R"({"p": 0, "o": 5, "row": {"a": 2}})"));
  EXPECT_EQ(json::parse(m.entries[2])["row"], 7) << "not an object: the SQL side rejects it with its reason";
  EXPECT_EQ(json::parse(batch_text({m}, 0, 1)).size(), 3u);
}

// Messages that cannot be rows become one error entry with a data-error SQLSTATE.
TEST(StreamMessages, BadMessages) {
  auto sqlstate = [](std::string_view payload, size_t max = 1000) {
    auto m = encode_message(1, 2, payload, max);
    EXPECT_EQ(m.entries.size(), 1u);
    auto e = json::parse(m.entries.at(0));
    EXPECT_EQ(e["p"], 1);
    EXPECT_EQ(e["o"], 2);
    return e.value("sqlstate", std::string("none"));
  };
  EXPECT_EQ(sqlstate("{\"a\": "), "22P02");
  EXPECT_EQ(sqlstate(""), "22P02");
  EXPECT_EQ(sqlstate("   "), "22P02");
  EXPECT_EQ(sqlstate("{\"a\": \"\xff\"}"), "22P02") << "invalid UTF-8";
  EXPECT_EQ(sqlstate(std::string(500, '[') + std::string(500, ']')), "22P02") << "too deep";
  EXPECT_EQ(sqlstate("{\"a\": \"x\\u0000\"}"), "22P05");
  EXPECT_EQ(sqlstate("{\"a\": \"x\\\\u0000\"}"), "none") << "an escaped backslash before u0000 is plain text";
  EXPECT_EQ(sqlstate("{\"a\": 1}", 5), "54000");
  EXPECT_EQ(sqlstate("[]"), "22023");
}

// The raw text of a rejected message is cut, and NUL and invalid UTF-8 replaced: the entry is
// always JSON that jsonb accepts.
TEST(StreamMessages, ErrorEntryIsValidJson) {
  std::string raw = std::string("a\0b\xff", 4) + std::string(20000, 'x');
  auto e = json::parse(error_entry(0, 1, raw, "bad", "22P02"));
  std::string kept = e["raw"];
  EXPECT_LE(kept.size(), 10010u);
  EXPECT_EQ(kept.find('\0'), std::string::npos);
  EXPECT_EQ(e["error"], "bad");
  EXPECT_EQ(e["sqlstate"], "22P02");
}
