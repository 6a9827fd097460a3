// The JSON behind the web UI and the registry over HTTP (0.2.0): GET /lineage, GET /history, the
// admin routes (POST /entities, /feature-views, /feature-views/{view}/features,
// /feature-services, PUT /features/{view}/{feature}/status) with their role checks and errors,
// and the static UI at /ui/ with its Content-Security-Policy. Real PostgreSQL, Redis and server.
#include "http_fixture.hpp"

#include <fstream>
#include <set>

using namespace fstore::testing;
using json = nlohmann::json;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

// The ids of a lineage answer's nodes, and its edges as "source>target".
std::set<std::string> node_ids(const json& g) {
  std::set<std::string> out;
  for (const auto& n : g["nodes"]) out.insert(n["id"].get<std::string>());
  return out;
}
std::set<std::string> edge_keys(const json& g) {
  std::set<std::string> out;
  for (const auto& e : g["edges"]) out.insert(e["source"].get<std::string>() + ">" + e["target"].get<std::string>());
  return out;
}

}  // namespace

class HttpRegistry : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg = std::make_unique<PgCluster>();
    redis = std::make_unique<RedisServer>();
    create_registry(*pg);
    pg->exec(R"SQL(
      SELECT fstore.create_feature_view('orders', 'driver', '[
        {"name": "total", "type": "float8"}, {"name": "n", "type": "int8"},
        {"name": "avg_total", "type": "float8", "expression": "total / NULLIF(n, 0)"}]');
      SELECT fstore.create_feature_service('model_b', ARRAY['orders:avg_total', 'user_stats:*']);
    )SQL");
    reader = pg->query_value("SELECT fstore.create_api_token('ui.reader-1', 'reader')");
    writer = pg->query_value("SELECT fstore.create_api_token('ui_writer', 'writer')");
    admin = pg->query_value("SELECT fstore.create_api_token('ci.nightly-admin', 'admin')");
    // A built UI of two files, as `make build` leaves it.
    ui_dir = std::make_unique<TempDir>();
    std::ofstream(ui_dir->path() + "/index.html") << "<!doctype html><script type=module src=/ui/app.js></script>";
    std::ofstream(ui_dir->path() + "/app.js") << "console.log('fstore');";
    server = start_server([](int p) {
      auto args = server_args(*pg, *redis, p, /*no_auth=*/false);
      args.insert(args.end(), {"--no-sync", "--token-cache-ms", "0", "--ui-dir", ui_dir->path()});
      return args;
    }, port);
    ASSERT_TRUE(server);
  }
  static void TearDownTestSuite() {
    if (server && HasFailure()) std::cerr << "server log:\n" << server->log() << "\n";
    server.reset();
    redis.reset();
    pg.reset();
    ui_dir.reset();
  }
  void TearDown() override { ASSERT_TRUE(server->running()) << server->log(); }

  static HttpResponse call(const std::string& method, const std::string& target, const std::string& body,
                           const std::string& token) {
    return HttpClient(port).request(method, target, body, bearer(token));
  }

  static inline std::unique_ptr<PgCluster> pg;
  static inline std::unique_ptr<RedisServer> redis;
  static inline std::unique_ptr<ServerProcess> server;
  static inline std::unique_ptr<TempDir> ui_dir;
  static inline std::string reader, writer, admin;
  static inline int port = 0;
};

TEST_F(HttpRegistry, LineageHasEveryObjectAndItsEdges) {
  auto r = call("GET", "/lineage", "", reader);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-fstore-role"), "reader");
  json g = body_json(r);
  auto nodes = node_ids(g);
  for (const char* id : {"entity:driver", "entity:user", "view:driver_stats", "view:orders", "feature:orders:avg_total",
                         "feature:driver_stats:conv_rate", "service:model_a", "service:model_b"})
    EXPECT_TRUE(nodes.count(id)) << id << " missing in " << r.body.substr(0, 2000);
  auto edges = edge_keys(g);
  for (const char* e : {"entity:driver>view:driver_stats", "view:orders>feature:orders:total",
                        "feature:orders:total>feature:orders:avg_total", "feature:orders:n>feature:orders:avg_total",
                        "feature:driver_stats:conv_rate>service:model_a", "feature:orders:avg_total>service:model_b",
                        "view:user_stats>service:model_b"})
    EXPECT_TRUE(edges.count(e)) << e;
  // A stored feature is derived from nothing; every edge joins two listed nodes.
  EXPECT_FALSE(edges.count("feature:orders:avg_total>feature:orders:total"));
  for (const auto& e : g["edges"]) {
    EXPECT_TRUE(nodes.count(e["source"].get<std::string>())) << e.dump();
    EXPECT_TRUE(nodes.count(e["target"].get<std::string>())) << e.dump();
  }
  for (const auto& n : g["nodes"])
    if (n["id"] == "feature:orders:avg_total") {
      EXPECT_EQ(n["type"], "feature");
      EXPECT_EQ(n["value_type"], "double precision");
      EXPECT_EQ(n["derived"], true);
    }
  EXPECT_EQ(call("GET", "/lineage", "", "").status, 401);
}

