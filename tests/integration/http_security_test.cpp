// The 0.1.1 HTTP fixes against the real server: request framing that could smuggle a second
// request, tokens checked before the body, unknown tokens cached, NOTIFY storms, deep JSON,
// errors a client can act on, key forms, a Redis ACL user, and a PostgreSQL restart.
#include "http_fixture.hpp"

#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>

#include <random>

using namespace fstore::testing;
using json = nlohmann::json;

namespace {

// The value of a metric line "name value" (or "name{labels} value" with `name` holding the
// labels) in a /metrics body; -1 when absent.
double metric(const std::string& body, const std::string& name) {
  size_t pos = 0;
  while ((pos = body.find(name + " ", pos)) != std::string::npos) {
    if (pos == 0 || body[pos - 1] == '\n') return std::atof(body.c_str() + pos + name.size() + 1);
    pos += name.size();
  }
  return -1;
}

// How many HTTP responses `raw` holds.
int responses_in(const std::string& raw) {
  int n = 0;
  for (size_t pos = 0; (pos = raw.find("HTTP/1.1 ", pos)) != std::string::npos; pos += 9) ++n;
  return n;
}

}  // namespace

class HttpSecurity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg = std::make_unique<PgCluster>();
    redis = std::make_unique<RedisServer>();
    create_registry(*pg);
    pg->exec(R"SQL(
      SELECT fstore.create_entity('rider', 'rider_id', 'text');
      SELECT fstore.create_feature_view('rider_stats', 'rider', '[{"name": "trips", "type": "int8"}]');
      SELECT fstore.create_feature_view('driver_more', 'driver', '[{"name": "trips", "type": "int8"}]');
    )SQL");
    reader = pg->query_value("SELECT fstore.create_api_token('sec_reader', 'reader')");
    writer = pg->query_value("SELECT fstore.create_api_token('sec_writer', 'writer')");
    server = start_server([](int p) {
      auto args = server_args(*pg, *redis, p, /*no_auth=*/false);
      args.insert(args.end(), {"--no-sync", "--token-cache-ms", "5000", "--read-timeout-ms", "8000"});
      return args;
    }, port);
    ASSERT_TRUE(server);
    HttpClient c(port);
    ASSERT_TRUE(eventually([&] { return c.get("/ready").status == 200; })) << server->log();
    put_entity(redis->port(), "driver_stats", "1001", now_us(), {{"conv_rate", "0.5"}, {"trips", "1"}});
  }
  static void TearDownTestSuite() {
    if (server && HasFailure()) std::cerr << "server log:\n" << server->log() << "\n";
    server.reset();
    redis.reset();
    pg.reset();
  }
  void TearDown() override {
    ASSERT_TRUE(server->running()) << server->log();
    EXPECT_EQ(HttpClient(port).get("/health").status, 200);
  }
  static std::string metrics() { return HttpClient(port).get("/metrics").body; }

  static inline std::unique_ptr<PgCluster> pg;
  static inline std::unique_ptr<RedisServer> redis;
  static inline std::unique_ptr<ServerProcess> server;
  static inline int port = 0;
  static inline std::string reader, writer;
};

