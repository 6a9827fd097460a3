// The sync worker against a real Redis Cluster (3 masters + 3 replicas, tests/harness/stack.sh
// redis-cluster-start): changes, deletes and ttl expiry reach every master; a master flushed (a
// shard come back empty) is rebuilt alone; a master killed under write load, its replica promoted,
// and afterwards the cluster equals PostgreSQL's winners for every key. Each test ends comparing
// every key the masters hold with a reference point-in-time query. Also: the syncing server killed
// and another taking over (fencing by the per-slot markers' epoch).
#include "http_fixture.hpp"
#include "redis/cluster_slots.hpp"
#include "support/ingestor.hpp"
#include "support/redis_cluster.hpp"
#include "support/sync_check.hpp"

#include <regex>

using namespace fstore::testing;
using namespace std::chrono_literals;

namespace {

const char* kSetup = R"SQL(
  SELECT fstore.create_entity('driver', 'driver_id', 'bigint');
  SELECT fstore.create_feature_view('driver_stats', 'driver',
    '[{"name": "conv_rate", "type": "float8"}, {"name": "trips", "type": "int4"},
      {"name": "city", "type": "text"}]');
)SQL";

class SyncCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    pg.exec(kSetup);
    const int port = free_port();
    server = std::make_unique<ServerProcess>(
        std::vector<std::string>{"--pg", pg.url(), "--redis", cluster.url(), "--listen",
                                 "127.0.0.1:" + std::to_string(port), "--no-auth"},
        port);
    ASSERT_TRUE(server->wait_healthy(30s)) << server->log();
  }
  Store want_default() {
    return expected(pg, "fstore_data.driver_stats", "driver_id", "event_ts", "created_ts", {"conv_rate", "trips", "city"});
  }
  void expect_default_converges(std::chrono::seconds timeout = 60s) {
    expect_store_converges([&] { return cluster.view("driver_stats"); }, [&] { return want_default(); }, timeout);
  }
  bool ready() { return HttpClient(server->port()).get("/ready").status == 200; }
  // Inserts one row for each of the keys [from, to).
  void insert_keys(int from, int to, const std::string& ts = "now() - interval '1 minute'") {
    std::string sql = "INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) VALUES ";
    for (int k = from; k < to; ++k)
      sql += (k > from ? ",(" : "(") + std::to_string(k) + ", " + ts + ", 0.5, " + std::to_string(k) + ", 'c')";
    pg.exec(sql);
  }

  PgCluster pg;
  RedisClusterNodes cluster;
  std::unique_ptr<ServerProcess> server;
};

// Inserts, updates and deletes reach the master of each key's slot; every master gets keys.
TEST_F(SyncCluster, ChangesAndDeletesReachEveryMaster) {
  ASSERT_TRUE(eventually([&] { return ready(); }, 30s)) << server->log();
  insert_keys(1, 601);
  expect_default_converges();
  for (int p : cluster.masters())
    EXPECT_GT(redis_view_at("redis://127.0.0.1:" + std::to_string(p), "driver_stats").size(), 100u) << p;
  EXPECT_EQ(cluster.cli(cluster.ports()[0], "HGET fstore:v1:driver_stats:42 trips"), "42\n");

  pg.exec("UPDATE fstore_data.driver_stats SET trips = trips + 1000 WHERE driver_id % 3 = 0;"
          "DELETE FROM fstore_data.driver_stats WHERE driver_id % 5 = 0;");
  insert_keys(7, 8, "now() - interval '2 hours'");  // a late row: the newer winner stays
  expect_default_converges();
  EXPECT_EQ(cluster.cli(cluster.ports()[0], "HGET fstore:v1:driver_stats:42 trips"), "1042\n");
  EXPECT_EQ(cluster.cli(cluster.ports()[0], "EXISTS fstore:v1:driver_stats:10"), "0\n");
  EXPECT_EQ(cluster.cli(cluster.ports()[0], "HGET fstore:v1:driver_stats:7 trips"), "7\n");
  pg.exec("TRUNCATE fstore_data.driver_stats");
  expect_default_converges();
  EXPECT_TRUE(eventually([&] { return ready(); }, 30s)) << server->log();
}

// ttl: keys expire at event time + ttl on the cluster too; rows already outside it are not written.
TEST_F(SyncCluster, KeysExpireAtEventTimePlusTtl) {
  pg.exec("SELECT fstore.create_feature_view('short', 'driver', '[{\"name\": \"v\", \"type\": \"int4\"}]', "
          "ttl => interval '1 hour')");
  pg.exec("INSERT INTO fstore_data.short (driver_id, event_ts, v) VALUES (1, now() - interval '30 minutes', 1), "
          "(2, now() - interval '2 hours', 2), (3, now() - interval '59 minutes 56 seconds', 3)");
  auto want = [&] { return expected(pg, "fstore_data.short", "driver_id", "event_ts", "created_ts", {"v"}, "1 hour"); };
  auto got = [&] { return cluster.view("short"); };
  ASSERT_TRUE(eventually([&] { return got().count("3") == 1; }, 30s)) << server->log();
  const int p = cluster.ports()[0];
  const int64_t pttl = std::stoll(cluster.cli(p, "PTTL fstore:v1:short:1"));
  EXPECT_GT(pttl, 29 * 60 * 1000);
  EXPECT_LE(pttl, 30 * 60 * 1000);
  EXPECT_EQ(cluster.cli(p, "EXISTS fstore:v1:short:2"), "0\n");
  // Key 3 leaves Redis by its expiry (about 4 s after the insert), with nothing left queued.
  EXPECT_TRUE(eventually([&] { return cluster.cli(p, "EXISTS fstore:v1:short:3") == "0\n"; }, 20s));
  expect_store_converges(got, want);
}

