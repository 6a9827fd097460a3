// Every route of fstore-server over real HTTP, against real PostgreSQL and Redis, with tokens on.
#include "http_fixture.hpp"

using namespace fstore::testing;
using json = nlohmann::json;

class HttpApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg = std::make_unique<PgCluster>();
    redis = std::make_unique<RedisServer>();
    create_registry(*pg);
    reader = pg->query_value("SELECT fstore.create_api_token('test_reader', 'reader')");
    writer = pg->query_value("SELECT fstore.create_api_token('test_writer', 'writer')");
    server = start_server([](int p) {
      auto args = server_args(*pg, *redis, p, /*no_auth=*/false);
      args.push_back("--no-sync");  // Redis is written by the tests themselves here
      args.insert(args.end(), {"--token-cache-ms", "500"});
      return args;
    }, port);
    ASSERT_TRUE(server);
    HttpClient c(port);
    ASSERT_TRUE(eventually([&] { return c.get("/ready").status == 200; })) << server->log();
    now = now_us();
    put_entity(redis->port(), "driver_stats", "1001", now - 60'000'000,
               {{"conv_rate", "0.25"}, {"trips", "12"}, {"city", "\"Paris\""}, {"rating", "4.10"},
                {"active_flag", "true"}, {"draft_f", "7"}, {"old_f", "1"}, {"legacy_f", "3"}});
    put_entity(redis->port(), "driver_stats", "1002", now - 60'000'000,
               {{"conv_rate", "null"}, {"trips", "5"}, {"city", "\"Lyon\""}});  // rating etc. missing
    put_entity(redis->port(), "driver_stats", "1003", now - 3LL * 86400 * 1000000,  // older than the ttl
               {{"conv_rate", "0.9"}, {"trips", "1"}, {"city", "\"Nice\""}, {"rating", "1"}, {"active_flag", "false"}});
    put_entity(redis->port(), "user_stats", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", now - 1'000'000, {{"score", "42"}});
  }
  static void TearDownTestSuite() {
    if (server) {
      if (HasFailure()) std::cerr << "server log:\n" << server->log() << "\n";
      server.reset();
    }
    redis.reset();
    pg.reset();
  }

  HttpResponse get(const std::string& target, const std::string& token = reader) { return client.get(target, token); }
  HttpResponse post(const std::string& target, const std::string& body, const std::string& token = reader) {
    return client.post(target, body, token);
  }
  static void expect_error(const HttpResponse& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = body_json(r);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r.body;
    EXPECT_EQ(j["error"]["code"], code) << r.body;
    EXPECT_TRUE(j["error"]["message"].is_string());
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    EXPECT_EQ(r.header("content-type"), "application/json");
  }

  static inline std::unique_ptr<PgCluster> pg;
  static inline std::unique_ptr<RedisServer> redis;
  static inline std::unique_ptr<ServerProcess> server;
  static inline std::string reader, writer;
  static inline int port = 0;
  static inline int64_t now = 0;
  HttpClient client{port};
};