// Every Transfer-Encoding but exactly "chunked", and Content-Length with Transfer-Encoding: 400
// and the connection closed; the body (a complete second request) is never answered.
TEST_F(HttpSecurity, AmbiguousFramingIs400AndCloses) {
  const std::string smuggled = "GET /features/driver_stats/1001 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                               reader + "\r\n\r\n";
  struct Case { std::string headers; std::string body; };
  std::vector<Case> cases;
  for (const char* te : {"gzip", "identity", "chunked, chunked", "xchunked", "gzip, chunked", "chunked , identity", "CHUNKED, x"})
    cases.push_back({std::string("Transfer-Encoding: ") + te + "\r\n", smuggled});
  cases.push_back({"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n" + smuggled});
  cases.push_back({"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n" + smuggled});
  cases.push_back({"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n" + smuggled});
  cases.push_back({"Transfer-Encoding: chunked\r\nContent-Length: " + std::to_string(smuggled.size()) + "\r\n",
                   "0\r\n\r\n" + smuggled});
  for (const auto& c : cases) {
    std::string req = "POST /get-online-features HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + reader + "\r\n" +
                      c.headers + "\r\n" + c.body;
    std::string all = raw_exchange(port, req, std::chrono::seconds(3));
    EXPECT_EQ(parse_response(all).status, 400) << c.headers << all.substr(0, 300);
    EXPECT_EQ(responses_in(all), 1) << c.headers << all;  // no second response: the server closed
    EXPECT_EQ(all.find("conv_rate"), std::string::npos) << c.headers;
  }
  // Plain chunked still works.
  std::string body = R"({"features": ["driver_stats:trips"], "entities": {"driver_id": [1001]}})";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  auto ok = parse_response(raw_exchange(port,
      "POST /get-online-features HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer " + reader +
      "\r\nTransfer-Encoding: chunked\r\n\r\n" + size + "\r\n" + body + "\r\n0\r\n\r\n"));
  EXPECT_EQ(ok.status, 200) << ok.body;
}

