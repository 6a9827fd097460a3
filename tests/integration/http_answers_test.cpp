// Serving-quality counters in /metrics (issue 12, on the lookup path of issue 18): a known number
// of lookups of each status through both online routes, then the exact counts of
// fstore_online_answers_total{view,feature,status}.
#include "http_fixture.hpp"

#include <sstream>

using namespace fstore::testing;
using json = nlohmann::json;

class HttpAnswers : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg = std::make_unique<PgCluster>();
    redis = std::make_unique<RedisServer>();
    create_registry(*pg);
    server = start_server([](int p) {
      auto args = server_args(*pg, *redis, p, /*no_auth=*/true);
      args.push_back("--no-sync");  // Redis is written by the test itself
      return args;
    }, port);
    ASSERT_TRUE(server);
    HttpClient c(port);
    ASSERT_TRUE(eventually([&] { return c.get("/ready").status == 200; })) << server->log();
    int64_t now = now_us();
    put_entity(redis->port(), "driver_stats", "2001", now - 60'000'000,
               {{"conv_rate", "0.5"}, {"trips", "3"}, {"city", "\"Paris\""}});  // rating missing
    put_entity(redis->port(), "driver_stats", "2002", now - 60'000'000, {{"conv_rate", "null"}, {"trips", "4"}});
    put_entity(redis->port(), "driver_stats", "2003", now - 3LL * 86400 * 1000000,  // older than the 1 day ttl
               {{"conv_rate", "0.1"}, {"trips", "1"}, {"city", "\"Nice\""}});
  }
  static void TearDownTestSuite() {
    if (server && HasFailure()) std::cerr << "server log:\n" << server->log() << "\n";
    server.reset();
    redis.reset();
    pg.reset();
  }

  // The value of fstore_online_answers_total for (view, feature, status); -1 when the series is absent.
  static long long answers(const std::string& metrics, const std::string& view, const std::string& feature,
                           const std::string& status) {
    std::string series = "fstore_online_answers_total{view=\"" + view + "\",feature=\"" + feature +
                         "\",status=\"" + status + "\"} ";
    auto at = metrics.find(series);
    if (at == std::string::npos) return -1;
    return std::stoll(metrics.substr(at + series.size()));
  }

  static inline std::unique_ptr<PgCluster> pg;
  static inline std::unique_ptr<RedisServer> redis;
  static inline std::unique_ptr<ServerProcess> server;
  static inline int port = 0;
  HttpClient client{port};
};

TEST_F(HttpAnswers, ExactCountsPerFeatureAndStatus) {
  auto before = client.get("/metrics").body;
  EXPECT_NE(before.find("# TYPE fstore_online_answers_total counter"), std::string::npos) << before;
  EXPECT_EQ(answers(before, "driver_stats", "conv_rate", "PRESENT"), 0) << before;
  EXPECT_EQ(answers(before, "offline_stats", "x", "PRESENT"), -1) << "offline views are never served";

  // GET: 3 x (conv_rate PRESENT, trips PRESENT, rating NOT_FOUND), 2 x conv_rate NULL_VALUE,
  // 1 x conv_rate OUTSIDE_MAX_AGE, 1 x missing entity (404: NOT_FOUND for conv_rate and trips).
  for (int i = 0; i < 3; ++i) ASSERT_EQ(client.get("/features/driver_stats/2001?features=conv_rate,trips,rating").status, 200);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(client.get("/features/driver_stats/2002?features=conv_rate").status, 200);
  ASSERT_EQ(client.get("/features/driver_stats/2003?features=conv_rate").status, 200);
  ASSERT_EQ(client.get("/features/driver_stats/9999?features=conv_rate,trips").status, 404);
  // Refused requests answer nothing and count nothing.
  ASSERT_EQ(client.get("/features/driver_stats/abc?features=conv_rate").status, 400);
  ASSERT_EQ(client.post("/get-online-features", R"({"features": ["driver_stats:conv_rate"], "entities": {"driver_id": ["x"]}})").status, 400);
  // POST, 4 rows: conv_rate PRESENT, NULL_VALUE, OUTSIDE_MAX_AGE, NOT_FOUND;
  // city PRESENT, NOT_FOUND (no field), OUTSIDE_MAX_AGE, NOT_FOUND.
  auto r = client.post("/get-online-features",
                       R"({"features": ["driver_stats:conv_rate", "driver_stats:city"], "entities": {"driver_id": [2001, 2002, 2003, 9999]}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(r)["results"][1]["statuses"], json({"PRESENT", "NULL_VALUE", "OUTSIDE_MAX_AGE", "NOT_FOUND"}));

  auto m = client.get("/metrics").body;
  EXPECT_EQ(answers(m, "driver_stats", "conv_rate", "PRESENT"), 4) << m;
  EXPECT_EQ(answers(m, "driver_stats", "conv_rate", "NULL_VALUE"), 3);
  EXPECT_EQ(answers(m, "driver_stats", "conv_rate", "OUTSIDE_MAX_AGE"), 2);
  EXPECT_EQ(answers(m, "driver_stats", "conv_rate", "NOT_FOUND"), 2);
  EXPECT_EQ(answers(m, "driver_stats", "trips", "PRESENT"), 3);
  EXPECT_EQ(answers(m, "driver_stats", "trips", "NOT_FOUND"), 1);
  EXPECT_EQ(answers(m, "driver_stats", "trips", "NULL_VALUE"), 0);
  EXPECT_EQ(answers(m, "driver_stats", "trips", "OUTSIDE_MAX_AGE"), 0);
  EXPECT_EQ(answers(m, "driver_stats", "rating", "NOT_FOUND"), 3);
  EXPECT_EQ(answers(m, "driver_stats", "rating", "PRESENT"), 0);
  EXPECT_EQ(answers(m, "driver_stats", "city", "PRESENT"), 1);
  EXPECT_EQ(answers(m, "driver_stats", "city", "NOT_FOUND"), 2);
  EXPECT_EQ(answers(m, "driver_stats", "city", "OUTSIDE_MAX_AGE"), 1);
  EXPECT_EQ(answers(m, "driver_stats", "active_flag", "PRESENT"), 0);
  EXPECT_EQ(answers(m, "user_stats", "score", "NOT_FOUND"), 0);

  // A registry reload gives the new feature its series and keeps every count.
  pg->exec(R"(SELECT fstore.add_features('driver_stats', '[{"name": "bonus", "type": "int4"}]'))");
  std::string after;
  ASSERT_TRUE(eventually([&] {
    after = client.get("/metrics").body;
    return answers(after, "driver_stats", "bonus", "NOT_FOUND") == 0;
  })) << after;
  EXPECT_EQ(answers(after, "driver_stats", "conv_rate", "PRESENT"), 4);
  EXPECT_EQ(answers(after, "driver_stats", "city", "NOT_FOUND"), 2);
  ASSERT_EQ(client.get("/features/driver_stats/2001?features=bonus,conv_rate").status, 200);
  auto last = client.get("/metrics").body;
  EXPECT_EQ(answers(last, "driver_stats", "bonus", "NOT_FOUND"), 1);
  EXPECT_EQ(answers(last, "driver_stats", "conv_rate", "PRESENT"), 5);
}
