// Stream sources (issue 13) against librdkafka's mock cluster: messages land exactly once and
// equal to what was produced; bad messages of every kind go to rejected_rows with partition and
// offset while the good ones land; sources created and dropped while the server runs; the online
// store serves a consumed message over HTTP. Fault tests: stream_fault_test.cpp.
#include "stream_fixture.hpp"

#include <nlohmann/json.hpp>

#include <set>
#include <tuple>

using namespace fstore::testing;

namespace {

class StreamTest : public StreamFixture {};

}  // namespace

// 20,000 messages over 6 partitions: the exact rows, the stored offsets, running state and zero
// lag in fstore.stream_sources, and the metrics of the source.
TEST_F(StreamTest, MessagesLandExactlyOnce) {
  kafka.create_topic("t_basic", 6);
  create_source("basic", "t_basic");
  auto server = start_server();
  const long n = 20000;
  produce_range("t_basic", 6, 0, n);
  ASSERT_TRUE(eventually([&] { return row_count() >= n; })) << row_count() << " rows\n" << server->log();
  std::this_thread::sleep_for(500ms);  // nothing more may come
  expect_exactly(n);
  expect_offsets("basic");
  EXPECT_TRUE(eventually([&] {
    return pg.query_value("SELECT state || ' ' || COALESCE(lag, -1) FROM fstore.stream_sources WHERE name = 'basic'") == "running 0";
  }, 10s)) << pg.query_value("SELECT row_to_json(s) FROM fstore.stream_sources s");
  HttpClient http(server->port());
  auto metrics = http.get("/metrics");
  EXPECT_NE(metrics.body.find("fstore_stream_messages_total{source=\"basic\"} 20000"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("fstore_stream_rows_loaded_total{source=\"basic\"} 20000"), std::string::npos);
  EXPECT_NE(metrics.body.find("fstore_stream_lag{source=\"basic\",partition=\"5\"} 0"), std::string::npos);
  auto ready = http.get("/ready");
  EXPECT_EQ(ready.status, 200) << ready.body;
  auto body = nlohmann::json::parse(ready.body);
  ASSERT_EQ(body["streams"].size(), 1u) << ready.body;
  EXPECT_EQ(body["streams"][0]["state"], "running");
  EXPECT_EQ(body["streams"][0]["partitions"], nlohmann::json::parse("[0, 1, 2, 3, 4, 5]"));
}

// 1% bad messages of every kind (invalid JSON, unknown field, wrong type, failed validation,
// oversized, not an object, empty, \u0000, an array with one bad row): each in rejected_rows with
// source, partition, offset and SQLSTATE; every good row loaded, in the same batches.
TEST_F(StreamTest, BadMessagesRejectedGoodOnesLand) {
  kafka.create_topic("t_bad", 3);
  create_source("bad", "t_bad", ", \"max_message_bytes\": 4000");
  const long n = 7000;
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"{\"card_id\": \"x\", \"event_ts\": ", "22P02"},                                              // invalid JSON
      {"{\"card_id\": \"x\", \"event_ts\": \"2024-05-01\", \"seq\": 1, \"colour\": \"red\"}", "22023"},  // unknown field
      {"{\"card_id\": \"x\", \"event_ts\": \"2024-05-01\", \"seq\": \"many\"}", "22P02"},            // wrong type
      {"{\"card_id\": \"x\", \"event_ts\": \"2024-05-01\", \"seq\": 1, \"n\": -5}", "23514"},        // validation
      {"{\"card_id\": \"x\", \"event_ts\": \"2024-05-01\", \"seq\": 1, \"pad\": \"" + std::string(5000, 'p') + "\"}", "54000"},
      {"[1, 2]", "22023"},                                                                         // not objects
      {"", "22P02"},                                                                               // empty
      {"{\"card_id\": \"x\\u0000\", \"event_ts\": \"2024-05-01\", \"seq\": 1}", "22P05"},            // NUL
      {"{\"card_id\": \"x\", \"event_ts\": \"2024-05-01\"}", "23502"},                               // seq missing (not_null)
  };
  std::set<std::tuple<int, long, std::string>> bad;  // (partition, offset, sqlstate)
  std::vector<long> bad_seqs;
  std::map<int, long> offset;
  for (long seq = 0; seq < n; ++seq) {
    int p = static_cast<int>(seq % 3);
    if (seq % 100 == 37) {
      const auto& [payload, sqlstate] = kinds[(seq / 100) % kinds.size()];
      // "[1, 2]" is two rows of one message: two rejections at one offset (counted once here).
      bad.insert({p, offset[p], sqlstate});
      producer.produce("t_bad", p, payload);
      bad_seqs.push_back(seq);
    } else {
      producer.produce("t_bad", p, good_message(seq));
    }
    ++offset[p];
  }
  producer.flush();
  auto server = start_server();
  ASSERT_TRUE(eventually([&] {
    return pg.query_value("SELECT COALESCE(sum(next_offset), 0) FROM fstore.stream_offsets WHERE source = 'bad'") ==
           std::to_string(n);
  })) << server->log();
  expect_exactly(n, bad_seqs);
  std::set<std::tuple<int, long, std::string>> got;
  auto c = pg.connect();
  pqxx::work tx(c);
  for (const auto& r : tx.exec("SELECT partition, \"offset\", sqlstate, view FROM fstore.rejected_rows WHERE source = 'bad'")) {
    got.insert({r[0].as<int>(), r[1].as<long>(), r[2].c_str()});
    EXPECT_STREQ(r[3].c_str(), "txn");
  }
  EXPECT_EQ(got, bad);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM fstore.rejected_rows WHERE source = 'bad'")[0][0].as<long>(),
            static_cast<long>(bad.size()) + static_cast<long>(std::count_if(bad_seqs.begin(), bad_seqs.end(), [&](long s) {
              return (s / 100) % kinds.size() == 5;  // "[1, 2]": two rejected rows
            })));
  auto reason = tx.exec("SELECT reason FROM fstore.rejected_rows WHERE source = 'bad' AND sqlstate = '54000' LIMIT 1");
  ASSERT_EQ(reason.size(), 1u);
  EXPECT_NE(std::string(reason[0][0].c_str()).find("max_message_bytes"), std::string::npos) << reason[0][0].c_str();
}