// Without a valid token the 401 comes before the body: the headers announce 500 KB that never come.
TEST_F(HttpSecurity, Unauthorized401BeforeTheBody) {
  for (std::string auth : {std::string(), std::string("Authorization: Bearer fst_nobody\r\n"), std::string("Authorization: Basic x\r\n")}) {
    int fd = connect_loopback(port);
    ASSERT_GE(fd, 0);
    std::string head = "POST /get-online-features HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 500000\r\n\r\n";
    ASSERT_EQ(send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
    std::string pending;
    auto t0 = std::chrono::steady_clock::now();
    auto r = read_response(fd, pending, std::chrono::seconds(3));  // the read timeout is 8 s
    EXPECT_EQ(r.status, 401) << auth;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    EXPECT_EQ(r.header("connection"), "close");
    EXPECT_NE(r.header("www-authenticate").find("Bearer"), std::string::npos);
    pollfd p{fd, POLLIN, 0};
    char buf[16];
    ASSERT_EQ(poll(&p, 1, 2000), 1);
    EXPECT_LE(recv(fd, buf, sizeof buf, 0), 0);  // closed
    close(fd);
  }
  // Ingest, too, and a reader token on ingest is still 403 (after the body).
  auto r = parse_response(raw_exchange(port, "POST /ingest/driver_stats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
                                             "Content-Length: 1000000\r\n\r\n", std::chrono::seconds(3)));
  EXPECT_EQ(r.status, 401);
  HttpClient c(port);
  EXPECT_EQ(c.post("/ingest/driver_stats", R"({"driver_id": 1, "event_ts": "2024-01-01T00:00:00Z"})", reader).status, 403);
}

// One unknown token sent 60 times costs one PostgreSQL lookup (negative cache, by hash).
TEST_F(HttpSecurity, UnknownTokenDoesNotHitPostgresEachTime) {
  double before = metric(metrics(), "fstore_token_lookups_total");
  ASSERT_GE(before, 0);
  for (int i = 0; i < 60; ++i) {
    HttpClient c(port);
    ASSERT_EQ(c.get("/groups", "fst_unknown_token_42").status, 401);
  }
  double after = metric(metrics(), "fstore_token_lookups_total");
  EXPECT_LE(after - before, 1) << "lookups: " << after - before;
  EXPECT_GE(after - before, 1);
  // Another unknown token is a lookup of its own; known tokens still work.
  EXPECT_EQ(HttpClient(port).get("/groups", "fst_other_unknown").status, 401);
  EXPECT_EQ(metric(metrics(), "fstore_token_lookups_total") - after, 1);
  EXPECT_EQ(HttpClient(port).get("/groups", reader).status, 200);
}

// 5,000 NOTIFY fstore_registry from anyone cause at most a handful of version checks and no
// reload (the version did not change); a real change is still seen at once.
TEST_F(HttpSecurity, NotifyStormIsDebounced) {
  std::string m0 = metrics();
  double reloads0 = metric(m0, "fstore_registry_reloads_total");
  double checks0 = metric(m0, "fstore_registry_version_checks_total");
  pg->exec("CREATE ROLE nobody_special LOGIN");
  auto start = std::chrono::steady_clock::now();
  {
    pqxx::connection conn(pg->url_for("nobody_special"));
    pqxx::nontransaction tx(conn);
    for (int i = 0; i < 2500; ++i) tx.exec("NOTIFY fstore_registry");  // one transaction each
    tx.exec("SELECT pg_notify('fstore_registry', i::text) FROM generate_series(1, 2500) i");
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(eventually([&] { return metric(metrics(), "fstore_registry_notifications_total") >= 2500; },
                         std::chrono::seconds(10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::string m1 = metrics();
  EXPECT_EQ(metric(m1, "fstore_registry_reloads_total") - reloads0, 0);
  double checks = metric(m1, "fstore_registry_version_checks_total") - checks0;
  EXPECT_LE(checks, seconds / 0.2 + 4) << "version checks during " << seconds << " s";
  // A registry change is reloaded.
  pg->exec(R"(SELECT fstore.create_feature_view('after_storm', 'driver', '[{"name": "z", "type": "int4"}]'))");
  EXPECT_TRUE(eventually([&] {
    return HttpClient(port).get("/groups", reader).body.find("after_storm") != std::string::npos;
  }, std::chrono::seconds(3)));
  EXPECT_EQ(metric(metrics(), "fstore_registry_reloads_total") - reloads0, 1);
}

// 100,000 levels of nesting on every route that reads a body: 400, no crash.
TEST_F(HttpSecurity, DeepJsonIs400) {
  std::string deep(100000, '[');
  HttpClient c(port);
  auto online = c.post("/get-online-features", R"({"features":["driver_stats:trips"],"entities":{"driver_id":)" + deep, reader);
  EXPECT_EQ(online.status, 400) << online.body;
  EXPECT_EQ(body_json(online)["error"]["code"], "json_too_deep");
  auto ingest = c.post("/ingest/driver_stats", "[" + deep, writer);
  EXPECT_EQ(ingest.status, 400) << ingest.body;
  EXPECT_EQ(body_json(ingest)["error"]["code"], "json_too_deep");
  std::string closed = deep + std::string(100000, ']');
  EXPECT_EQ(c.post("/ingest/driver_stats", closed, writer).status, 400);
  // 400 levels are fine for the parser (PostgreSQL then judges the rows).
  std::string ok = R"({"features":["driver_stats:trips"],"entities":{"driver_id":[1001]},"x":)" +
                   std::string(397, '[') + std::string(397, ']') + "}";
  EXPECT_EQ(c.post("/get-online-features", ok, reader).status, 200);
}

// Client mistakes at ingest: 4xx with our message, never a 500 with PostgreSQL's internals.
TEST_F(HttpSecurity, IngestErrorsAreActionable) {
  HttpClient c(port);
  std::mt19937 rng(7);
  std::string huge;
  for (int i = 0; i < 20000; ++i) huge.push_back("abcdefghijklmnopqrstuvwxyz0123456789"[rng() % 36]);
  auto big_key = c.post("/ingest/rider_stats", R"({"rider_id": ")" + huge + R"(", "event_ts": "2024-01-01T00:00:00Z", "trips": 1})", writer);
  EXPECT_EQ(big_key.status, 413) << big_key.body.substr(0, 300);
  EXPECT_EQ(body_json(big_key)["error"]["code"], "too_large");
  EXPECT_EQ(big_key.body.find("btree"), std::string::npos) << big_key.body.substr(0, 300);
  auto bad_value = c.post("/ingest/driver_stats", R"({"driver_id": 1, "event_ts": "2024-01-01T00:00:00Z", "conv_rate": 7})", writer);
  EXPECT_EQ(bad_value.status, 422) << bad_value.body;
  auto bad_time = c.post("/ingest/driver_stats", R"({"driver_id": 1, "event_ts": "yesterday-ish"})", writer);
  EXPECT_EQ(bad_time.status, 422) << bad_time.body;
  EXPECT_EQ(c.post("/ingest/no_such_view", R"({"driver_id": 1})", writer).status, 404);
}

// GET and POST accept and refuse the same key forms; references parse the same on every route.
TEST_F(HttpSecurity, KeyFormsAndReferencesAgree) {
  HttpClient c(port);
  auto post = [&](const std::string& keys, const std::string& ref = "driver_stats:trips") {
    return c.post("/get-online-features", R"({"features":[")" + ref + R"("],"entities":{"driver_id":[)" + keys + "]}}", reader);
  };
  EXPECT_EQ(c.get("/features/driver_stats/1001", reader).status, 200);
  EXPECT_EQ(post("1001").status, 200);
  EXPECT_EQ(post("\"1001\"").status, 200);
  auto get_frac = c.get("/features/driver_stats/1001.0", reader);
  EXPECT_EQ(get_frac.status, 400);
  EXPECT_EQ(body_json(get_frac)["error"]["code"], "invalid_entity_key");
  auto post_frac = post("1001.0");
  EXPECT_EQ(post_frac.status, 400);
  EXPECT_EQ(body_json(post_frac)["error"]["code"], "invalid_entity_key");
  EXPECT_EQ(post("\"1001.0\"").status, 400);
  // "v:a:b": 400 on both routes.
  auto post_ref = post("1001", "driver_stats:trips:x");
  EXPECT_EQ(post_ref.status, 400) << post_ref.body;
  auto get_ref = c.get("/features/driver_stats/1001?features=trips:x", reader);
  EXPECT_EQ(get_ref.status, 400) << get_ref.body;
  // Two views with a feature of one name, without full names: 400 naming both.
  auto dup = c.post("/get-online-features",
                    R"({"features":["driver_stats:trips","driver_more:trips"],"entities":{"driver_id":[1001]}})", reader);
  EXPECT_EQ(dup.status, 400);
  EXPECT_EQ(body_json(dup)["error"]["code"], "duplicate_feature");
  EXPECT_NE(dup.body.find("driver_stats:trips"), std::string::npos) << dup.body;
  EXPECT_NE(dup.body.find("driver_more:trips"), std::string::npos) << dup.body;
}

// redis://user:pw@host:port for the read path, with a Redis 6 ACL user and the default user off.
TEST(HttpRedisAcl, ReadsWithAclUser) {
  PgCluster pg;
  create_registry(pg);
  RedisServer redis;
  put_entity(redis.port(), "driver_stats", "77", now_us(), {{"trips", "7"}});
  redis.cli("ACL SETUSER fstore on '>pw' '~*' '&*' '+@all'");
  redis.cli("ACL SETUSER default off");
  auto with_url = [&](const std::string& url) {
    int port = 0;
    auto s = start_server([&](int p) {
      return std::vector<std::string>{"--pg", pg.url(), "--redis", url, "--listen", "127.0.0.1:" + std::to_string(p),
                                      "--no-auth", "--no-sync"};
    }, port);
    return std::make_pair(std::move(s), port);
  };
  std::string hostport = "127.0.0.1:" + std::to_string(redis.port());
  auto [good, good_port] = with_url("redis://fstore:pw@" + hostport + "/0");
  ASSERT_TRUE(good);
  HttpClient c(good_port);
  HttpResponse r;
  EXPECT_TRUE(eventually([&] { return (r = c.get("/features/driver_stats/77")).status == 200; })) << r.body << good->log();
  EXPECT_EQ(body_json(r)["features"]["trips"], 7);
  auto [bad, bad_port] = with_url("redis://fstore:wrong@" + hostport);
  ASSERT_TRUE(bad);
  HttpClient b(bad_port);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(b.get("/features/driver_stats/77").status, 503);
  redis.cli("--user fstore --pass pw ACL SETUSER default on");  // so the harness can stop it
}

// After a PostgreSQL restart, the first request on a pooled connection succeeds: a token lookup
// (uncached) and an ingest.
TEST(HttpPgRestart, FirstRequestAfterRestartSucceeds) {
  PgCluster pg;
  create_registry(pg);
  RedisServer redis;
  std::string reader = pg.query_value("SELECT fstore.create_api_token('restart_reader', 'reader')");
  std::string writer = pg.query_value("SELECT fstore.create_api_token('restart_writer', 'writer')");
  put_entity(redis.port(), "driver_stats", "5", now_us(), {{"trips", "5"}});
  int port = 0;
  auto s = start_server([&](int p) {
    auto args = server_args(pg, redis, p, /*no_auth=*/false);
    args.insert(args.end(), {"--no-sync", "--pg-connections", "1", "--token-cache-ms", "0"});
    return args;
  }, port);
  ASSERT_TRUE(s);
  HttpClient c(port);
  ASSERT_TRUE(eventually([&] { return c.get("/ready").status == 200; })) << s->log();
  ASSERT_EQ(c.get("/features/driver_stats/5", reader).status, 200);
  ASSERT_EQ(c.post("/ingest/driver_stats", R"({"driver_id": 5, "event_ts": "2024-01-01T00:00:00Z"})", writer).status, 200);
  for (int round = 0; round < 2; ++round) {
    pg.restart();
    auto get = HttpClient(port).get("/features/driver_stats/5", reader);
    EXPECT_EQ(get.status, 200) << get.body;
    pg.restart();
    auto ingest = HttpClient(port).post("/ingest/driver_stats", R"({"driver_id": 6, "event_ts": "2024-01-01T00:00:00Z"})", writer);
    EXPECT_EQ(ingest.status, 200) << ingest.body;
  }
  EXPECT_GE(metric(HttpClient(port).get("/metrics").body, "fstore_pg_reconnects_total"), 2);
}

// Before its first registry load (PostgreSQL down at start) the server answers the routes that
// read the registry with 503 not_ready and Retry-After, never a 404 for a view that exists; once
// PostgreSQL is up it serves them.
TEST(HttpPgRestart, RegistryRoutesAnswer503UntilTheFirstLoad) {
  PgCluster pg;
  create_registry(pg);
  RedisServer redis;
  put_entity(redis.port(), "driver_stats", "5", now_us(), {{"trips", "5"}});
  pg.stop();
  int port = 0;
  auto s = start_server([&](int p) {
    auto args = server_args(pg, redis, p, /*no_auth=*/true);
    args.insert(args.end(), {"--no-sync"});
    return args;
  }, port);
  ASSERT_TRUE(s);
  HttpClient c(port);
  for (const char* path : {"/features/driver_stats/5", "/groups", "/features", "/statistics/driver_stats"}) {
    auto r = c.get(path);
    EXPECT_EQ(r.status, 503) << path << " " << r.body;
    EXPECT_EQ(body_json(r)["error"]["code"], "not_ready") << path;
    EXPECT_EQ(r.header("Retry-After"), "1") << path;
  }
  auto online = c.post("/get-online-features", R"({"features": ["driver_stats:trips"], "entities": {"driver_id": [5]}})");
  EXPECT_EQ(online.status, 503) << online.body;
  EXPECT_EQ(c.get("/health").status, 200);
  EXPECT_EQ(c.get("/ready").status, 503);
  pg.start();
  HttpResponse r;
  EXPECT_TRUE(eventually([&] { return (r = c.get("/features/driver_stats/5")).status == 200; },
                         std::chrono::seconds(15))) << r.body << s->log();
  EXPECT_EQ(body_json(r)["features"]["trips"], 5);
  EXPECT_EQ(s->terminate(), 0) << s->log();
}