TEST_F(HttpApi, HealthReadyMetricsNeedNoToken) {
  auto h = client.get("/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(body_json(h)["status"], "ok");
  auto r = client.get("/ready");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(r)["status"], "ready");
  auto m = client.get("/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.header("content-type").find("text/plain"), std::string::npos);
  EXPECT_NE(m.body.find("fstore_http_requests_total{route=\"/health\",status=\"200\"}"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("fstore_http_request_duration_seconds_bucket{route=\"/health\",status=\"200\",le=\"0.001\"}"), std::string::npos);
  EXPECT_NE(m.body.find("fstore_redis_errors_total"), std::string::npos);
  EXPECT_NE(m.body.find("fstore_pg_errors_total"), std::string::npos);
}

TEST_F(HttpApi, EntityFeaturesTypedByType) {
  auto r = get("/features/driver_stats/1001");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = body_json(r);
  EXPECT_EQ(j["view"], "driver_stats");
  EXPECT_EQ(j["entity_key"], 1001);
  EXPECT_TRUE(j["entity_key"].is_number_integer());
  EXPECT_TRUE(j["event_timestamp"].is_string());
  EXPECT_EQ(j["event_timestamp"].get<std::string>().back(), 'Z');
  auto& f = j["features"];
  EXPECT_EQ(f["conv_rate"], 0.25);
  EXPECT_TRUE(f["trips"].is_number_integer());
  EXPECT_EQ(f["trips"], 12);
  EXPECT_EQ(f["city"], "Paris");
  EXPECT_TRUE(f["rating"].is_number());
  EXPECT_NE(r.body.find("\"rating\":4.10"), std::string::npos) << "numeric digits are kept: " << r.body;
  EXPECT_EQ(f["active_flag"], true);
  EXPECT_TRUE(f.contains("legacy_f"));   // deprecated: served with a warning
  EXPECT_FALSE(f.contains("draft_f"));   // draft: only when asked by name
  EXPECT_FALSE(f.contains("old_f"));     // archived: never
  EXPECT_NE(r.header("warning").find("legacy_f is deprecated"), std::string::npos);
  EXPECT_EQ(j["warnings"], json({"feature driver_stats:legacy_f is deprecated"}));
  EXPECT_EQ(j["statuses"]["conv_rate"], "PRESENT");
}

TEST_F(HttpApi, EntityFeaturesSelectedAndStatuses) {
  auto r = get("/features/driver_stats/1002?features=conv_rate,trips,rating");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = body_json(r);
  EXPECT_EQ(j["features"].size(), 3u);
  EXPECT_TRUE(j["features"]["conv_rate"].is_null());
  EXPECT_EQ(j["statuses"]["conv_rate"], "NULL_VALUE");
  EXPECT_EQ(j["statuses"]["rating"], "NOT_FOUND");
  EXPECT_EQ(j["features"]["trips"], 5);
  auto d = get("/features/driver_stats/1001?features=draft_f");
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(body_json(d)["features"]["draft_f"], 7);
  auto old = get("/features/driver_stats/1003?features=conv_rate");
  EXPECT_EQ(body_json(old)["statuses"]["conv_rate"], "OUTSIDE_MAX_AGE");
  EXPECT_EQ(body_json(old)["features"]["conv_rate"], 0.9);
  auto u = get("/features/user_stats/A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11");  // uuid keys are case-folded
  ASSERT_EQ(u.status, 200) << u.body;
  EXPECT_EQ(body_json(u)["entity_key"], "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_EQ(body_json(u)["features"]["score"], 42);
}

TEST_F(HttpApi, EntityFeaturesErrors) {
  expect_error(get("/features/nope/1001"), 404, "not_found");
  expect_error(get("/features/driver_stats/999999"), 404, "not_found");
  expect_error(get("/features/driver_stats/1001?features=nope"), 404, "not_found");
  expect_error(get("/features/driver_stats/1001?features=old_f"), 404, "archived");
  expect_error(get("/features/driver_stats/abc"), 400, "invalid_entity_key");
  expect_error(get("/features/driver_stats/99999999999999999999"), 400, "invalid_entity_key");
  expect_error(get("/features/offline_stats/1"), 404, "not_found");
  expect_error(get("/features/x%22%3B%20DROP%20TABLE%20y%3B/1"), 404, "not_found");
  expect_error(get("/features/driver_stats/%zz"), 400, "bad_request");
}

TEST_F(HttpApi, OnlineFeaturesFeastShape) {
  auto r = post("/get-online-features",
                R"({"features": ["driver_stats:conv_rate", "driver_stats:trips", "driver_stats:city"],
                    "entities": {"driver_id": [1001, 1002, 4242, 1003]}})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = body_json(r);
  EXPECT_EQ(j["metadata"]["feature_names"], json({"driver_id", "conv_rate", "trips", "city"}));
  auto& res = j["results"];
  ASSERT_EQ(res.size(), 4u);
  EXPECT_EQ(res[0]["values"], json({1001, 1002, 4242, 1003}));
  EXPECT_EQ(res[0]["statuses"], json({"PRESENT", "PRESENT", "PRESENT", "PRESENT"}));
  EXPECT_EQ(res[1]["values"], json({0.25, nullptr, nullptr, 0.9}));
  EXPECT_EQ(res[1]["statuses"], json({"PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"}));
  EXPECT_EQ(res[2]["values"], json({12, 5, nullptr, 1}));
  EXPECT_EQ(res[3]["values"], json({"Paris", "Lyon", nullptr, "Nice"}));
  for (auto& col : res) {
    ASSERT_EQ(col["event_timestamps"].size(), 4u);
    for (auto& ts : col["event_timestamps"]) EXPECT_TRUE(ts.is_string());
  }
  EXPECT_EQ(res[1]["event_timestamps"][2], "1970-01-01T00:00:00Z");
  EXPECT_NE(res[1]["event_timestamps"][0], "1970-01-01T00:00:00Z");
}

TEST_F(HttpApi, OnlineFeaturesServicesStarsAndFullNames) {
  auto s = post("/get-online-features", R"({"feature_service": "model_a", "entities": {"driver_id": [1001]}})");
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(body_json(s)["metadata"]["feature_names"], json({"driver_id", "conv_rate", "city"}));
  auto star = post("/get-online-features",
                   R"({"features": ["driver_stats:*", "user_stats:score"], "full_feature_names": true,
                       "entities": {"driver_id": [1001], "user_id": ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]}})");
  ASSERT_EQ(star.status, 200) << star.body;
  auto j = body_json(star);
  EXPECT_EQ(j["metadata"]["feature_names"],
            json({"driver_id", "user_id", "driver_stats__conv_rate", "driver_stats__trips", "driver_stats__city",
                  "driver_stats__rating", "driver_stats__active_flag", "driver_stats__legacy_f", "user_stats__score"}));
  EXPECT_EQ(j["results"].back()["values"], json({42}));
  EXPECT_NE(star.header("warning").find("deprecated"), std::string::npos);
  auto empty = post("/get-online-features", R"({"features": ["driver_stats:trips"], "entities": {"driver_id": []}})");
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(body_json(empty)["results"][1]["values"], json::array());
}