// A shard that comes back empty (FLUSHALL on one master: its replica follows) is rebuilt alone:
// the slots of that master, not the whole cluster; the other masters' markers are not touched.
TEST_F(SyncCluster, EmptiedShardIsRebuiltAlone) {
  insert_keys(1, 1001);
  expect_default_converges();
  ASSERT_TRUE(eventually([&] { return ready(); }, 30s)) << server->log();
  const int flushed = cluster.ports()[1], other = cluster.ports()[0];
  // A slot of the other master, and its marker as the first rebuild left it.
  int slot = -1;
  for (int s = 0; s < fstore::server::kClusterSlots && slot < 0; s += 97)
    if (cluster.raw(other, "HGET " + fstore::server::slot_marker_key(s) + " at").find("MOVED") == std::string::npos) slot = s;
  ASSERT_GE(slot, 0);
  const std::string marker_before = cluster.raw(other, "HGETALL " + fstore::server::slot_marker_key(slot));

  cluster.raw(flushed, "FLUSHALL");
  ASSERT_TRUE(eventually([&] { return server->log().find("slots done") != std::string::npos &&
                                      std::regex_search(server->log(), std::regex("rebuild of [0-9]+ of 16384 slots[^\\n]*without marker")); },
                         30s)) << server->log();
  expect_default_converges();
  const std::string log = server->log();
  std::vector<int> counts;
  const std::regex rebuild_line("rebuild of ([0-9]+) of 16384 slots");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), rebuild_line);
       it != std::sregex_iterator(); ++it)
    counts.push_back(std::stoi((*it)[1]));
  ASSERT_GE(counts.size(), 2u) << log;  // the first (empty cluster), then the flushed shard
  EXPECT_EQ(counts.front(), 16384);
  EXPECT_GT(counts.back(), 5000) << log;
  EXPECT_LT(counts.back(), 6000) << log;
  EXPECT_EQ(cluster.raw(other, "HGETALL " + fstore::server::slot_marker_key(slot)), marker_before);
  EXPECT_TRUE(eventually([&] { return ready(); }, 30s)) << server->log();
}

// A master killed (kill -9) under write load; its replica is promoted after the node timeout (1 s).
// Writes meanwhile fail and are retried; the promoted replica may have missed acknowledged writes,
// so its slots are rebuilt. Afterwards every key equals PostgreSQL's winner.
TEST_F(SyncCluster, MasterKilledUnderWriteLoadConverges) {
  ASSERT_TRUE(eventually([&] { return ready(); }, 30s)) << server->log();
  Ingestor ingest(pg, 3000);
  std::this_thread::sleep_for(2s);
  run_command("kill -9 $(cat " + cluster.dir() + "/n0/redis.pid)");
  ASSERT_TRUE(eventually([&] { return cluster.masters().size() == 3; }, 30s)) << "no replica was promoted";
  std::this_thread::sleep_for(3s);
  ingest.stop();
  EXPECT_GT(ingest.rows(), 100);
  expect_default_converges(90s);
  EXPECT_TRUE(eventually([&] { return ready(); }, 30s)) << server->log();
  EXPECT_NE(server->log().find("failed over"), std::string::npos) << server->log();
}

// Two servers; the syncing one is killed (kill -9) under ingestion. The other takes over, bumps the
// epoch and keeps writing; the per-slot markers end with the new epoch and every key converges.
TEST_F(SyncCluster, LeaderKilledUnderIngestionIsTakenOver) {
  ASSERT_TRUE(eventually([&] { return ready(); }, 30s)) << server->log();
  const int port = free_port();
  ServerProcess second({"--pg", pg.url(), "--redis", cluster.url(), "--listen", "127.0.0.1:" + std::to_string(port),
                        "--no-auth"},
                       port);
  ASSERT_TRUE(second.wait_healthy(30s)) << second.log();
  Ingestor ingest(pg, 2000);
  std::this_thread::sleep_for(2s);
  server->kill_hard();
  ASSERT_TRUE(eventually([&] { return second.log().find("leader (epoch 2") != std::string::npos; }, 20s)) << second.log();
  std::this_thread::sleep_for(2s);
  ingest.stop();
  expect_default_converges();
  // A key's slot marker carries the new leader's epoch once the new leader wrote that key.
  pg.exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) VALUES (99999, now(), 1, 1, 'x')");
  expect_default_converges();
  const int slot = fstore::server::key_slot("fstore:v1:driver_stats:99999");
  EXPECT_EQ(cluster.cli(cluster.ports()[0], "HGET " + fstore::server::slot_marker_key(slot) + " epoch"), "2\n");
}

}  // namespace