TEST_F(HttpRegistry, HistoryFiltersByObjectNewestFirst) {
  auto r = call("GET", "/history?object_type=feature&object_name=driver_stats:legacy_f", "", reader);
  ASSERT_EQ(r.status, 200) << r.body;
  json h = body_json(r)["history"];
  ASSERT_EQ(h.size(), 1u) << r.body;
  EXPECT_EQ(h[0]["action"], "set_status");
  EXPECT_EQ(h[0]["object_name"], "driver_stats:legacy_f");
  EXPECT_EQ(h[0]["actor"], "postgres");
  auto all = body_json(call("GET", "/history", "", reader))["history"];
  EXPECT_GT(all.size(), 5u);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_GE(all[i - 1]["at"].get<std::string>(), all[i]["at"].get<std::string>());
  EXPECT_EQ(body_json(call("GET", "/history?limit=2", "", reader))["history"].size(), 2u);
  EXPECT_EQ(call("GET", "/history?limit=0", "", reader).status, 400);
  EXPECT_EQ(call("GET", "/history?limit=x", "", reader).status, 400);
  EXPECT_EQ(body_json(call("GET", "/history?object_name=nothing_here", "", reader))["history"], json::array());
  // A hostile filter is a value, not SQL.
  EXPECT_EQ(call("GET", "/history?object_name=%27%3B%20DROP%20TABLE%20x%3B--", "", reader).status, 200);
}

TEST_F(HttpRegistry, AdminCreatesEverythingThroughTheRegistryFunctions) {
  auto e = call("POST", "/entities", R"({"name": "shop", "join_key": "shop_id", "key_type": "bigint",
      "description": "A shop", "tags": ["retail", "eu"]})", admin);
  ASSERT_EQ(e.status, 201) << e.body;
  EXPECT_EQ(body_json(e)["key_type"], "bigint");
  EXPECT_EQ(body_json(e)["tags"], json({"retail", "eu"}));
  auto v = call("POST", "/feature-views", R"({"name": "shop_stats", "entity": "shop", "ttl": "2 days", "online": false,
      "description": "<img src=x onerror=alert(1)>",
      "features": [{"name": "sales", "type": "float8", "validation": {"min": 0}}, {"name": "visits", "type": "int8"}]})", admin);
  ASSERT_EQ(v.status, 201) << v.body;
  json vj = body_json(v);
  EXPECT_EQ(vj["version"], "1.0.0");
  EXPECT_EQ(vj["online"], false);
  EXPECT_EQ(vj["features"].size(), 2u);
  EXPECT_EQ(vj["description"], "<img src=x onerror=alert(1)>");
  EXPECT_EQ(pg->query_value("SELECT ttl::text FROM fstore.feature_views WHERE name = 'shop_stats'"), "2 days");
  // Validation holds as in SQL.
  EXPECT_NE(pg->query_value("SELECT count(*) FROM pg_constraint WHERE conrelid = 'fstore_data.shop_stats'::regclass"), "0");
  auto add = call("POST", "/feature-views/shop_stats/features", R"({"features": [{"name": "returns", "type": "int4"}]})", admin);
  ASSERT_EQ(add.status, 201) << add.body;
  EXPECT_EQ(body_json(add)["version"], "1.1.0");
  auto st = call("PUT", "/features/shop_stats/visits/status", R"({"status": "deprecated"})", admin);
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_EQ(body_json(st)["status"], "deprecated");
  EXPECT_EQ(body_json(st)["version"], "1.1.1");
  auto s = call("POST", "/feature-services", R"({"name": "shop_model", "features": ["shop_stats:sales", "shop_stats:returns"]})", admin);
  ASSERT_EQ(s.status, 201) << s.body;
  EXPECT_EQ(body_json(s)["features"], json({"shop_stats:sales", "shop_stats:returns"}));
  // History records each change.
  auto h = body_json(call("GET", "/history?object_type=feature_view&object_name=shop_stats", "", reader))["history"];
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0]["action"], "add_features");
  EXPECT_EQ(h[1]["action"], "create");
  // And the server's registry follows (GET /groups).
  EXPECT_TRUE(eventually([&] { return call("GET", "/features/shop_stats/sales/metadata", "", reader).status == 200; }));
}