TEST_F(HttpApi, OnlineFeaturesErrors) {
  auto p = [&](const std::string& body) { return post("/get-online-features", body); };
  expect_error(p(R"({"features": ["nope:x"], "entities": {"driver_id": [1]}})"), 404, "not_found");
  EXPECT_NE(p(R"({"features": ["nope:x"], "entities": {"driver_id": [1]}})").body.find("nope"), std::string::npos);
  expect_error(p(R"({"features": ["driver_stats:nope"], "entities": {"driver_id": [1]}})"), 404, "not_found");
  expect_error(p(R"({"features": ["driver_stats:old_f"], "entities": {"driver_id": [1]}})"), 404, "archived");
  expect_error(p(R"({"feature_service": "nope", "entities": {"driver_id": [1]}})"), 404, "not_found");
  expect_error(p(R"({"features": ["driver_stats"], "entities": {"driver_id": [1]}})"), 400, "bad_request");
  expect_error(p(R"({"features": ["driver_stats:trips"], "entities": {"user_id": ["x"]}})"), 400, "missing_join_key");
  expect_error(p(R"({"features": ["driver_stats:trips"], "entities": {"driver_id": [true]}})"), 400, "invalid_entity_key");
  expect_error(p(R"({"features": ["driver_stats:trips"], "entities": {"driver_id": [1], "user_id": []}})"), 400, "bad_request");
  expect_error(p(R"({"features": ["driver_stats:trips"], "feature_service": "model_a", "entities": {"driver_id": [1]}})"), 400, "bad_request");
  expect_error(p(R"({"entities": {"driver_id": [1]}})"), 400, "bad_request");
  expect_error(p(R"({"features": ["driver_stats:trips", "driver_stats:trips"], "entities": {"driver_id": [1]}})"), 400, "duplicate_feature");
  expect_error(p(R"({"features": "driver_stats:trips", "entities": {"driver_id": [1]}})"), 400, "bad_request");
  expect_error(p(R"({"features": ["driver_stats:trips"], "entities": [1]})"), 400, "bad_request");
  expect_error(p(R"({"features": ["driver_stats:trips"], "entities": {"driver_id": [1]})"), 400, "invalid_json");
  expect_error(p("[]"), 400, "bad_request");
  expect_error(p(""), 400, "invalid_json");
  expect_error(p("\xff\xfe{}"), 400, "invalid_json");
  // 100,000 entities in one request: over the entity limit.
  std::string big = R"({"features": ["driver_stats:trips"], "entities": {"driver_id": [)";
  for (int i = 0; i < 100000; ++i) big += (i ? "," : "") + std::to_string(i);
  big += "]}}";
  expect_error(p(big), 413, "too_many_entities");
}

