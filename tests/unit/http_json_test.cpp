// Unit tests of the server's JSON encoding: escaping, spliced values, timestamps, online responses.
#include "online/json_text.hpp"
#include "online/online_query.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace fstore::server;
using json = nlohmann::json;

namespace {

// A registry with entity driver (bigint), view driver_stats (ttl 1 h) of 4 features with every status.
std::shared_ptr<const Registry> test_registry() {
  std::vector<json> entities = {{{"name", "driver"}, {"join_key", "driver_id"}, {"key_type", "bigint"}},
                                {{"name", "user"}, {"join_key", "user_id"}, {"key_type", "uuid"}}};
  std::vector<json> views = {
      {{"name", "driver_stats"}, {"entity", "driver"}, {"join_key", "driver_id"}, {"key_type", "bigint"},
       {"ttl_seconds", 3600}, {"online", true}},
      {{"name", "user_stats"}, {"entity", "user"}, {"ttl_seconds", nullptr}, {"online", true}},
      {{"name", "offline_only"}, {"entity", "driver"}, {"online", false}}};
  std::vector<json> features = {
      {{"view", "driver_stats"}, {"name", "conv_rate"}, {"type", "double precision"}, {"status", "active"}, {"position", 1}},
      {{"view", "driver_stats"}, {"name", "trips"}, {"type", "bigint"}, {"status", "deprecated"}, {"position", 2}},
      {{"view", "driver_stats"}, {"name", "city"}, {"type", "text"}, {"status", "draft"}, {"position", 3}},
      {{"view", "driver_stats"}, {"name", "old"}, {"type", "text"}, {"status", "archived"}, {"position", 4}},
      {{"view", "user_stats"}, {"name", "trips"}, {"type", "integer"}, {"status", "active"}, {"position", 1}},
      {{"view", "offline_only"}, {"name", "x"}, {"type", "integer"}, {"status", "active"}, {"position", 1}}};
  std::vector<json> services = {{{"name", "model_a"}, {"features", {"driver_stats:conv_rate", "driver_stats:city"}}}};
  return Registry::from_rows(entities, views, features, services);
}

RedisValue str(const std::string& s) { return RedisValue{RedisValue::Type::string, s, 0, {}}; }
RedisValue nil() { return RedisValue{}; }
RedisValue arr(std::vector<RedisValue> v) { return RedisValue{RedisValue::Type::array, "", 0, std::move(v)}; }

}  // namespace

TEST(HttpJson, EscapesStrings) {
  std::string out;
  append_json_string(out, "a\"b\\c\n\x01é");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001é\"");
  EXPECT_EQ(json::parse(out).get<std::string>(), "a\"b\\c\n\x01é");
}

TEST(HttpJson, SplicesValidFragmentsVerbatim) {
  std::string out;
  append_json_fragment(out, "1.10");
  EXPECT_EQ(out, "1.10");  // numeric digits kept exactly
  out.clear();
  append_json_fragment(out, "\"x\"");
  EXPECT_EQ(out, "\"x\"");
  out.clear();
  append_json_fragment(out, "{\"a\":[1,2]}");
  EXPECT_EQ(out, "{\"a\":[1,2]}");
  out.clear();
  append_json_fragment(out, "not json");
  EXPECT_EQ(out, "\"not json\"");
  out.clear();
  append_json_fragment(out, "1.2.3");
  EXPECT_EQ(out, "\"1.2.3\"");
}

