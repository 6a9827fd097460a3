// Integration tests of the sync worker's robustness (issue 10): infinite event times, NULL keys and
// created times, broken views next to healthy ones, two views on one table, future rows through
// resyncs and rebuilds, a Redis restored from an older snapshot, and ttls across a DST change.
// Real PostgreSQL and Redis; the worker runs in-process (its status is checked) or as a server.
#include "support/http_client.hpp"
#include "support/stack.hpp"
#include "support/sync_check.hpp"
#include "sync/redis_link.hpp"
#include "sync/sync_util.hpp"
#include "sync/sync_worker.hpp"
#include "time_rule.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <thread>

using namespace fstore::testing;
using namespace std::chrono_literals;

namespace {

const char* kSetup = R"SQL(
  SELECT fstore.create_entity('driver', 'driver_id', 'bigint');
  SELECT fstore.create_feature_view('driver_stats', 'driver',
    '[{"name": "conv_rate", "type": "float8"}, {"name": "trips", "type": "int4"},
      {"name": "city", "type": "text"}]');
)SQL";

// fstore.sync_views as 0.1.1 has it (the lead adds state and reason; until then the test adds them).
const char* kStateColumns =
    "ALTER TABLE fstore.sync_views ADD COLUMN IF NOT EXISTS state text, ADD COLUMN IF NOT EXISTS reason text";

Store driver_stats(const PgCluster& pg) {
  return expected(pg, "fstore_data.driver_stats", "driver_id", "event_ts", "created_ts", {"conv_rate", "trips", "city"});
}

// Polls `cond` until it holds or `timeout` passes; returns whether it held.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return cond();
}

class SyncRobustnessTest : public ::testing::Test {
 protected:
  void SetUp() override { pg.exec(kSetup); }
  std::unique_ptr<fstore::sync::SyncWorker> start_worker(int broken_retry_ms = 300) {
    fstore::sync::SyncOptions options;
    options.pg_url = pg.url();
    options.redis_url = redis.url();
    options.broken_retry_ms = broken_retry_ms;
    auto w = std::make_unique<fstore::sync::SyncWorker>(options);
    w->start();
    return w;
  }
  std::string broken_reason(const fstore::sync::SyncWorker& w, const std::string& view) {
    for (const auto& [name, reason] : w.status().broken_views)
      if (name == view) return reason;
    return "";
  }
  std::string hget(const std::string& key, const std::string& field) {
    std::string out = redis.cli("HGET " + key + " " + field);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  PgCluster pg;
  RedisServer redis;
};

}  // namespace

// 'infinity' never wins at now and is never due; '-infinity' is older than every row and outside
// every ttl. Neither stops the sync or /ready, also after the rows are deleted.
TEST_F(SyncRobustnessTest, InfiniteEventTimes) {
  pg.exec("SELECT fstore.create_feature_view('short', 'driver', '[{\"name\": \"v\", \"type\": \"int4\"}]', "
          "ttl => interval '1 hour')");
  int port = free_port();
  ServerProcess server(server_args(pg, redis, port), port);
  ASSERT_TRUE(server.wait_healthy());
  pg.exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) VALUES "
          "(1, now() - interval '1 minute', 0.5, 1, 'finite'), (1, 'infinity', 0.9, 9, 'never'), "
          "(2, '-infinity', 0.2, 2, 'ancient'), (3, '-infinity', 0.3, 3, 'ancient'), "
          "(3, now() - interval '1 day', 0.4, 4, 'yesterday')");
  pg.exec("SELECT fstore.ingest('short', '[{\"driver_id\": 1, \"event_ts\": \"-infinity\", \"v\": 1}, "
          "{\"driver_id\": 2, \"event_ts\": \"infinity\", \"v\": 2}, "
          "{\"driver_id\": 3, \"event_ts\": \"now\", \"v\": 3}]')");
  expect_converges(redis, "driver_stats", [&] { return driver_stats(pg); });
  expect_converges(redis, "short",
                   [&] { return expected(pg, "fstore_data.short", "driver_id", "event_ts", "created_ts", {"v"}, "1 hour"); });
  EXPECT_EQ(hget("fstore:v1:driver_stats:1", "city"), "\"finite\"");
  EXPECT_EQ(hget("fstore:v1:driver_stats:2", "@event_ts"), "-9223372036854775808");  // -infinity, no ttl: the winner
  EXPECT_EQ(hget("fstore:v1:driver_stats:3", "city"), "\"yesterday\"");
  EXPECT_EQ(redis.cli("EXISTS fstore:v1:short:1"), "0\n");  // -infinity is outside every ttl
  EXPECT_EQ(redis.cli("EXISTS fstore:v1:short:2"), "0\n");  // infinity never wins at now
  HttpClient http(port);
  EXPECT_TRUE(eventually([&] { return http.get("/ready").status == 200; })) << http.get("/ready").body;
  EXPECT_TRUE(eventually([&] { return pg.query_value("SELECT count(*) FROM fstore.change_queue") == "0"; }))
      << "a change due at 'infinity' stays queued";

  pg.exec("DELETE FROM fstore_data.driver_stats WHERE NOT isfinite(event_ts);"
          "DELETE FROM fstore_data.short WHERE NOT isfinite(event_ts)");
  expect_converges(redis, "driver_stats", [&] { return driver_stats(pg); });
  EXPECT_EQ(redis.cli("EXISTS fstore:v1:driver_stats:2"), "0\n");
  EXPECT_TRUE(eventually([&] { return http.get("/ready").status == 200; })) << http.get("/ready").body;
  EXPECT_EQ(server.log().find("cannot subtract infinite"), std::string::npos) << server.log();
  EXPECT_EQ(server.log().find("out of range"), std::string::npos) << server.log();
}

