// Fault tests of stream sources (issue 13), each ending with an exact count and a full comparison
// of PostgreSQL's rows with what was produced: kill -9 of fstore-server ten times while it
// consumes 100,000 messages; two servers in one consumer group, one killed; a broker of the mock
// cluster down and up; PostgreSQL restarted mid-stream; a topic that does not exist yet.
#include "stream_fixture.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <limits>
#include <random>
#include <set>

using namespace fstore::testing;

namespace {

class StreamFaultTest : public StreamFixture {
 protected:
  // Produces good messages [0, n) round-robin over `partitions` on a thread, `chunk` at a time
  // with a pause between chunks, so that faults happen while messages still arrive. A chunk waits
  // until `released_chunks` lets it go: a test that lowers it paces production by its own
  // progress rather than by the clock (a loaded machine then cannot outrun the faults).
  void produce_paced(const std::string& topic, int partitions, long n, long chunk, std::chrono::milliseconds pause) {
    for (long seq = 0; seq < n; ++seq) produced[static_cast<int>(seq % partitions)].push_back(seq);
    producing = std::thread([=] {
      for (long seq = 0; seq < n; ++seq) {
        while (seq / chunk >= released_chunks) std::this_thread::sleep_for(10ms);
        producer.produce(topic, static_cast<int>(seq % partitions), good_message(seq));
        if ((seq + 1) % chunk == 0) std::this_thread::sleep_for(pause);
      }
      producer.flush();
      done_producing = true;
    });
  }
  void TearDown() override {
    released_chunks = std::numeric_limits<long>::max();  // a failed assertion must not leave it waiting
    if (producing.joinable()) producing.join();
  }
  // The partitions a server reports for source `name` in /ready ([] when none or unreachable).
  std::vector<int> partitions_of(ServerProcess& s, const std::string& name) {
    HttpClient http(s.port(), 2s);
    auto r = http.get("/ready");
    std::vector<int> out;
    if (r.status == 0) return out;
    auto body = nlohmann::json::parse(r.body, nullptr, false);
    if (!body.is_object() || !body.contains("streams") || !body["streams"].is_array()) return out;
    for (const auto& st : body["streams"])
      if (st["name"] == name) out = st["partitions"].get<std::vector<int>>();
    return out;
  }
  std::thread producing;
  std::atomic<bool> done_producing{false};
  std::atomic<long> released_chunks{std::numeric_limits<long>::max()};
};

}  // namespace

// 100,000 messages over 6 partitions; fstore-server killed with SIGKILL at least ten times while
// it consumes (each time after it stored more rows), restarted each time: every message exactly
// once, the stored offsets equal to what was produced.
TEST_F(StreamFaultTest, KillNineTenTimesExactlyOnce) {
  kafka.create_topic("t_kill", 6);
  create_source("kill", "t_kill", ", \"batch_size\": 200");
  const long n = 100000;
  released_chunks = 0;  // two chunks of 1,000 per round below, the rest after the last kill
  produce_paced("t_kill", 6, n, 1000, 350ms);
  std::mt19937 rng(13);
  int kills_while_consuming = 0;
  for (int round = 0; round < 30 && kills_while_consuming < 10; ++round) {
    released_chunks += 2;
    auto server = start_server();
    long before = row_count();
    ASSERT_TRUE(eventually([&] { return row_count() > before; }, 60s)) << "no progress after restart\n" << server->log();
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 400));
    long at_kill = row_count();
    server->kill_hard();
    if (at_kill < n) ++kills_while_consuming;
  }
  EXPECT_GE(kills_while_consuming, 10);
  released_chunks = std::numeric_limits<long>::max();
  auto server = start_server();
  ASSERT_TRUE(eventually([&] { return done_producing && row_count() >= n; }, 120s))
      << row_count() << " rows\n" << server->log();
  std::this_thread::sleep_for(1s);
  expect_exactly(n);
  expect_offsets("kill");
  std::cout << "[ info ] " << kills_while_consuming << " kills with SIGKILL while consuming\n";
  EXPECT_EQ(pg.query_value("SELECT count(*) FROM fstore.rejected_rows"), "0");
}