TEST_F(HttpApi, CatalogRoutes) {
  auto g = get("/groups");
  ASSERT_EQ(g.status, 200) << g.body;
  auto gj = body_json(g);
  ASSERT_TRUE(gj["groups"].is_array());
  json driver;
  for (auto& v : gj["groups"]) if (v["name"] == "driver_stats") driver = v;
  ASSERT_TRUE(driver.is_object()) << g.body;
  EXPECT_EQ(driver["entity"], "driver");
  EXPECT_EQ(driver["join_key"], "driver_id");
  EXPECT_EQ(driver["ttl_seconds"], 86400);
  EXPECT_EQ(driver["online"], true);
  EXPECT_TRUE(driver["version"].is_string());
  ASSERT_EQ(driver["features"].size(), 8u);
  EXPECT_EQ(driver["features"][0]["name"], "conv_rate");
  EXPECT_EQ(driver["features"][0]["type"], "double precision");
  EXPECT_EQ(gj["feature_services"][0]["name"], "model_a");

  auto f = get("/features");
  ASSERT_EQ(f.status, 200);
  auto fj = body_json(f);
  EXPECT_EQ(fj["features"].size(), 10u);
  for (auto& feat : fj["features"])
    for (const char* k : {"view", "name", "entity", "type", "description", "owner", "tags", "status", "version", "validation"})
      EXPECT_TRUE(feat.contains(k)) << k;

  auto m = get("/features/driver_stats/conv_rate/metadata");
  ASSERT_EQ(m.status, 200) << m.body;
  auto mj = body_json(m);
  EXPECT_EQ(mj["view"], "driver_stats");
  EXPECT_EQ(mj["name"], "conv_rate");
  EXPECT_EQ(mj["type"], "double precision");
  EXPECT_EQ(mj["status"], "active");
  EXPECT_EQ(mj["validation"]["max"], 1);
  EXPECT_EQ(body_json(get("/features/driver_stats/old_f/metadata"))["status"], "archived");
  expect_error(get("/features/driver_stats/nope/metadata"), 404, "not_found");
  expect_error(get("/features/nope/x/metadata"), 404, "not_found");
}

TEST_F(HttpApi, TokensAndRoles) {
  expect_error(client.get("/features/driver_stats/1001"), 401, "unauthorized");
  expect_error(client.get("/groups", "fst_not_a_token"), 401, "unauthorized");
  expect_error(client.request("GET", "/groups", "", {{"Authorization", "Basic abc"}}), 401, "unauthorized");
  EXPECT_EQ(client.get("/groups", writer).status, 200);
  EXPECT_EQ(client.get("/features", reader).status, 200);
  expect_error(post("/ingest/driver_stats", R"({"driver_id": 1, "event_ts": "2024-01-01T00:00:00Z"})", reader), 403, "forbidden");
  expect_error(client.post("/ingest/driver_stats", "{}"), 401, "unauthorized");
  // Revocation takes effect within seconds.
  std::string t = pg->query_value("SELECT fstore.create_api_token('short_lived', 'reader')");
  EXPECT_EQ(client.get("/groups", t).status, 200);
  pg->exec("SELECT fstore.revoke_api_token('short_lived')");
  EXPECT_TRUE(eventually([&] { return client.get("/groups", t).status == 401; }, std::chrono::seconds(3)));
}

