// Unit tests of the sync worker's pure helpers: URL parsing, PostgreSQL array text, key checks.
#include "sync/sync_util.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using namespace fstore::sync;

TEST(SyncUtil, ParsesRedisUrls) {
  auto a = parse_redis_url("redis://127.0.0.1:6380");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.db, 0);
  auto b = parse_redis_url("redis://:s3cret@localhost/2");
  EXPECT_EQ(b.host, "localhost");
  EXPECT_EQ(b.port, 6379);
  EXPECT_EQ(b.password, "s3cret");
  EXPECT_EQ(b.db, 2);
  auto c = parse_redis_url("alice:pw@h:1");
  EXPECT_EQ(c.user, "alice");
  EXPECT_EQ(c.password, "pw");
  EXPECT_EQ(c.port, 1);
  auto d = parse_redis_url("redis://[::1]:7000");
  EXPECT_EQ(d.host, "::1");
  EXPECT_EQ(d.port, 7000);
  EXPECT_THROW(parse_redis_url("redis://h:99999"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("redis://h:x"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("http://h:1"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("redis://h:1/abc"), std::invalid_argument);
}

TEST(SyncUtil, ParsesPostgresTextArrays) {
  EXPECT_TRUE(parse_pg_text_array("{}").empty());
  EXPECT_EQ(parse_pg_text_array("{1,2,3}"), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(parse_pg_text_array(R"({"a b","c,d","q\"uote","back\\slash",NULL,"NULL",""})"),
            (std::vector<std::string>{"a b", "c,d", "q\"uote", "back\\slash", "NULL", ""}));
  EXPECT_EQ(parse_pg_text_array("[0:1]={x,y}"), (std::vector<std::string>{"x", "y"}));
  EXPECT_THROW(parse_pg_text_array("1,2"), std::invalid_argument);
  EXPECT_THROW(parse_pg_text_array("{\"abc"), std::invalid_argument);
  EXPECT_THROW(parse_pg_text_array("{a,b"), std::invalid_argument);
}

TEST(SyncUtil, ArrayLiteralRoundTrips) {
  std::vector<std::string> items = {"plain", "with space", "comma,", "quote\"", "back\\", "{brace}", "", "NULL",
                                    "üñí"};
  EXPECT_EQ(parse_pg_text_array(to_pg_text_array(items)), items);
  EXPECT_EQ(to_pg_text_array({}), "{}");
}

TEST(SyncUtil, BuildsRedisKeys) {
  EXPECT_EQ(entity_redis_key("driver_stats", "1001"), "fstore:v1:driver_stats:1001");
  EXPECT_EQ(entity_redis_key("v", "a:b c"), "fstore:v1:v:a:b c");
}

TEST(SyncUtil, ChecksKeyText) {
  EXPECT_TRUE(valid_key_text("bigint", "-9223372036854775808"));
  EXPECT_FALSE(valid_key_text("bigint", "9223372036854775808"));
  EXPECT_FALSE(valid_key_text("bigint", "12a"));
  EXPECT_FALSE(valid_key_text("bigint", ""));
  EXPECT_FALSE(valid_key_text("bigint", "-"));
  EXPECT_TRUE(valid_key_text("integer", "2147483647"));
  EXPECT_FALSE(valid_key_text("integer", "2147483648"));
  EXPECT_TRUE(valid_key_text("uuid", "123e4567-e89b-12d3-a456-426614174000"));
  EXPECT_FALSE(valid_key_text("uuid", "123e4567e89b12d3a456426614174000"));
  EXPECT_TRUE(valid_key_text("text", "anything at all"));
}