// Two servers in one consumer group split the partitions (each partition consumed by one of them);
// one is killed: its partitions continue on the other from PostgreSQL's offsets.
TEST_F(StreamFaultTest, TwoServersOneGroupOneKilled) {
  kafka.create_topic("t_group", 6);
  create_source("group", "t_group");
  auto a = start_server();
  auto b = start_server();
  ASSERT_TRUE(eventually([&] {
    auto pa = partitions_of(*a, "group"), pb = partitions_of(*b, "group");
    std::set<int> all(pa.begin(), pa.end());
    all.insert(pb.begin(), pb.end());
    return !pa.empty() && !pb.empty() && pa.size() + pb.size() == 6 && all.size() == 6;
  }, 60s)) << a->log() << b->log();
  const long n = 30000;
  produce_paced("t_group", 6, n, 1000, 200ms);
  ASSERT_TRUE(eventually([&] { return row_count() > n / 5; }, 60s));
  a->kill_hard();
  ASSERT_TRUE(eventually([&] { return partitions_of(*b, "group").size() == 6; }, 60s)) << b->log();
  ASSERT_TRUE(eventually([&] { return done_producing && row_count() >= n; }, 90s)) << row_count() << "\n" << b->log();
  std::this_thread::sleep_for(1s);
  expect_exactly(n);
  expect_offsets("group");
}

// A broker of the three taken down while messages flow, and up again: consumption resumes and
// every message lands once.
TEST_F(StreamFaultTest, BrokerDownAndUp) {
  kafka.create_topic("t_broker", 6);
  create_source("broker", "t_broker");
  auto server = start_server();
  const long n = 20000;
  produce_paced("t_broker", 6, n, 1000, 200ms);
  ASSERT_TRUE(eventually([&] { return row_count() > 2000; }, 60s)) << server->log();
  kafka.broker_down(2);
  std::this_thread::sleep_for(4s);
  long during = row_count();
  kafka.broker_up(2);
  ASSERT_TRUE(eventually([&] { return done_producing && row_count() >= n; }, 120s)) << row_count() << "\n" << server->log();
  std::this_thread::sleep_for(1s);
  expect_exactly(n);
  expect_offsets("broker");
  std::cout << "[ info ] rows when the broker came back: " << during << " of " << n << "\n";
}

// PostgreSQL restarted while messages flow: the batch in flight is retried from the stored
// offsets, nothing is lost or doubled.
TEST_F(StreamFaultTest, PostgresRestartMidStream) {
  kafka.create_topic("t_pg", 4);
  create_source("pg", "t_pg");
  auto server = start_server();
  const long n = 20000;
  produce_paced("t_pg", 4, n, 1000, 200ms);
  ASSERT_TRUE(eventually([&] { return row_count() > 3000; }, 60s)) << server->log();
  pg.restart();
  ASSERT_TRUE(eventually([&] { return done_producing && row_count() >= n; }, 120s)) << row_count() << "\n" << server->log();
  std::this_thread::sleep_for(1s);
  expect_exactly(n);
  expect_offsets("pg");
}

// A source whose topic does not exist (the brokers answer "unknown topic"): retrying with the
// reason in fstore.stream_sources, then running once the topic is there.
TEST_F(StreamFaultTest, TopicMissingThenCreated) {
  kafka.create_topic("t_late", 2);
  kafka.hide_topic("t_late");
  create_source("late", "t_late");
  auto server = start_server();
  std::string state;
  EXPECT_TRUE(eventually([&] {
    state = pg.query_value("SELECT state || ': ' || COALESCE(last_error, '') FROM fstore.stream_sources WHERE name = 'late'");
    return state.rfind("retrying: ", 0) == 0 && state.find("t_late") != std::string::npos;
  }, 30s)) << state << "\n" << server->log();
  kafka.show_topic("t_late");
  produce_range("t_late", 2, 0, 500);
  ASSERT_TRUE(eventually([&] { return row_count() >= 500; }, 60s)) << server->log();
  expect_exactly(500);
  EXPECT_TRUE(eventually([&] {
    return pg.query_value("SELECT state || COALESCE(last_error, '') FROM fstore.stream_sources WHERE name = 'late'") == "running";
  }, 10s));
}