// One tie-break everywhere: a NULL created_ts ranks below every value; a NULL key is never synced.
TEST_F(SyncRobustnessTest, NullCreatedRanksLowestAndNullKeysAreSkipped) {
  pg.exec("CREATE TABLE public.obs (driver_id bigint, ts timestamptz, created timestamptz, v int);"
          "CREATE INDEX ON public.obs (driver_id, ts);"
          "SELECT fstore.register_feature_view('obs', 'driver', 'public.obs', timestamp_column => 'ts', "
          "created_column => 'created')");
  auto worker = start_worker();
  pg.exec("INSERT INTO public.obs VALUES "
          "(1, '2024-01-01 00:00Z', NULL, 10), (1, '2024-01-01 00:00Z', '2023-12-31 00:00Z', 20), "
          "(2, '2024-01-01 00:00Z', NULL, 30), (NULL, now(), now(), 40), (3, NULL, NULL, 50)");
  pg.exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) VALUES (9, now(), 0.5, 1, 'x')");
  expect_converges(redis, "obs", [&] { return expected(pg, "public.obs", "driver_id", "ts", "created", {"v"}); });
  expect_converges(redis, "driver_stats", [&] { return driver_stats(pg); });
  EXPECT_EQ(hget("fstore:v1:obs:1", "v"), "20");  // the row with a created_ts beats the NULL one
  EXPECT_EQ(hget("fstore:v1:obs:2", "@created_ts"), "-9223372036854775808");
  EXPECT_EQ(redis.cli("EXISTS fstore:v1:obs:3"), "0\n");  // a NULL event time never wins
  EXPECT_TRUE(worker->status().broken_views.empty());
  EXPECT_TRUE(eventually([&] { return worker->status().caught_up; }));
}

// A view whose table lost or retyped a feature column is marked and skipped; the others go on;
// it recovers once the table is fixed.
TEST_F(SyncRobustnessTest, BrokenViewIsSkippedAndRecovers) {
  pg.exec(kStateColumns);
  pg.exec("CREATE TABLE public.trips (rider text NOT NULL, ts timestamptz NOT NULL, fare numeric, note text);"
          "CREATE INDEX ON public.trips (rider, ts);"
          "INSERT INTO public.trips VALUES ('a', now() - interval '1 day', 10.5, 'x');"
          "SELECT fstore.create_entity('rider', 'rider', 'text');"
          "SELECT fstore.register_feature_view('rides', 'rider', 'public.trips', timestamp_column => 'ts');");
  auto worker = start_worker();
  auto rides = [&] { return expected(pg, "public.trips", "rider", "ts", "", {"fare", "note"}); };
  expect_converges(redis, "rides", rides);

  pg.exec("ALTER TABLE public.trips DROP COLUMN note");
  pg.exec("INSERT INTO public.trips VALUES ('b', now(), 3)");
  pg.exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) VALUES (1, now(), 0.5, 1, 'x')");
  expect_converges(redis, "driver_stats", [&] { return driver_stats(pg); });
  EXPECT_TRUE(eventually([&] { return broken_reason(*worker, "rides").find("note") != std::string::npos; }))
      << "broken views: " << worker->status().broken_views.size();
  EXPECT_EQ(pg.query_value("SELECT state FROM fstore.sync_views WHERE view_name = 'rides'"), "error");
  EXPECT_NE(pg.query_value("SELECT reason FROM fstore.sync_views WHERE view_name = 'rides'").find("note"), std::string::npos);
  EXPECT_TRUE(eventually([&] { return worker->status().caught_up; })) << worker->status().last_error;
  // Healthy views keep syncing while it is broken.
  pg.exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) VALUES (2, now(), 0.5, 2, 'y')");
  expect_converges(redis, "driver_stats", [&] { return driver_stats(pg); }, 10s);

  pg.exec("ALTER TABLE public.trips ADD COLUMN note text");
  expect_converges(redis, "rides", rides);
  EXPECT_TRUE(eventually([&] { return worker->status().broken_views.empty(); }));
  EXPECT_EQ(pg.query_value("SELECT state FROM fstore.sync_views WHERE view_name = 'rides'"), "ok");

  // A column whose type changed: nothing is cast, the view waits until the type is back.
  pg.exec("ALTER TABLE public.trips ALTER COLUMN fare TYPE float8");
  pg.exec("INSERT INTO public.trips VALUES ('c', now(), 4, 'z')");
  EXPECT_TRUE(eventually([&] { return broken_reason(*worker, "rides").find("fare") != std::string::npos; }));
  pg.exec("ALTER TABLE public.trips ALTER COLUMN fare TYPE numeric");
  expect_converges(redis, "rides", rides);
  EXPECT_TRUE(eventually([&] { return worker->status().broken_views.empty(); }));
  EXPECT_EQ(hget("fstore:v1:rides:c", "fare"), "4");
}