// Sources created and dropped while the server runs are picked up from the registry.
TEST_F(StreamTest, SourcesFollowTheRegistry) {
  kafka.create_topic("t_reg", 2);
  auto server = start_server();
  produce_range("t_reg", 2, 0, 1000);
  create_source("reg", "t_reg");
  ASSERT_TRUE(eventually([&] { return row_count() == 1000; }, 30s)) << server->log();
  pg.exec("SELECT fstore.drop_stream_source('reg')");
  HttpClient http(server->port());
  ASSERT_TRUE(eventually([&] { return http.get("/metrics").body.find("source=\"reg\"") == std::string::npos; }, 15s));
  produce_range("t_reg", 2, 1000, 1500);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(row_count(), 1000) << "a dropped source is not consumed";
  expect_exactly(1000);
}

// A consumed message is served over HTTP shortly after: the online store follows as for every
// other ingestion.
TEST_F(StreamTest, OnlineStoreServesConsumedMessage) {
  kafka.create_topic("t_online", 1);
  create_source("online", "t_online", ", \"batch_ms\": 10");
  auto server = start_server();
  HttpClient http(server->port());
  ASSERT_TRUE(eventually([&] {
    auto r = http.get("/ready");
    return r.status == 200 && r.body.find("\"partitions\":[0]") != std::string::npos;
  })) << server->log();
  producer.produce("t_online", 0, "{\"card_id\": \"fresh\", \"event_ts\": \"2024-05-01T00:00:00Z\", \"seq\": 7, \"amount\": 42.25, \"n\": 3}");
  producer.flush();
  auto produced_at = std::chrono::steady_clock::now();
  HttpResponse r;
  ASSERT_TRUE(eventually([&] {
    r = http.get("/features/txn/fresh");
    return r.status == 200;
  }, 10s)) << r.status << " " << r.body << "\n" << server->log();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - produced_at).count();
  auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["features"]["amount"], 42.25);
  EXPECT_EQ(body["features"]["seq"], 7);
  std::cout << "[ info ] produced -> served over HTTP in " << ms << " ms (not a benchmark)\n";
}
