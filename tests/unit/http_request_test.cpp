// Unit tests of request validation: options, routes, URL decoding, tokens, entity keys and
// POST /get-online-features bodies.
#include "config.hpp"
#include "http/route_match.hpp"
#include "online/online_query.hpp"
#include "redis/redis_pipeline.hpp"
#include "token_auth.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>

using namespace fstore::server;
using json = nlohmann::json;

namespace {

ParseResult parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  return parse_config(args, [&env](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

std::shared_ptr<const Registry> registry() {
  std::vector<json> entities = {{{"name", "driver"}, {"join_key", "driver_id"}, {"key_type", "bigint"}}};
  std::vector<json> views = {{{"name", "v"}, {"entity", "driver"}, {"online", true}},
                             {{"name", "w"}, {"entity", "driver"}, {"online", true}}};
  std::vector<json> features = {{{"view", "v"}, {"name", "a"}, {"type", "bigint"}, {"status", "active"}, {"position", 2}},
                                {{"view", "v"}, {"name", "b"}, {"type", "text"}, {"status", "draft"}, {"position", 1}},
                                {{"view", "v"}, {"name", "c"}, {"type", "text"}, {"status", "archived"}, {"position", 3}},
                                {{"view", "w"}, {"name", "a"}, {"type", "bigint"}, {"status", "active"}, {"position", 1}}};
  return Registry::from_rows(entities, views, features, {{{"name", "s"}, {"features", {"v:a", "v:b"}}}});
}

std::optional<ApiError> plan(const std::string& body, OnlinePlan& p, Limits limits = {}) {
  return plan_online_request(registry(), body, limits, p);
}

}  // namespace

TEST(HttpConfig, DefaultsEnvironmentAndOptions) {
  auto r = parse({}, {{"FSTORE_PG", "postgresql://x"}, {"FSTORE_REDIS", "redis://y"}, {"FSTORE_LISTEN", "0.0.0.0:9000"}});
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->pg_url, "postgresql://x");
  EXPECT_EQ(r.config->listen_host, "0.0.0.0");
  EXPECT_EQ(r.config->listen_port, 9000);
  EXPECT_FALSE(r.config->no_auth);
  auto o = parse({"--pg", "a", "--redis", "b", "--listen=127.0.0.1:1", "--threads", "3", "--no-auth", "--max-body", "2M",
                  "--max-entities", "10"}, {{"FSTORE_PG", "env"}});
  ASSERT_TRUE(o.config) << o.error;
  EXPECT_EQ(o.config->pg_url, "a");  // options win over the environment
  EXPECT_EQ(o.config->threads, 3);
  EXPECT_TRUE(o.config->no_auth);
  EXPECT_EQ(o.config->max_body_bytes, 2u << 20);
  EXPECT_EQ(o.config->max_entities, 10u);
}

TEST(HttpConfig, RejectsBadOptions) {
  EXPECT_TRUE(parse({"--help"}).help);
  EXPECT_FALSE(parse({"--pg", "a"}).config);                     // no redis
  EXPECT_FALSE(parse({"--pg", "a", "--redis", "b", "--threads", "0"}).config);
  EXPECT_FALSE(parse({"--pg", "a", "--redis", "b", "--threads"}).config);
  EXPECT_FALSE(parse({"--pg", "a", "--redis", "b", "--max-body", "12q"}).config);
  EXPECT_FALSE(parse({"--pg", "a", "--redis", "b", "--listen", "nope"}).config);
  EXPECT_FALSE(parse({"--pg", "a", "--redis", "b", "--no-auth=1"}).config);
  EXPECT_FALSE(parse({"--pg", "a", "--redis", "b", "--what"}).config);
  EXPECT_NE(parse({"--what"}).error.find("--what"), std::string::npos);
  EXPECT_NE(usage().find("--max-connections"), std::string::npos);
  // HTTPS needs both files.
  EXPECT_NE(parse({"--pg", "a", "--redis", "b", "--tls-cert", "c.pem"}).error.find("--tls-key"), std::string::npos);
  EXPECT_NE(parse({"--pg", "a", "--redis", "b", "--tls-key", "k.pem"}).error.find("--tls-cert"), std::string::npos);
  auto tls = parse({"--pg", "a", "--redis", "b", "--tls-cert", "c.pem", "--tls-key", "k.pem"});
  ASSERT_TRUE(tls.config) << tls.error;
  EXPECT_EQ(tls.config->tls_cert, "c.pem");
  EXPECT_EQ(tls.config->tls_key, "k.pem");
}

TEST(HttpConfig, UrlsAndRedaction) {
  RedisEndpoint ep;
  ASSERT_TRUE(parse_redis_url("redis://:secret@10.0.0.1:7000/2", ep));
  EXPECT_EQ(ep.host, "10.0.0.1");
  EXPECT_EQ(ep.port, 7000);
  EXPECT_EQ(ep.password, "secret");
  EXPECT_EQ(ep.db, 2);
  ASSERT_TRUE(parse_redis_url("redis://localhost", ep));
  EXPECT_EQ(ep.port, 6379);
  EXPECT_FALSE(parse_redis_url("http://x:1", ep));
  EXPECT_FALSE(parse_redis_url("redis://h:port", ep));
  EXPECT_EQ(redact_url("postgresql://u:pw@h/db"), "postgresql://u:***@h/db");
  EXPECT_EQ(redact_url("postgresql://u@h/db"), "postgresql://u@h/db");
}

TEST(HttpRoutes, MatchesTemplates) {
  auto m = match_route("GET", "/features/driver_stats/1001?features=a,b");
  EXPECT_EQ(m.route, Route::entity_features);
  EXPECT_TRUE(m.method_ok);
  EXPECT_EQ(m.params, (std::vector<std::string>{"driver_stats", "1001"}));
  EXPECT_EQ(query_values(m.query, "features"), (std::vector<std::string>{"a,b"}));
  EXPECT_EQ(match_route("GET", "/features/v/f/metadata").route, Route::feature_metadata);
  EXPECT_EQ(match_route("GET", "/features").route, Route::features);
  EXPECT_EQ(match_route("GET", "/features/").route, Route::features);
  EXPECT_EQ(match_route("POST", "/ingest/v").route, Route::ingest);
  EXPECT_EQ(match_route("POST", "/get-online-features").route, Route::online_features);
  EXPECT_FALSE(match_route("GET", "/get-online-features").method_ok);
  EXPECT_FALSE(match_route("GET", "/nope").found);
  EXPECT_FALSE(match_route("GET", "nope").found);
  EXPECT_FALSE(match_route("GET", "/features/a/b/c/d").found);
  // An encoded slash stays inside its segment.
  auto k = match_route("GET", "/features/v/a%2Fb%20c");
  EXPECT_EQ(k.params[1], "a/b c");
  EXPECT_TRUE(match_route("GET", "/features/v/%zz").bad_encoding);
  EXPECT_TRUE(match_route("GET", "/features/v/%4").bad_encoding);
}

TEST(HttpRoutes, DecodesAndSplits) {
  EXPECT_EQ(*percent_decode("a%20b+c"), "a b+c");
  EXPECT_FALSE(percent_decode("%"));
  EXPECT_FALSE(percent_decode("%g0"));
  EXPECT_EQ(split_list(" a, ,b,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(query_values("on_error=reject&x=1&on_error=raise", "on_error"), (std::vector<std::string>{"reject", "raise"}));
}

TEST(HttpTokens, BearerHeader) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer   abc  "), "abc");
  EXPECT_EQ(bearer_token("Basic abc"), "");
  EXPECT_EQ(bearer_token("Bearer"), "");
  EXPECT_EQ(bearer_token("Bearer a b"), "");
  EXPECT_EQ(bearer_token("Bearerabc"), "");
  EXPECT_EQ(bearer_token("Bearer " + std::string(600, 'x')), "");
}

TEST(HttpKeys, TextFormLikePostgres) {
  std::string err;
  EXPECT_EQ(*key_text_from_json(1001, "bigint", err), "1001");
  EXPECT_EQ(*key_text_from_json("007", "bigint", err), "7");
  EXPECT_FALSE(key_text_from_json(12.0, "integer", err));  // 0.1.1: no fractions, also not .0
  EXPECT_FALSE(key_text_from_json(12.5, "bigint", err));
  EXPECT_FALSE(key_text_from_json(3000000000LL, "integer", err));
  EXPECT_FALSE(key_text_from_json(true, "bigint", err));
  EXPECT_FALSE(key_text_from_json(nullptr, "text", err));
  EXPECT_FALSE(key_text_from_json("abc", "bigint", err));
  EXPECT_NE(err.find("bigint"), std::string::npos);
  EXPECT_EQ(*key_text_from_json("Ab:c", "text", err), "Ab:c");
  EXPECT_EQ(*key_text_from_json(5, "text", err), "5");
  EXPECT_EQ(*key_text_from_json("{A0EEBC999C0B4EF8BB6D6BB9BD380A11}", "uuid", err), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_FALSE(key_text_from_json("a0eebc99", "uuid", err));
  EXPECT_EQ(redis_key("v", "1001"), "fstore:v1:v:1001");
}

TEST(HttpOnlineRequest, ResolvesFeaturesByStatus) {
  OnlinePlan p;
  ASSERT_FALSE(plan(R"({"features": ["v:*"], "entities": {"driver_id": [1]}})", p));
  ASSERT_EQ(p.features.size(), 1u);  // draft b and archived c are not in v:*
  EXPECT_EQ(p.features[0].column, "a");
  OnlinePlan q;
  ASSERT_FALSE(plan(R"({"features": ["v:b"], "entities": {"driver_id": [1]}})", q));  // draft by name: yes
  OnlinePlan r;
  auto e = plan(R"({"features": ["v:c"], "entities": {"driver_id": [1]}})", r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 404u);
  EXPECT_EQ(e->code, "archived");
  OnlinePlan s;
  ASSERT_FALSE(plan(R"({"feature_service": "s", "entities": {"driver_id": [1, 2]}})", s));
  EXPECT_EQ(s.features.size(), 2u);
  EXPECT_EQ(s.command_count(), 2u);
}

TEST(HttpOnlineRequest, ValidatesShapeAndLimits) {
  struct Case {
    const char* body;
    unsigned status;
    const char* code;
  } cases[] = {
      {"nope", 400, "invalid_json"},
      {"[1]", 400, "bad_request"},
      {R"({"entities": {"driver_id": [1]}})", 400, "bad_request"},
      {R"({"features": ["v:a"], "feature_service": "s", "entities": {"driver_id": [1]}})", 400, "bad_request"},
      {R"({"features": [], "entities": {"driver_id": [1]}})", 400, "bad_request"},
      {R"({"features": [1], "entities": {"driver_id": [1]}})", 400, "bad_request"},
      {R"({"features": ["v:a"]})", 400, "bad_request"},
      {R"({"features": ["v:a"], "entities": {}})", 400, "bad_request"},
      {R"({"features": ["v:a"], "entities": {"driver_id": 1}})", 400, "bad_request"},
      {R"({"features": ["v:a"], "entities": {"driver_id": [1], "x": [1, 2]}})", 400, "bad_request"},
      {R"({"features": ["v:a"], "entities": {"other": [1]}})", 400, "missing_join_key"},
      {R"({"features": ["v:a"], "entities": {"driver_id": [{}]}})", 400, "invalid_entity_key"},
      {R"({"features": ["v:a", "w:a"], "entities": {"driver_id": [1]}})", 400, "duplicate_feature"},
      {R"({"features": ["v:a"], "full_feature_names": "yes", "entities": {"driver_id": [1]}})", 400, "bad_request"},
      {R"({"features": ["va"], "entities": {"driver_id": [1]}})", 400, "bad_request"},
      {R"({"features": ["x:a"], "entities": {"driver_id": [1]}})", 404, "not_found"},
      {R"({"features": ["v:zz"], "entities": {"driver_id": [1]}})", 404, "not_found"},
      {R"({"features": ["v\"; DROP TABLE y; --:a"], "entities": {"driver_id": [1]}})", 400, "bad_request"},
      {R"({"features": ["v:a:b"], "entities": {"driver_id": [1]}})", 400, "bad_request"},
      {R"({"feature_service": "zz", "entities": {"driver_id": [1]}})", 404, "not_found"},
      {R"({"features": ["v:a"], "entities": {"driver_id": [1, 2, 3, 4]}})", 413, "too_many_entities"},
      {R"({"features": ["v:a", "v:a", "v:a", "v:a"], "entities": {"driver_id": [1]}})", 413, "too_many_features"},
  };
  for (const auto& c : cases) {
    OnlinePlan p;
    auto e = plan(c.body, p, Limits{3, 3});
    ASSERT_TRUE(e) << c.body;
    EXPECT_EQ(e->status, c.status) << c.body;
    EXPECT_EQ(e->code, c.code) << c.body;
  }
  OnlinePlan ok;
  ASSERT_FALSE(plan(R"({"features": ["v:a", "w:a"], "full_feature_names": true, "entities": {"driver_id": [1, "2"]}})", ok));
  EXPECT_EQ(ok.features[1].column, "w__a");
  EXPECT_EQ(ok.groups.size(), 2u);
  EXPECT_EQ(ok.groups[0].keys, (std::vector<std::string>{"fstore:v1:v:1", "fstore:v1:v:2"}));
}

TEST(HttpRedis, FormatsCommandsWithExplicitLengths) {
  std::string out;
  append_command(out, {"HMGET", std::string_view("k\r\n%s\0x", 7), "@event_ts"});
  static const char expected[] = "*3\r\n$5\r\nHMGET\r\n$7\r\nk\r\n%s\0x\r\n$9\r\n@event_ts\r\n";
  EXPECT_EQ(out, std::string(expected, sizeof expected - 1));
}