TEST(HttpJson, FormatsTimestamps) {
  EXPECT_EQ(format_timestamp_us(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_timestamp_us(1714564800000000LL), "2024-05-01T12:00:00Z");
  EXPECT_EQ(format_timestamp_us(1714564800123456LL), "2024-05-01T12:00:00.123456Z");
  EXPECT_EQ(format_timestamp_us(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(format_timestamp_us(951782400000000LL), "2000-02-29T00:00:00Z");
}

TEST(HttpJson, ParsesIntegers) {
  int64_t v;
  EXPECT_TRUE(parse_int64("123", v));
  EXPECT_EQ(v, 123);
  EXPECT_TRUE(parse_int64("-5", v));
  EXPECT_EQ(v, -5);
  EXPECT_TRUE(parse_int64("+7", v));
  EXPECT_FALSE(parse_int64("+-7", v));
  EXPECT_FALSE(parse_int64("", v));
  EXPECT_FALSE(parse_int64("12a", v));
  EXPECT_FALSE(parse_int64("99999999999999999999", v));
}

TEST(HttpJson, EvaluatesCells) {
  int64_t now = 10'000'000'000LL;
  auto reply = arr({str(std::to_string(now - 10)), str("0.5"), str("null"), nil()});
  std::optional<fstore::Interval> ttl;
  Cell c = evaluate_cell(reply, 0, ttl, now);
  EXPECT_STREQ(c.status, "PRESENT");
  EXPECT_EQ(c.value, "0.5");
  EXPECT_EQ(c.event_us, now - 10);
  EXPECT_STREQ(evaluate_cell(reply, 1, ttl, now).status, "NULL_VALUE");
  EXPECT_STREQ(evaluate_cell(reply, 2, ttl, now).status, "NOT_FOUND");  // field missing
  EXPECT_STREQ(evaluate_cell(arr({nil(), nil()}), 0, ttl, now).status, "NOT_FOUND");  // hash missing
  auto old = arr({str(std::to_string(now - 7200'000'000LL)), str("1")});
  Cell o = evaluate_cell(old, 0, fstore::Interval{0, 0, 3600'000'000LL}, now);
  EXPECT_STREQ(o.status, "OUTSIDE_MAX_AGE");
  EXPECT_EQ(o.value, "1");  // value kept, as Feast does
  EXPECT_STREQ(evaluate_cell(old, 0, std::nullopt, now).status, "PRESENT");
}

TEST(HttpJson, EncodesOnlineResponseColumnMajor) {
  auto reg = test_registry();
  OnlinePlan plan;
  auto err = plan_online_request(reg, R"({"features":["driver_stats:conv_rate","driver_stats:trips"],
                                           "entities":{"driver_id":[1001,"1002",1003]}})", Limits{}, plan);
  ASSERT_FALSE(err) << err->message;
  ASSERT_EQ(plan.command_count(), 3u);
  int64_t now = 1714564800000000LL;
  std::vector<RedisValue> replies = {arr({str(std::to_string(now - 1000000)), str("0.25"), str("12")}),
                                     arr({nil(), nil(), nil()}),
                                     arr({str(std::to_string(now - 1000000)), str("null"), str("3")})};
  auto body = encode_online_response(plan, replies, now);
  ASSERT_TRUE(body);
  json j = json::parse(*body);
  EXPECT_EQ(j["metadata"]["feature_names"], json({"driver_id", "conv_rate", "trips"}));
  ASSERT_EQ(j["results"].size(), 3u);
  EXPECT_EQ(j["results"][0]["values"], json({1001, "1002", 1003}));
  EXPECT_EQ(j["results"][0]["statuses"], json({"PRESENT", "PRESENT", "PRESENT"}));
  EXPECT_EQ(j["results"][1]["values"], json({0.25, nullptr, nullptr}));
  EXPECT_EQ(j["results"][1]["statuses"], json({"PRESENT", "NOT_FOUND", "NULL_VALUE"}));
  EXPECT_EQ(j["results"][1]["event_timestamps"], json({"2024-05-01T11:59:59Z", "1970-01-01T00:00:00Z", "2024-05-01T11:59:59Z"}));
  EXPECT_EQ(j["results"][2]["values"], json({12, nullptr, 3}));
  EXPECT_TRUE(j["results"][2]["values"][0].is_number_integer());
  EXPECT_EQ(j["warnings"], json({"feature driver_stats:trips is deprecated"}));
}

TEST(HttpJson, EncodesEntityResponse) {
  auto reg = test_registry();
  const FeatureView* v = reg->view("driver_stats");
  std::vector<const Feature*> fs = {v->find("conv_rate"), v->find("city")};
  int64_t now = 1714564800000000LL;
  auto body = encode_entity_response(*v, "1001", fs, arr({str(std::to_string(now)), str("0.5"), str("\"Paris \\\"Nord\\\"\"")}), now);
  ASSERT_TRUE(body);
  json j = json::parse(*body);
  EXPECT_EQ(j["view"], "driver_stats");
  EXPECT_EQ(j["entity_key"], 1001);
  EXPECT_EQ(j["event_timestamp"], "2024-05-01T12:00:00Z");
  EXPECT_EQ(j["features"]["conv_rate"], 0.5);
  EXPECT_EQ(j["features"]["city"], "Paris \"Nord\"");
  EXPECT_EQ(j["statuses"]["city"], "PRESENT");
  EXPECT_FALSE(encode_entity_response(*v, "1001", fs, arr({nil(), nil(), nil()}), now));
}

TEST(HttpJson, ErrorBodyShape) {
  json j = json::parse(error_body("not_found", "feature view 'x' does not exist"));
  EXPECT_EQ(j["error"]["code"], "not_found");
  EXPECT_EQ(j["error"]["message"], "feature view 'x' does not exist");
  // invalid UTF-8 in a message never breaks the JSON
  EXPECT_NO_THROW(json::parse(error_body("bad", std::string("\xff\xfe", 2))));
}
