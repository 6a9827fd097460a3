// Shared setup of the stream source tests (stream_test.cpp, stream_fault_test.cpp): real
// PostgreSQL, Redis, fstore-server processes and librdkafka's mock cluster (three brokers over TCP
// on loopback). Every message carries a sequence number `seq`, so PostgreSQL's rows can be
// compared exactly, one by one, with what was produced.
#pragma once

#include "support/http_client.hpp"
#include "support/kafka.hpp"
#include "support/stack.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace fstore::testing {

using namespace std::chrono_literals;

// Polls `cond` until it holds or `timeout` passes; returns whether it held.
inline bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return cond();
}

// One good message: card "c<seq % 97>", an event time from seq, amount and n from seq.
inline std::string good_message(long seq) {
  return "{\"card_id\": \"c" + std::to_string(seq % 97) + "\", \"event_ts\": \"2024-05-01T00:00:00Z\", \"seq\": " +
         std::to_string(seq) + ", \"amount\": " + std::to_string(seq) + ".5, \"n\": " + std::to_string(seq % 1000) + "}";
}

// The row PostgreSQL must hold for a good message, as "seq|card|amount|n".
inline std::string expected_row(long seq) {
  return std::to_string(seq) + "|c" + std::to_string(seq % 97) + "|" + std::to_string(seq) + ".5|" +
         std::to_string(seq % 1000);
}

class StreamFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    pg.exec(R"SQL(
      SELECT fstore.create_entity('card', 'card_id', 'text');
      SELECT fstore.create_feature_view('txn', 'card', '[
        {"name": "seq", "type": "bigint", "validation": {"not_null": true}},
        {"name": "amount", "type": "float8"},
        {"name": "n", "type": "integer", "validation": {"min": 0}}]');
    )SQL");
  }

  // Registers stream source `name` on `topic` into view txn; `extra` adds options (JSON members).
  void create_source(const std::string& name, const std::string& topic, const std::string& extra = "") {
    pg.exec("SELECT fstore.create_stream_source('" + name + "', 'txn', '{\"brokers\": \"" + kafka.bootstrap() +
            "\", \"topic\": \"" + topic + "\", \"group\": \"g_" + name + "\", \"batch_size\": 500, \"batch_ms\": 50, "
            "\"kafka\": {\"session.timeout.ms\": 3000, \"heartbeat.interval.ms\": 300, "
            "\"topic.metadata.refresh.interval.ms\": 1000}" + extra + "}')");
  }

  std::unique_ptr<ServerProcess> start_server(std::vector<std::string> extra = {}) {
    int port = free_port();
    auto args = server_args(pg, redis, port);
    args.insert(args.end(), extra.begin(), extra.end());
    auto s = std::make_unique<ServerProcess>(args, port);
    EXPECT_TRUE(s->wait_healthy()) << s->log();
    return s;
  }

  // Produces good messages [from, to) round-robin over `partitions`; returns, per partition, the
  // seqs in offset order (a fresh topic: offset = index).
  void produce_range(const std::string& topic, int partitions, long from, long to) {
    for (long seq = from; seq < to; ++seq) {
      int p = static_cast<int>(seq % partitions);
      producer.produce(topic, p, good_message(seq));
      produced[p].push_back(seq);
    }
    producer.flush();
  }

  long row_count() { return std::stol(pg.query_value("SELECT count(*) FROM fstore_data.txn")); }

  // Every row as "seq|card|amount|n", ordered by seq.
  std::vector<std::string> rows() {
    std::vector<std::string> out;
    auto c = pg.connect();
    pqxx::work tx(c);
    for (const auto& r : tx.exec("SELECT seq || '|' || card_id || '|' || amount || '|' || n FROM fstore_data.txn ORDER BY seq, created_ts"))
      out.push_back(r[0].c_str());
    return out;
  }

  // PostgreSQL holds exactly the good messages [0, n): no duplicate, no gap, every value.
  void expect_exactly(long n, const std::vector<long>& except = {}) {
    std::vector<std::string> want;
    size_t e = 0;
    for (long seq = 0; seq < n; ++seq) {
      if (e < except.size() && except[e] == seq) { ++e; continue; }
      want.push_back(expected_row(seq));
    }
    std::sort(want.begin(), want.end(), [](const std::string& a, const std::string& b) {
      return std::stol(a.substr(0, a.find('|'))) < std::stol(b.substr(0, b.find('|')));
    });
    auto got = rows();
    ASSERT_EQ(got.size(), want.size()) << "rows stored vs produced";
    EXPECT_EQ(pg.query_value("SELECT count(DISTINCT seq) FROM fstore_data.txn"), std::to_string(want.size()));
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << "row " << i;
  }

  // Stored next offset per partition must equal what was produced to it.
  void expect_offsets(const std::string& source) {
    for (const auto& [p, seqs] : produced)
      EXPECT_EQ(pg.query_value("SELECT next_offset FROM fstore.stream_offsets WHERE source = '" + source +
                               "' AND partition = " + std::to_string(p)),
                std::to_string(seqs.size())) << "partition " << p;
  }

  PgCluster pg;
  RedisServer redis;
  MockKafka kafka;
  KafkaProducer producer{kafka.bootstrap()};
  std::map<int, std::vector<long>> produced;  // partition -> seqs in offset order
};

}  // namespace fstore::testing