// Two views registered on one table: the one set of capture triggers queues a change for each
// (0.1.1: the trigger finds the views by the table's OID), and both stay in sync.
TEST_F(SyncRobustnessTest, TwoViewsOnOneTable) {
  pg.exec("CREATE TABLE public.shared (driver_id bigint NOT NULL, ts timestamptz NOT NULL, a int, b text);"
          "CREATE INDEX ON public.shared (driver_id, ts);"
          "SELECT fstore.register_feature_view('view_a', 'driver', 'public.shared', timestamp_column => 'ts', "
          "features => '{a}');"
          "SELECT fstore.register_feature_view('view_b', 'driver', 'public.shared', timestamp_column => 'ts', "
          "features => '{b}');");
  auto worker = start_worker();
  auto want_a = [&] { return expected(pg, "public.shared", "driver_id", "ts", "", {"a"}); };
  auto want_b = [&] { return expected(pg, "public.shared", "driver_id", "ts", "", {"b"}); };
  for (int round = 0; round < 3; ++round) {
    pg.exec("INSERT INTO public.shared SELECT i, now() - interval '1 minute' * " + std::to_string(3 - round) +
            ", i * 10 + " + std::to_string(round) + ", 'r" + std::to_string(round) + "' FROM generate_series(1, 50) i");
    expect_converges(redis, "view_a", want_a);
    expect_converges(redis, "view_b", want_b);
  }
  EXPECT_EQ(hget("fstore:v1:view_a:7", "a"), "72");
  EXPECT_EQ(hget("fstore:v1:view_b:7", "b"), "\"r2\"");
}

// Future rows reach Redis at their time also when the worker learnt of them by a resync (a table
// registered with rows) or a rebuild (queue lost), not only through the capture trigger.
TEST_F(SyncRobustnessTest, FutureRowsSurviveResyncsAndRebuilds) {
  auto worker = start_worker();
  pg.exec("CREATE TABLE public.plan (driver_id bigint NOT NULL, ts timestamptz NOT NULL, v int);"
          "CREATE INDEX ON public.plan (driver_id, ts);"
          "INSERT INTO public.plan VALUES (1, now() - interval '1 hour', 1), (1, now() + interval '3 seconds', 2);"
          "SELECT fstore.register_feature_view('plan', 'driver', 'public.plan', timestamp_column => 'ts')");
  EXPECT_TRUE(eventually([&] { return hget("fstore:v1:plan:1", "v") == "1"; }));
  EXPECT_TRUE(eventually([&] { return hget("fstore:v1:plan:1", "v") == "2"; }, 10s)) << "the future row never arrived";

  // A rebuild (marker gone) with the trigger's due row lost: the rebuild queues the future row.
  pg.exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) VALUES "
          "(5, now() - interval '1 hour', 0.5, 1, 'past'), (5, now() + interval '4 seconds', 0.5, 2, 'future')");
  EXPECT_TRUE(eventually([&] { return hget("fstore:v1:driver_stats:5", "city") == "\"past\""; }));
  pg.exec("DELETE FROM fstore.change_queue");
  redis.cli("FLUSHALL");
  EXPECT_TRUE(eventually([&] { return hget("fstore:v1:driver_stats:5", "city") == "\"past\""; }));
  EXPECT_TRUE(eventually([&] { return hget("fstore:v1:driver_stats:5", "city") == "\"future\""; }, 10s));
  expect_converges(redis, "driver_stats", [&] { return driver_stats(pg); });
}

