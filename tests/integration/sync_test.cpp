// Integration tests of the sync subsystem (issue 5): real PostgreSQL, Redis and fstore-server
// processes. Every test ends with a full comparison of Redis against PostgreSQL's winners.
#include "support/ingestor.hpp"
#include "support/stack.hpp"
#include "support/sync_check.hpp"
#include "sync/redis_link.hpp"
#include "sync/sync_util.hpp"
#include "sync/sync_worker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <thread>

using namespace fstore::testing;
using fstore::sync::Command;
using fstore::sync::RedisLink;
using fstore::sync::redis_link_endpoint;
using fstore::sync::reply_text;
using namespace std::chrono_literals;

namespace {

// The view every test uses: driver_stats of entity driver (bigint).
const char* kSetup = R"SQL(
  SELECT fstore.create_entity('driver', 'driver_id', 'bigint');
  SELECT fstore.create_feature_view('driver_stats', 'driver',
    '[{"name": "conv_rate", "type": "float8"}, {"name": "trips", "type": "int4"},
      {"name": "city", "type": "text"}]');
)SQL";

Store expected_default(const PgCluster& pg) {
  return expected(pg, "fstore_data.driver_stats", "driver_id", "event_ts", "created_ts", {"conv_rate", "trips", "city"});
}

void expect_default_converges(const PgCluster& pg, const RedisServer& redis, std::chrono::seconds timeout = 60s) {
  expect_converges(redis, "driver_stats", [&] { return expected_default(pg); }, timeout);
}

std::string insert_sql(int64_t key, const std::string& ts_expr, double conv, int trips, const std::string& city) {
  return "INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) VALUES (" +
         std::to_string(key) + ", " + ts_expr + ", " + std::to_string(conv) + ", " + std::to_string(trips) + ", '" +
         city + "')";
}

class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override { pg.exec(kSetup); }
  std::unique_ptr<ServerProcess> start_server() {
    int port = free_port();
    return std::make_unique<ServerProcess>(server_args(pg, redis, port), port);
  }
  std::string marker_state() { return redis.cli("HGET fstore:v1:@marker state"); }
  PgCluster pg;
  RedisServer redis;
};

}  // namespace

// Inserts, updates, a late row with an older event time, a future row, deletes and materialize.
TEST_F(SyncTest, FollowsIngestionAndKeepsTheWinner) {
  auto server = start_server();
  pg.exec(insert_sql(1, "now() - interval '1 hour'", 0.5, 3, "Paris") + ";" +
          insert_sql(2, "now() - interval '1 hour'", 0.25, 7, "Rome"));
  expect_default_converges(pg, redis);
  EXPECT_EQ(redis.cli("HGET fstore:v1:driver_stats:1 city"), "\"Paris\"\n");
  EXPECT_EQ(redis.cli("HGET fstore:v1:driver_stats:1 trips"), "3\n");

  // A late row with an older event time must not overwrite the newer value.
  pg.exec(insert_sql(1, "now() - interval '2 hours'", 0.9, 99, "Late"));
  pg.exec(insert_sql(3, "now()", 0.1, 1, "Oslo"));  // a marker that the late row's batch is done
  expect_default_converges(pg, redis);
  EXPECT_EQ(redis.cli("HGET fstore:v1:driver_stats:1 city"), "\"Paris\"\n");

  // Same event time: the greater created_ts wins.
  pg.exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, created_ts, conv_rate, trips, city) "
          "SELECT 2, event_ts, created_ts + interval '1 s', 0.75, 8, 'Milan' FROM fstore_data.driver_stats "
          "WHERE driver_id = 2");
  expect_default_converges(pg, redis);
  EXPECT_EQ(redis.cli("HGET fstore:v1:driver_stats:2 city"), "\"Milan\"\n");

  // NULL features are JSON null; UPDATE is followed.
  pg.exec("UPDATE fstore_data.driver_stats SET city = NULL WHERE driver_id = 3");
  expect_default_converges(pg, redis);
  EXPECT_EQ(redis.cli("HGET fstore:v1:driver_stats:3 city"), "null\n");

  // A row from the future wins only when its time comes.
  pg.exec(insert_sql(3, "now() + interval '2 seconds'", 0.2, 2, "Future"));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(redis.cli("HGET fstore:v1:driver_stats:3 city"), "null\n");
  std::this_thread::sleep_for(2500ms);
  EXPECT_EQ(redis.cli("HGET fstore:v1:driver_stats:3 city"), "\"Future\"\n");

  // DELETE of every row of an entity deletes its key.
  pg.exec("DELETE FROM fstore_data.driver_stats WHERE driver_id = 2");
  expect_default_converges(pg, redis);
  EXPECT_EQ(redis.cli("EXISTS fstore:v1:driver_stats:2"), "0\n");

  // materialize repairs a key someone deleted behind our back.
  redis.cli("DEL fstore:v1:driver_stats:1");
  EXPECT_EQ(pg.query_value("SELECT fstore.materialize('driver_stats')"), "2");
  expect_default_converges(pg, redis);
  auto status = pg.query_value("SELECT pending_changes FROM fstore.sync_status WHERE view = 'driver_stats'");
  EXPECT_EQ(status, "0");
}