TEST_F(HttpApi, Ingest) {
  auto ok = post("/ingest/driver_stats",
                 R"([{"driver_id": 2001, "event_ts": "2024-01-01T00:00:00Z", "conv_rate": 0.5, "trips": 3, "city": "Oslo"},
                     {"driver_id": 2002, "event_ts": "2024-01-01T00:00:00Z", "conv_rate": 0.1}])", writer);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(body_json(ok)["rows_loaded"], 2);
  EXPECT_EQ(pg->query_value("SELECT count(*) FROM fstore_data.driver_stats WHERE driver_id IN (2001, 2002)"), "2");
  auto one = post("/ingest/driver_stats", R"({"driver_id": 2003, "event_ts": "2024-01-01T00:00:00Z"})", writer);
  EXPECT_EQ(one.status, 200) << one.body;
  // Validation failures: 422 with PostgreSQL's message naming the view, feature and rule.
  auto bad = post("/ingest/driver_stats", R"({"driver_id": 2004, "event_ts": "2024-01-01T00:00:00Z", "conv_rate": 7})", writer);
  expect_error(bad, 422, "validation_failed");
  EXPECT_NE(bad.body.find("conv_rate"), std::string::npos) << bad.body;
  expect_error(post("/ingest/driver_stats", R"({"driver_id": "abc", "event_ts": "2024-01-01T00:00:00Z"})", writer), 422, "validation_failed");
  expect_error(post("/ingest/driver_stats", R"({"driver_id": 2005})", writer), 422, "validation_failed");
  // on_error=reject loads the good rows and keeps the bad ones in fstore.rejected_rows.
  auto rej = post("/ingest/driver_stats?on_error=reject",
                  R"([{"driver_id": 2006, "event_ts": "2024-01-01T00:00:00Z", "conv_rate": 0.2},
                      {"driver_id": 2007, "event_ts": "2024-01-01T00:00:00Z", "conv_rate": 9}])", writer);
  ASSERT_EQ(rej.status, 200) << rej.body;
  EXPECT_EQ(body_json(rej)["rows_loaded"], 1);
  EXPECT_EQ(pg->query_value("SELECT count(*) FROM fstore.rejected_rows WHERE view = 'driver_stats'"), "1");
  expect_error(post("/ingest/driver_stats?on_error=maybe", "{}", writer), 400, "bad_request");
  expect_error(post("/ingest/nope", R"({"driver_id": 1})", writer), 404, "not_found");
  expect_error(post("/ingest/bad%20name", R"({"driver_id": 1})", writer), 404, "not_found");
  expect_error(post("/ingest/driver_stats", "not json", writer), 400, "invalid_json");
  expect_error(post("/ingest/driver_stats", "42", writer), 400, "invalid_json");
  expect_error(post("/ingest/driver_stats", "{\"driver_id\": 1", writer), 400, "invalid_json");
}

TEST_F(HttpApi, RoutesAndMethods) {
  expect_error(get("/nope"), 404, "not_found");
  auto m = client.request("DELETE", "/groups", "", {{"Authorization", "Bearer " + reader}});
  expect_error(m, 405, "method_not_allowed");
  EXPECT_EQ(m.header("allow"), "GET");
  expect_error(get("/get-online-features"), 405, "method_not_allowed");
}

TEST_F(HttpApi, RegistryChangesWithoutRestart) {
  pg->exec(R"(SELECT fstore.add_features('user_stats', '[{"name": "level", "type": "text"}]'))");
  put_entity(redis->port(), "user_stats", "b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", now, {{"score", "1"}, {"level", "\"gold\""}});
  EXPECT_TRUE(eventually([&] {
    auto r = get("/features/user_stats/b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    return r.status == 200 && body_json(r)["features"]["level"] == "gold";
  }, std::chrono::seconds(5)));
  // The older hash has no "level" field: NOT_FOUND for that feature only.
  auto old = get("/features/user_stats/a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_EQ(body_json(old)["statuses"]["level"], "NOT_FOUND");
  EXPECT_EQ(body_json(old)["statuses"]["score"], "PRESENT");
  pg->exec("SELECT fstore.set_feature_status('user_stats:level', 'archived')");
  EXPECT_TRUE(eventually([&] {
    return get("/features/user_stats/a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11?features=level").status == 404;
  }, std::chrono::seconds(5)));
}
