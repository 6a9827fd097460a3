// Unit tests of the 0.1.1 rules of the HTTP side: one Redis URL parser, request framing, one
// entity key parser for GET and POST, feature references through common/names, duplicate
// names, the JSON nesting limit, OUTSIDE_MAX_AGE by fstore::add_interval_utc, ingest errors.
#include "http/app.hpp"
#include "http/ingest_errors.hpp"
#include "online/json_limit.hpp"
#include "online/online_query.hpp"
#include "redis/redis_url.hpp"
#include "time_rule.hpp"
#include "token_auth.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace fstore::server;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

std::shared_ptr<const Registry> registry() {
  std::vector<json> entities = {{{"name", "driver"}, {"join_key", "driver_id"}, {"key_type", "bigint"}},
                                {{"name", "rider"}, {"join_key", "rider_id"}, {"key_type", "text"}}};
  std::vector<json> views = {
      {{"name", "a"}, {"entity", "driver"}, {"online", true}},
      {{"name", "b"}, {"entity", "driver"}, {"online", true}},
      {{"name", "monthly"}, {"entity", "driver"}, {"online", true}, {"ttl_months", 1}, {"ttl_days", 0}, {"ttl_usecs", 0},
       {"ttl_seconds", 2592000.0}}};
  std::vector<json> features = {
      {{"view", "a"}, {"name", "x"}, {"type", "integer"}, {"status", "active"}, {"position", 1}},
      {{"view", "b"}, {"name", "x"}, {"type", "integer"}, {"status", "active"}, {"position", 1}},
      {{"view", "b"}, {"name", "y"}, {"type", "integer"}, {"status", "active"}, {"position", 2}}};
  return Registry::from_rows(entities, views, features, {});
}

// Microseconds since 1970 of a UTC date and time.
int64_t unix_us(int y, int mo, int d, int h = 0, int mi = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  return static_cast<int64_t>(timegm(&tm)) * 1000000;
}

std::optional<std::string> key(const ojson& v, const std::string& type) {
  std::string error;
  return key_text_from_json(v, type, error);
}

}  // namespace

TEST(HttpRedisUrl, ParsesEveryForm) {
  RedisEndpoint ep;
  ASSERT_TRUE(parse_redis_url("redis://fstore:pw@10.0.0.1:7000/2", ep));
  EXPECT_EQ(ep.user, "fstore");
  EXPECT_EQ(ep.password, "pw");
  EXPECT_EQ(ep.host, "10.0.0.1");
  EXPECT_EQ(ep.port, 7000);
  EXPECT_EQ(ep.db, 2);
  ASSERT_TRUE(parse_redis_url("redis://:secret@h", ep));
  EXPECT_EQ(ep.user, "");
  EXPECT_EQ(ep.password, "secret");
  EXPECT_EQ(ep.port, 6379);
  ASSERT_TRUE(parse_redis_url("redis://localhost", ep));
  EXPECT_EQ(ep.password, "");
  EXPECT_EQ(ep.db, 0);
  ASSERT_TRUE(parse_redis_url("h:1", ep));  // no scheme
  EXPECT_EQ(ep.port, 1);
  ASSERT_TRUE(parse_redis_url("redis://[::1]:7001/0", ep));
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.port, 7001);
  ASSERT_TRUE(parse_redis_url("redis://u:p%40ss%3Aw@h:2", ep));  // percent-encoded
  EXPECT_EQ(ep.password, "p@ss:w");
  ASSERT_TRUE(parse_redis_url("redis://u:a@b/c@h", ep));  // the last '@' ends the credentials
  EXPECT_EQ(ep.password, "a@b/c");
  EXPECT_EQ(ep.host, "h");
  ASSERT_TRUE(parse_redis_url("redis://h:65535/15", ep));
  EXPECT_EQ(ep.port, 65535);
  EXPECT_EQ(ep.db, 15);
  // The throwing form says why.
  EXPECT_EQ(parse_redis_url("redis://u:pw@h:9").user, "u");
  EXPECT_THROW(parse_redis_url("redis://h:0"), std::invalid_argument);
}