// TRUNCATE removes every key; rows inserted in the same transaction after it survive.
TEST_F(SyncTest, DeleteAndTruncate) {
  auto server = start_server();
  pg.exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) "
          "SELECT i, now() - interval '1 minute', i / 1000.0, i, 'c' || i FROM generate_series(1, 2000) i");
  expect_default_converges(pg, redis);
  pg.exec("DELETE FROM fstore_data.driver_stats WHERE driver_id % 2 = 0");
  expect_default_converges(pg, redis);
  EXPECT_EQ(redis_view(redis, "driver_stats").size(), 1000u);
  pg.exec("TRUNCATE fstore_data.driver_stats");
  expect_default_converges(pg, redis);
  EXPECT_EQ(redis_view(redis, "driver_stats").size(), 0u);
  pg.exec("BEGIN; TRUNCATE fstore_data.driver_stats; " + insert_sql(7, "now()", 0.5, 1, "x") + "; COMMIT;");
  expect_default_converges(pg, redis);
  EXPECT_EQ(redis_view(redis, "driver_stats").size(), 1u);
}

// kill -9 of the server, 20 times, under continuous ingestion.
TEST_F(SyncTest, SurvivesKill9UnderIngestion) {
  Ingestor ingest(pg, 5000);
  std::mt19937 rng(7);
  for (int i = 0; i < 20; ++i) {
    auto server = start_server();
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 400));
    server->kill_hard();
  }
  ingest.stop();
  EXPECT_GT(ingest.rows(), 1000);
  auto server = start_server();
  expect_default_converges(pg, redis);
}

// Redis loses everything (FLUSHALL, restart without persistence): the worker rebuilds.
TEST_F(SyncTest, RebuildsAfterFlushAllAndRedisRestart) {
  auto server = start_server();
  pg.exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) "
          "SELECT i, now() - interval '1 minute', i / 1000.0, i, 'c' || i FROM generate_series(1, 20000) i");
  expect_default_converges(pg, redis);
  {
    Ingestor ingest(pg, 20000);
    redis.cli("FLUSHALL");
    std::this_thread::sleep_for(1500ms);
    redis.restart();
    std::this_thread::sleep_for(1500ms);
  }
  expect_default_converges(pg, redis);
  EXPECT_EQ(marker_state(), "ready\n");
  // Keys of views nobody knows are removed by a rebuild; a stray key of ours is not resurrected.
  redis.cli("HSET fstore:v1:driver_stats:999999 trips 1");
  redis.cli("DEL fstore:v1:@marker");
  expect_default_converges(pg, redis);
}

// PostgreSQL restarts (fast) and the listening connection is terminated, under ingestion.
TEST_F(SyncTest, SurvivesPostgresRestartAndTerminatedBackend) {
  auto server = start_server();
  {
    Ingestor ingest(pg, 3000);
    std::this_thread::sleep_for(500ms);
    pg.restart();
    std::this_thread::sleep_for(1000ms);
    for (int i = 0; i < 5; ++i) {
      pg.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'fstore-sync'");
      std::this_thread::sleep_for(400ms);
    }
  }
  expect_default_converges(pg, redis);
  // After the terminations a single statement still arrives at once (LISTEN was re-established).
  pg.exec(insert_sql(424242, "now()", 0.5, 1, "after"));
  expect_default_converges(pg, redis, 10s);
}

// A transaction that started first (lower queue id) and commits last is not lost.
TEST_F(SyncTest, TransactionThatCommitsLast) {
  auto server = start_server();
  auto slow = pg.connect();
  pqxx::work slow_tx(slow);
  slow_tx.exec(insert_sql(1, "now()", 0.5, 1, "slow"));
  pg.exec(insert_sql(2, "now()", 0.5, 2, "fast"));
  expect_default_converges(pg, redis);
  EXPECT_EQ(redis.cli("EXISTS fstore:v1:driver_stats:1"), "0\n");
  slow_tx.commit();
  expect_default_converges(pg, redis);
  EXPECT_EQ(redis.cli("HGET fstore:v1:driver_stats:1 city"), "\"slow\"\n");
}

// One transaction of 1,000,000 rows.
TEST_F(SyncTest, MillionRowTransaction) {
  auto server = start_server();
  pg.exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) "
          "SELECT i, now() - interval '1 minute', (i % 1000) / 1000.0, i % 100, 'c' || (i % 10) "
          "FROM generate_series(1, 1000000) i");
  // A batch deletes its queue rows in the transaction that ends after its Redis writes, so an
  // empty queue means the sync is done. Wait for that cheaply first: each comparison reads both
  // stores whole, and running them back to back takes the CPU the sync needs.
  auto deadline = std::chrono::steady_clock::now() + 180s;
  while (pg.query_value("SELECT count(*) FROM fstore.change_queue") != "0" &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(500ms);
  expect_default_converges(pg, redis, 60s);
}