TEST_F(HttpRegistry, ReadersAndWritersMayNotChangeTheRegistry) {
  for (const auto& token : {reader, writer}) {
    auto r = call("POST", "/entities", R"({"name": "nope", "join_key": "k"})", token);
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_EQ(body_json(r)["error"]["code"], "forbidden");
    EXPECT_EQ(call("PUT", "/features/driver_stats/trips/status", R"({"status": "archived"})", token).status, 403);
    EXPECT_EQ(call("POST", "/feature-views", R"({"name": "nope", "entity": "driver", "features": []})", token).status, 403);
    EXPECT_EQ(call("POST", "/feature-views/driver_stats/features", R"({"features": []})", token).status, 403);
    EXPECT_EQ(call("POST", "/feature-services", R"({"name": "nope", "features": []})", token).status, 403);
  }
  EXPECT_EQ(call("POST", "/entities", R"({"name": "nope", "join_key": "k"})", "").status, 401);
  EXPECT_EQ(call("POST", "/entities", R"({"name": "nope", "join_key": "k"})", "fst_wrong").status, 401);
  EXPECT_EQ(pg->query_value("SELECT count(*) FROM fstore.entities WHERE name = 'nope'"), "0");
  EXPECT_EQ(pg->query_value("SELECT status FROM fstore.features WHERE view = 'driver_stats' AND name = 'trips'"), "active");
  // An admin token also ingests (admin is writer and more).
  auto in = call("POST", "/ingest/driver_stats", R"({"driver_id": 5, "event_ts": "2026-01-01T00:00:00Z", "trips": 3})", admin);
  EXPECT_EQ(in.status, 200) << in.body;
  EXPECT_EQ(call("GET", "/groups", "", admin).header("x-fstore-role"), "admin");
}

TEST_F(HttpRegistry, RegistryErrorsAreClean4xxWithPostgresMessages) {
  struct Case { const char* method; const char* target; const char* body; int status; const char* code; const char* sqlstate; };
  const Case cases[] = {
      {"POST", "/entities", R"({"name": "driver", "join_key": "driver_id"})", 409, "already_exists", "42710"},
      {"POST", "/entities", R"({"name": "bad name", "join_key": "k"})", 400, "bad_request", "22023"},
      {"POST", "/entities", R"({"name": "e2", "join_key": "k", "key_type": "no_such_type"})", 404, "not_found", "42704"},
      {"POST", "/feature-views", R"({"name": "v2", "entity": "ghost", "features": [{"name": "x", "type": "int4"}]})", 404, "not_found", "42704"},
      {"POST", "/feature-views", R"({"name": "v3", "entity": "driver", "features": [{"name": "x", "type": "int4", "expression": "x; DROP TABLE y"}]})", 400, "bad_request", "22023"},
      {"PUT", "/features/driver_stats/trips/status", R"({"status": "gone"})", 400, "bad_request", "22023"},
      {"PUT", "/features/driver_stats/ghost/status", R"({"status": "active"})", 404, "not_found", "42704"},
      {"POST", "/feature-services", R"({"name": "s2", "features": ["driver_stats:ghost"]})", 404, "not_found", "42704"},
  };
  for (const auto& c : cases) {
    auto r = call(c.method, c.target, c.body, admin);
    EXPECT_EQ(r.status, c.status) << c.target << " " << c.body << " -> " << r.body;
    json err = body_json(r)["error"];
    EXPECT_EQ(err["code"], c.code) << r.body;
    EXPECT_EQ(err["sqlstate"], c.sqlstate) << r.body;
    EXPECT_FALSE(err["message"].get<std::string>().empty());
  }
  // Arguments that do not fit are refused before PostgreSQL.
  const std::pair<const char*, const char*> bad[] = {
      {"/entities", R"({"name": "e3"})"},                                    // join_key missing
      {"/entities", R"({"name": "e3", "join_key": "k", "colour": "red"})"},  // unknown argument
      {"/entities", R"({"name": "e3", "join_key": "k", "tags": "a"})"},      // tags not an array
      {"/entities", R"({"name": 3, "join_key": "k"})"},
      {"/entities", R"(["e3"])"},
      {"/entities", R"({"name": )"},
      {"/feature-views/driver_stats/features", R"({"view": "x", "features": []})"},  // view is in the path
  };
  for (const auto& [target, body] : bad) {
    auto r = call("POST", target, body, admin);
    EXPECT_EQ(r.status, 400) << target << " " << body << " -> " << r.body;
  }
  EXPECT_EQ(pg->query_value("SELECT count(*) FROM fstore.entities WHERE name IN ('e2', 'e3')"), "0");
  EXPECT_EQ(call("GET", "/entities", "", admin).status, 405);
}

TEST_F(HttpRegistry, UiIsServedWithAStrictContentSecurityPolicy) {
  for (const char* path : {"/ui/", "/ui", "/ui/index.html"}) {
    auto r = HttpClient(port).get(path);  // no token: the files hold no data
    ASSERT_EQ(r.status, 200) << path << " " << r.body;
    EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
    EXPECT_NE(r.body.find("/ui/app.js"), std::string::npos);
    std::string csp = r.header("content-security-policy");
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << csp;
    EXPECT_EQ(r.header("x-content-type-options"), "nosniff");
  }
  auto js = HttpClient(port).get("/ui/app.js");
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js.body, "console.log('fstore');");
  // Only files of the UI directory exist below /ui/.
  for (const char* path : {"/ui/missing.js", "/ui/../CMakeLists.txt", "/ui/%2e%2e/%2e%2e/etc/passwd", "/ui/%2Fetc%2Fpasswd"}) {
    auto r = HttpClient(port).get(path);
    EXPECT_EQ(r.status, 404) << path << " " << r.body.substr(0, 200);
    EXPECT_FALSE(r.header("content-security-policy").empty()) << path;
  }
  EXPECT_EQ(HttpClient(port).request("POST", "/ui/", "x").status, 405);
}