// Reconcile writes carry a fresh seq: a Redis restored from a snapshot taken before them (old
// marker, missing keys) is behind PostgreSQL and is rebuilt.
TEST_F(SyncRobustnessTest, RedisRestoredFromAnOlderSnapshotIsRebuilt) {
  auto worker = start_worker();
  pg.exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) VALUES (1, now(), 0.5, 1, 'x')");
  expect_converges(redis, "driver_stats", [&] { return driver_stats(pg); });
  ASSERT_TRUE(eventually([&] { return worker->status().caught_up; }));
  const std::string old_seq = hget(fstore::sync::kMarkerKey, "seq");
  const std::string old_epoch = hget(fstore::sync::kMarkerKey, "epoch");
  const uint64_t rebuilds = worker->status().rebuilds;

  // A registry change only (no queue batch): the new view's rows reach Redis by reconcile.
  pg.exec("CREATE TABLE public.extra (driver_id bigint NOT NULL, ts timestamptz NOT NULL, v int);"
          "CREATE INDEX ON public.extra (driver_id, ts);"
          "INSERT INTO public.extra VALUES (1, now() - interval '1 minute', 7);"
          "SELECT fstore.register_feature_view('extra', 'driver', 'public.extra', timestamp_column => 'ts')");
  EXPECT_TRUE(eventually([&] { return hget("fstore:v1:extra:1", "v") == "7"; }));
  EXPECT_NE(hget(fstore::sync::kMarkerKey, "seq"), old_seq) << "reconcile must write a fresh seq";

  // "Restore the snapshot": the state of Redis before the reconcile.
  redis.cli("DEL fstore:v1:extra:1");
  redis.cli("HSET " + std::string(fstore::sync::kMarkerKey) + " seq " + old_seq + " epoch " + old_epoch + " state ready");
  EXPECT_TRUE(eventually([&] { return hget("fstore:v1:extra:1", "v") == "7"; })) << "an old snapshot went unnoticed";
  EXPECT_GT(worker->status().rebuilds, rebuilds);
  expect_converges(redis, "driver_stats", [&] { return driver_stats(pg); });
}

// The Redis expiry is event time + ttl by the shared UTC rule, whatever the session's TimeZone:
// a '1 day' ttl is 24 hours across a DST change, a '1 month' ttl moves the UTC calendar.
TEST_F(SyncRobustnessTest, TtlExpiryIsUtcAcrossDstAndMonths) {
  pg.exec("ALTER DATABASE " + pg.dbname() + " SET TimeZone = 'Europe/Berlin'");
  // The smallest number of days from now whose local (Berlin) addition crosses a DST change.
  const std::string days = pg.query_value(
      "SELECT min(k) FROM generate_series(1, 400) k "
      "WHERE (now() - interval '1 hour' + make_interval(days => k)) - (now() - interval '1 hour') "
      "<> make_interval(hours => 24 * k)");
  ASSERT_FALSE(days.empty());
  pg.exec("SELECT fstore.create_feature_view('dst', 'driver', '[{\"name\": \"v\", \"type\": \"int4\"}]', "
          "ttl => interval '" + days + " days');"
          "SELECT fstore.create_feature_view('monthly', 'driver', '[{\"name\": \"v\", \"type\": \"int4\"}]', "
          "ttl => interval '1 month')");
  auto worker = start_worker();
  pg.exec("INSERT INTO fstore_data.dst (driver_id, event_ts, v) VALUES (1, now() - interval '1 hour', 1);"
          "INSERT INTO fstore_data.monthly (driver_id, event_ts, v) VALUES (1, now() - interval '1 hour', 1)");
  ASSERT_TRUE(eventually([&] { return hget("fstore:v1:dst:1", "v") == "1" && hget("fstore:v1:monthly:1", "v") == "1"; }));
  auto check = [&](const std::string& view, const fstore::Interval& ttl) {
    const int64_t event_unix_us = std::stoll(hget("fstore:v1:" + view + ":1", "@event_ts"));
    const int64_t event_pg_us = event_unix_us - fstore::sync::kPgEpochUnixUs;
    const int64_t want_ms = fstore::sync::pg_to_unix_us(fstore::add_interval_utc(event_pg_us, ttl)) / 1000;
    EXPECT_EQ(std::stoll(redis.cli("PEXPIRETIME fstore:v1:" + view + ":1")), want_ms) << view;
    return want_ms;
  };
  const int64_t dst_ms = check("dst", fstore::Interval{0, std::stoi(days), 0});
  check("monthly", fstore::Interval{1, 0, 0});
  // The test means something: the session's local (Berlin) arithmetic is an hour away from it
  // (both in whole milliseconds, rounded down as the expiry is).
  const std::string local_ms = pg.query_value(
      "SELECT floor(extract(epoch FROM event_ts + make_interval(days => " + days + ")) * 1000)::int8 "
      "FROM fstore_data.dst WHERE driver_id = 1");
  EXPECT_EQ(std::llabs(std::stoll(local_ms) - dst_ms), 3600000) << local_ms << " vs " << dst_ms;
  EXPECT_TRUE(worker->status().broken_views.empty());
}