// Two servers: the syncing one is killed, the other takes over within seconds.
TEST_F(SyncTest, SecondServerTakesOver) {
  auto first = start_server();
  pg.exec(insert_sql(1, "now()", 0.5, 1, "one"));
  expect_default_converges(pg, redis);
  std::string epoch = pg.query_value("SELECT epoch FROM fstore.sync_state");
  auto second = start_server();
  std::this_thread::sleep_for(1000ms);
  EXPECT_EQ(pg.query_value("SELECT epoch FROM fstore.sync_state"), epoch) << "the follower must not take the lock";
  Ingestor ingest(pg, 1000);
  std::this_thread::sleep_for(300ms);
  first->kill_hard();
  auto start = std::chrono::steady_clock::now();
  while (pg.query_value("SELECT epoch FROM fstore.sync_state") == epoch &&
         std::chrono::steady_clock::now() - start < 10s)
    std::this_thread::sleep_for(50ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "takeover took too long";
  ingest.stop();
  expect_default_converges(pg, redis);
}

// TTL: keys expire at event time + ttl; rows already expired are not written.
TEST_F(SyncTest, KeysExpireAtEventTimePlusTtl) {
  pg.exec("SELECT fstore.create_feature_view('short', 'driver', '[{\"name\": \"v\", \"type\": \"int4\"}]', "
          "ttl => interval '1 hour')");
  auto server = start_server();
  pg.exec("INSERT INTO fstore_data.short (driver_id, event_ts, v) VALUES "
          "(1, now() - interval '30 minutes', 1), (2, now() - interval '2 hours', 2)");
  auto want = [&] {
    return expected(pg, "fstore_data.short", "driver_id", "event_ts", "created_ts", {"v"}, "1 hour");
  };
  expect_converges(redis, "short", want);
  int64_t pttl = std::stoll(redis.cli("PTTL fstore:v1:short:1"));
  EXPECT_GT(pttl, 29 * 60 * 1000);
  EXPECT_LE(pttl, 30 * 60 * 1000);
  EXPECT_EQ(redis.cli("EXISTS fstore:v1:short:2"), "0\n");
}

// Registered views (own column names, no created column), new features and dropped views.
TEST_F(SyncTest, RegistryChangesReachRedis) {
  auto server = start_server();
  pg.exec("CREATE TABLE public.trips (rider text NOT NULL, ts timestamptz NOT NULL, fare numeric, note text);"
          "CREATE INDEX ON public.trips (rider, ts);"
          "INSERT INTO public.trips VALUES ('a', now() - interval '1 day', 10.5, 'x'), ('b', now(), 3, NULL);"
          "SELECT fstore.create_entity('rider', 'rider', 'text');"
          "SELECT fstore.register_feature_view('rides', 'rider', 'public.trips', timestamp_column => 'ts');");
  auto want = [&] { return expected(pg, "public.trips", "rider", "ts", "", {"fare", "note"}); };
  expect_converges(redis, "rides", want);  // rows the table had before registration
  pg.exec("INSERT INTO public.trips VALUES ('a', now(), 11, 'y')");
  expect_converges(redis, "rides", want);
  EXPECT_EQ(redis.cli("HGET fstore:v1:rides:a fare"), "11\n");

  pg.exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) VALUES (5, now(), 0.5, 1, 'z')");
  expect_default_converges(pg, redis);
  pg.exec("SELECT fstore.drop_feature_view('driver_stats', drop_data => true)");
  expect_converges(redis, "driver_stats", [] { return Store{}; }, 20s);
}

// The in-process worker reports leadership, lag and caught-up state.
TEST_F(SyncTest, StatusReportsCaughtUp) {
  fstore::sync::SyncOptions options;
  options.pg_url = pg.url();
  options.redis_url = redis.url();
  fstore::sync::SyncWorker worker(options);
  worker.start();
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!worker.status().caught_up && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  auto s = worker.status();
  EXPECT_TRUE(s.leader);
  EXPECT_TRUE(s.pg_connected);
  EXPECT_TRUE(s.redis_connected);
  EXPECT_TRUE(s.caught_up);
  EXPECT_EQ(s.queue_depth, 0);
  EXPECT_EQ(s.lag_seconds, 0);
  EXPECT_EQ(s.rebuilds, 1u);  // the empty Redis had no marker
  pg.exec(insert_sql(1, "now()", 0.5, 1, "x"));
  expect_default_converges(pg, redis, 10s);
  EXPECT_GE(worker.status().batches_applied, 1u);
  redis.stop();
  std::this_thread::sleep_for(2500ms);
  EXPECT_FALSE(worker.status().redis_connected);
  EXPECT_FALSE(worker.status().caught_up);
  redis.start();
  deadline = std::chrono::steady_clock::now() + 20s;
  while (!worker.status().caught_up && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(worker.status().caught_up);
  EXPECT_EQ(worker.status().rebuilds, 2u);
  expect_default_converges(pg, redis, 10s);
  worker.stop();
}
