// The read path against a real Redis Cluster (3 masters + 3 replicas, tests/harness/stack.sh
// redis-cluster-start): lookups spread over every master, a slot migrated while clients read
// (ASK/MOVED followed, no errors), and lookups again after a master is killed and its replica
// promoted. The servers here run with --no-sync (the hashes are written by the test); the sync on a
// cluster is tested in sync_cluster_test.cpp.
#include "http_fixture.hpp"
#include "support/redis_cluster.hpp"

#include <sstream>

using namespace fstore::testing;

namespace {

class RedisClusterRead : public ::testing::Test {
 protected:
  void SetUp() override {
    create_registry(pg_);
    for (int i = 1; i <= kDrivers; ++i)
      cluster_.cli(cluster_.ports()[0], "HSET fstore:v1:driver_stats:" + std::to_string(i) + " @event_ts " +
                                            std::to_string(now_us()) + " @created_ts 1 trips " + std::to_string(i));
    server_ = start_server([&](int port) {
      return std::vector<std::string>{"--pg", pg_.url(), "--redis", cluster_.url(), "--listen",
                                      "127.0.0.1:" + std::to_string(port), "--no-auth", "--no-sync"};
    }, port_);
    ASSERT_TRUE(server_);
    ASSERT_TRUE(eventually([&] { return HttpClient(port_).get("/ready").status == 200; }, std::chrono::seconds(20)))
        << server_->log();
  }
  // Looks every driver up once; returns how many answers were wrong or failed.
  int lookup_all() {
    int bad = 0;
    HttpClient http(port_);
    for (int i = 1; i <= kDrivers; ++i) {
      auto r = http.get("/features/driver_stats/" + std::to_string(i) + "?features=trips");
      if (r.status != 200 || body_json(r)["features"]["trips"] != i) ++bad;
    }
    return bad;
  }
  static constexpr int kDrivers = 60;
  PgCluster pg_;
  RedisClusterNodes cluster_;
  std::unique_ptr<ServerProcess> server_;
  int port_ = 0;
};

TEST_F(RedisClusterRead, LookupsAndBatchesSpanEveryMaster) {
  EXPECT_EQ(lookup_all(), 0);
  HttpClient http(port_);
  nlohmann::json req = {{"features", {"driver_stats:trips"}}, {"entities", {{"driver_id", nlohmann::json::array()}}}};
  for (int i = 1; i <= kDrivers; ++i) req["entities"]["driver_id"].push_back(i);
  auto r = http.post("/get-online-features", req.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = body_json(r);
  for (int i = 0; i < kDrivers; ++i) EXPECT_EQ(j["results"][1]["values"][i], i + 1) << j.dump();
  EXPECT_EQ(HttpClient(port_).get("/features/driver_stats/9999").status, 404);
}

TEST_F(RedisClusterRead, SlotMigrationDuringReadsGivesNoErrors) {
  const std::string key = "fstore:v1:driver_stats:7";
  const std::string slot = cluster_.cli(cluster_.ports()[0], "CLUSTER KEYSLOT " + key);
  const int s = std::stoi(slot);
  // Owner and another master, by CLUSTER SLOTS through redis-cli's node list.
  auto node_id = [&](int port) { auto id = cluster_.cli(port, "CLUSTER MYID"); return id.substr(0, id.find('\n')); };
  int from = -1, to = -1;
  for (int i = 0; i < 3; ++i) {
    auto owner = cluster_.cli(cluster_.ports()[static_cast<size_t>(i)], "CLUSTER COUNTKEYSINSLOT " + slot);
    auto here = run_command("redis-cli -p " + std::to_string(cluster_.ports()[static_cast<size_t>(i)]) + " EXISTS " + key + " 2>&1");
    if (here.find("MOVED") == std::string::npos && here.find("1") != std::string::npos) from = cluster_.ports()[static_cast<size_t>(i)];
    else if (to < 0) to = cluster_.ports()[static_cast<size_t>(i)];
    (void)owner;
  }
  ASSERT_GT(from, 0);
  ASSERT_GT(to, 0);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, done{0};
  std::thread reader([&] {
    while (!stop) { bad += lookup_all(); ++done; }
  });
  auto raw = [&](int port, const std::string& args) { return run_command("redis-cli -p " + std::to_string(port) + " " + args + " 2>&1"); };
  raw(to, "CLUSTER SETSLOT " + std::to_string(s) + " IMPORTING " + node_id(from));
  raw(from, "CLUSTER SETSLOT " + std::to_string(s) + " MIGRATING " + node_id(to));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // reads while the slot is half-moved (ASK)
  raw(from, "MIGRATE 127.0.0.1 " + std::to_string(to) + " \"\" 0 5000 KEYS " + key);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int p : {to, from}) raw(p, "CLUSTER SETSLOT " + std::to_string(s) + " NODE " + node_id(to));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  reader.join();
  EXPECT_GT(done.load(), 0);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(raw(to, "EXISTS " + key).substr(0, 1), "1");
  EXPECT_EQ(lookup_all(), 0);
}

TEST_F(RedisClusterRead, MasterKilledAndReplicaPromoted) {
  // Replicate first (WAIT), then kill -9 the first master; its replica takes over after the
  // cluster-node-timeout (1 s), and the server follows the new map.
  for (int p : {cluster_.ports()[0], cluster_.ports()[1], cluster_.ports()[2]})
    run_command("redis-cli -p " + std::to_string(p) + " WAIT 1 2000");
  run_command("kill -9 $(cat " + cluster_.dir() + "/n0/redis.pid)");
  EXPECT_TRUE(eventually([&] { return lookup_all() == 0; }, std::chrono::seconds(30))) << server_->log();
}

}  // namespace