TEST(HttpRedisUrl, RefusesMalformed) {
  RedisEndpoint ep;
  std::string error;
  for (const char* bad : {"http://x:1", "rediss+x://h", "redis://h:port", "redis://h:0", "redis://h:65536", "redis://h:-1",
                          "redis://h:", "redis://", "redis://:pw@", "redis://h/x", "redis://h/-1", "redis://h?db=1",
                          "redis://[::1", "redis://u:%zz@h", "redis://u:%4@h", "redis://user:@h", "redis://h h:1",
                          "redis://h?cacert=/ca.pem", "rediss://h?ca=/x", "rediss://h?cacert=", "rediss://h?cert=/c",
                          "rediss://h?cacert=/a&", "rediss://h?key=/k", "rediss+cluster://h:1/3", "rediss://h#x"}) {
    error.clear();
    EXPECT_FALSE(parse_redis_url(bad, ep, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(HttpRedisUrl, ParsesTlsForms) {
  RedisEndpoint ep;
  ASSERT_TRUE(parse_redis_url("rediss://:pw@127.0.0.1:6380/2?cacert=/etc/ca%40x.pem", ep));
  EXPECT_TRUE(ep.tls);
  EXPECT_FALSE(ep.cluster);
  EXPECT_EQ(ep.password, "pw");
  EXPECT_EQ(ep.port, 6380);
  EXPECT_EQ(ep.db, 2);
  EXPECT_EQ(ep.tls_ca, "/etc/ca@x.pem");
  EXPECT_EQ(ep.tls_cert, "");
  ASSERT_TRUE(parse_redis_url("rediss://h", ep));  // the system's CAs
  EXPECT_TRUE(ep.tls);
  EXPECT_EQ(ep.tls_ca, "");
  ASSERT_TRUE(parse_redis_url("rediss://h:1?cacert=/ca&cert=/c.pem&key=/k.pem", ep));
  EXPECT_EQ(ep.tls_cert, "/c.pem");
  EXPECT_EQ(ep.tls_key, "/k.pem");
  ASSERT_TRUE(parse_redis_url("rediss+cluster://a:1,b:2?cacert=/ca", ep));
  EXPECT_TRUE(ep.tls);
  EXPECT_TRUE(ep.cluster);
  EXPECT_EQ(ep.seeds.size(), 2u);
  EXPECT_EQ(ep.tls_ca, "/ca");
  ASSERT_TRUE(parse_redis_url("redis://h", ep));
  EXPECT_FALSE(ep.tls);
}

TEST(HttpFraming, OnlyOneChunkedTransferEncoding) {
  EXPECT_FALSE(framing_error({}, true));
  EXPECT_FALSE(framing_error({}, false));
  EXPECT_FALSE(framing_error({"chunked"}, false));
  EXPECT_FALSE(framing_error({" Chunked "}, false));
  for (std::string_view te : {"gzip", "identity", "chunked, chunked", "xchunked", "gzip, chunked", "chunked;q=1", ""})
    EXPECT_TRUE(framing_error({te}, false)) << te;
  EXPECT_TRUE(framing_error({"chunked", "chunked"}, false));  // two fields
  EXPECT_TRUE(framing_error({"chunked"}, true));               // with Content-Length
}

TEST(HttpKeys, OneParserForPathsAndBodies) {
  for (const char* type : {"bigint", "integer"}) {
    EXPECT_EQ(key(1001, type), "1001");
    EXPECT_EQ(key("1001", type), "1001");
    EXPECT_EQ(key("007", type), "7");
    EXPECT_EQ(key(-5, type), "-5");
    EXPECT_FALSE(key(1001.0, type)) << type;
    EXPECT_FALSE(key("1001.0", type)) << type;
    EXPECT_FALSE(key(1e3, type)) << type;
    EXPECT_FALSE(key("abc", type)) << type;
    EXPECT_FALSE(key(nullptr, type)) << type;
    EXPECT_FALSE(key(true, type)) << type;
    EXPECT_FALSE(key(ojson::array({1}), type)) << type;
  }
  EXPECT_FALSE(key(4294967296LL, "integer"));
  EXPECT_FALSE(key("99999999999999999999", "bigint"));
  EXPECT_EQ(key("abc", "text"), "abc");
  EXPECT_EQ(key(1001, "text"), "1001");
  EXPECT_FALSE(key(1001.5, "text"));
  EXPECT_EQ(key("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "uuid"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_FALSE(key(12, "uuid"));
  // The path form is the JSON string form.
  std::string error;
  for (const char* text : {"1001", "1001.0", "007", "abc", " 5", "1e3"}) {
    auto from_path = key_text_from_string(text, "bigint", error);
    EXPECT_EQ(from_path, key(text, "bigint")) << text;
  }
}

TEST(HttpRefs, ParsedOnceMalformedIs400) {
  auto reg = registry();
  std::vector<ServedFeature> out;
  for (const char* bad : {"a:x:y", "a", "a:", ":x", "a:x-y", "a b:x"}) {
    out.clear();
    auto err = resolve_features(*reg, {bad}, false, out);
    ASSERT_TRUE(err) << bad;
    EXPECT_EQ(err->status, 400u) << bad;
  }
  out.clear();
  auto unknown = resolve_features(*reg, {"nope:x"}, false, out);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404u);
  out.clear();
  EXPECT_FALSE(resolve_features(*reg, {"a:x", "b:y"}, false, out));
}

TEST(HttpRefs, DuplicateNamesAcrossViewsNamed) {
  auto reg = registry();
  std::vector<ServedFeature> out;
  auto err = resolve_features(*reg, {"a:x", "b:*"}, false, out);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 400u);
  EXPECT_EQ(err->code, "duplicate_feature");
  EXPECT_NE(err->message.find("a:x"), std::string::npos) << err->message;
  EXPECT_NE(err->message.find("b:x"), std::string::npos) << err->message;
  out.clear();
  EXPECT_FALSE(resolve_features(*reg, {"a:x", "b:*"}, true, out));
  EXPECT_EQ(out[0].column, "a__x");
}

TEST(HttpJsonLimit, DepthLimitWhileParsing) {
  auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  ojson out;
  EXPECT_EQ(parse_json_limited(nested(400), out), JsonCheck::ok);
  EXPECT_EQ(parse_json_limited(nested(401), out), JsonCheck::too_deep);
  EXPECT_EQ(parse_json_limited(std::string(100000, '['), out), JsonCheck::too_deep);
  EXPECT_EQ(parse_json_limited("{\"a\":", out), JsonCheck::invalid);
  EXPECT_EQ(check_json(nested(400)), JsonCheck::ok);
  EXPECT_EQ(check_json(nested(401)), JsonCheck::too_deep);
  std::string deep_objects;
  for (int i = 0; i < 100000; ++i) deep_objects += "{\"a\":";
  EXPECT_EQ(check_json(deep_objects), JsonCheck::too_deep);
  EXPECT_EQ(check_json("[1,"), JsonCheck::invalid);
  EXPECT_EQ(check_json("[{\"a\":[1]}]"), JsonCheck::ok);
  // Through the online request parser: a 400, not a crash.
  OnlinePlan plan;
  std::string deep = R"({"features":["a:x"],"entities":{"driver_id":)" + std::string(100000, '[');
  auto err = plan_online_request(registry(), deep, Limits{}, plan);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 400u);
  EXPECT_EQ(err->code, "json_too_deep");
}

TEST(HttpMaxAge, MonthTtlFollowsTheTrainingRule) {
  fstore::Interval month{1, 0, 0};
  // now 2024-03-31 12:00: now - 1 month = 2024-02-29 12:00 (clamped), not now - 30 days (03-01 12:00).
  int64_t now = unix_us(2024, 3, 31, 12);
  EXPECT_FALSE(outside_max_age(unix_us(2024, 3, 1, 0), month, now));   // 30.5 days old, within 1 month
  EXPECT_FALSE(outside_max_age(unix_us(2024, 2, 29, 12), month, now));  // exactly at the edge: inside
  EXPECT_TRUE(outside_max_age(unix_us(2024, 2, 29, 11, 59), month, now));
  // The same boundary as fstore::add_interval_utc (PostgreSQL epoch).
  const int64_t pg_epoch = 946684800LL * 1000000;
  int64_t cutoff = fstore::add_interval_utc(now - pg_epoch, month, -1) + pg_epoch;
  EXPECT_FALSE(outside_max_age(cutoff, month, now));
  EXPECT_TRUE(outside_max_age(cutoff - 1, month, now));
  // Infinities: -infinity is outside every window, infinity never.
  EXPECT_TRUE(outside_max_age(fstore::kMinusInfinity, month, now));
  EXPECT_FALSE(outside_max_age(fstore::kPlusInfinity, month, now));
}

TEST(HttpMaxAge, DayTtlIs24HoursAcrossDst) {
  // 2024-03-31 is the EU DST change; in UTC one day is still 24 hours, as in training sets.
  fstore::Interval day{0, 1, 0};
  int64_t now = unix_us(2024, 3, 31, 12);
  EXPECT_FALSE(outside_max_age(now - 86400LL * 1000000, day, now));
  EXPECT_TRUE(outside_max_age(now - 86400LL * 1000000 - 1, day, now));
  // Through the registry row and a cell.
  auto reg = registry();
  const FeatureView* v = reg->view("monthly");
  ASSERT_TRUE(v->ttl);
  EXPECT_EQ(v->ttl->months, 1);
  RedisValue reply{RedisValue::Type::array, "", 0,
                   {RedisValue{RedisValue::Type::string, std::to_string(unix_us(2024, 3, 1)), 0, {}},
                    RedisValue{RedisValue::Type::string, "1", 0, {}}}};
  EXPECT_STREQ(evaluate_cell(reply, 0, v->ttl, now).status, "PRESENT");
  EXPECT_STREQ(evaluate_cell(reply, 0, v->ttl, unix_us(2024, 4, 2)).status, "OUTSIDE_MAX_AGE");
}

TEST(HttpIngestErrors, ClientMistakesAre4xxWithOurMessage) {
  const std::string what = "ERROR:  something internal\nCONTEXT:  PL/pgSQL function fstore.ingest line 42\n";
  EXPECT_EQ(map_ingest_error("23514", "ERROR:  feature view \"v\": bad\nCONTEXT: x", "v").status, 422u);
  EXPECT_EQ(map_ingest_error("23514", "ERROR:  feature view \"v\": bad\nCONTEXT: x", "v").message, "feature view \"v\": bad");
  EXPECT_EQ(map_ingest_error("22007", what, "v").status, 422u);
  EXPECT_EQ(map_ingest_error("54000", what, "v").status, 413u);
  EXPECT_EQ(map_ingest_error("54001", what, "v").status, 413u);
  EXPECT_TRUE(map_ingest_error("40001", what, "v").retry);
  EXPECT_TRUE(map_ingest_error("40P01", what, "v").retry);
  EXPECT_EQ(map_ingest_error("40001", what, "v").status, 503u);
  EXPECT_EQ(map_ingest_error("57014", what, "v").status, 503u);
  EXPECT_EQ(map_ingest_error("42501", what, "v").status, 403u);
  EXPECT_EQ(map_ingest_error("42704", what, "v").status, 404u);
  EXPECT_EQ(map_ingest_error("08006", what, "v").status, 503u);
  auto other = map_ingest_error("XX000", what, "v");
  EXPECT_EQ(other.status, 500u);
  for (const char* st : {"54000", "54001", "40001", "57014", "42501", "XX000"})
    EXPECT_EQ(map_ingest_error(st, what, "v").message.find("internal"), std::string::npos) << st;
}

TEST(HttpTokens, DigestIsSha256) {
  auto d = token_digest("abc");
  EXPECT_EQ(d[0], 0xba);
  EXPECT_EQ(d[1], 0x78);
  EXPECT_EQ(d[31], 0xad);
}
