// Unit tests of the sync worker's pure helpers: URL parsing, PostgreSQL array text, key checks,
// the Redis expiry rule.
#include "sync/redis_link.hpp"
#include "sync/sync_util.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using namespace fstore::sync;

TEST(SyncUtil, RedisUrlsGoThroughTheServersParser) {
  auto a = redis_link_endpoint("redis://127.0.0.1:6380");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.db, 0);
  auto b = redis_link_endpoint("redis://:s3cret@localhost/2");
  EXPECT_EQ(b.host, "localhost");
  EXPECT_EQ(b.port, 6379);
  EXPECT_EQ(b.password, "s3cret");
  EXPECT_EQ(b.db, 2);
  EXPECT_THROW(redis_link_endpoint("redis://h:99999"), std::invalid_argument);
  EXPECT_THROW(redis_link_endpoint("redis://h:x"), std::invalid_argument);
  EXPECT_THROW(redis_link_endpoint("http://h:1"), std::invalid_argument);
  EXPECT_THROW(redis_link_endpoint("redis://h:1/abc"), std::invalid_argument);
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

namespace {
constexpr int64_t kHourUs = 3600LL * 1000000LL;
constexpr int64_t kDayUs = 24 * kHourUs;
}  // namespace

TEST(SyncUtil, TimestampsInRedisAreUnixMicrosecondsWithInfinitiesKept) {
  EXPECT_EQ(pg_to_unix_us(0), kPgEpochUnixUs);
  EXPECT_EQ(pg_to_unix_us(-kPgEpochUnixUs), 0);
  EXPECT_EQ(pg_to_unix_us(fstore::kMinusInfinity), fstore::kMinusInfinity);
  EXPECT_EQ(pg_to_unix_us(fstore::kPlusInfinity), fstore::kPlusInfinity);
  EXPECT_EQ(pg_to_unix_us(fstore::kPlusInfinity - 1), fstore::kPlusInfinity);  // saturates
}

TEST(SyncUtil, RedisExpiryIsEventTimePlusTtlInUtc) {
  const int64_t now = 7756 * kDayUs + 12 * kHourUs;  // 2021-03-27 12:00 UTC, a day before Europe's DST change
  // No ttl: the key never expires, whatever the event time (-infinity included).
  EXPECT_EQ(redis_expiry_ms(now - kHourUs, std::nullopt, now), 0);
  EXPECT_EQ(redis_expiry_ms(fstore::kMinusInfinity, std::nullopt, now), 0);
  // '1 day' is 24 hours across the DST change (the session's TimeZone plays no part).
  const fstore::Interval day{0, 1, 0};
  EXPECT_EQ(redis_expiry_ms(now - kHourUs, day, now), (pg_to_unix_us(now - kHourUs + kDayUs)) / 1000);
  // '1 month' moves the UTC calendar: 2000-01-31 + 1 month = 2000-02-29, like add_interval_utc.
  const fstore::Interval month{1, 0, 0};
  const int64_t jan31 = 30 * kDayUs + 6 * kHourUs;
  EXPECT_EQ(redis_expiry_ms(jan31, month, jan31 + kDayUs), pg_to_unix_us(fstore::add_interval_utc(jan31, month)) / 1000);
  EXPECT_EQ(pg_to_unix_us(fstore::add_interval_utc(jan31, month)), pg_to_unix_us((31 + 28) * kDayUs + 6 * kHourUs));
  // Outside the ttl (the training-set rule: event_ts < now - ttl), -infinity always: nothing to write.
  EXPECT_FALSE(redis_expiry_ms(now - kDayUs - 1, day, now).has_value());
  EXPECT_TRUE(redis_expiry_ms(now - kDayUs, day, now).has_value());
  EXPECT_FALSE(redis_expiry_ms(fstore::kMinusInfinity, day, now).has_value());
}

TEST(SyncUtil, IntervalTimePartSaturates) {
  EXPECT_EQ(interval_time_usecs(1, 30, 15000000), kHourUs + 30 * 60000000LL + 15000000);
  EXPECT_EQ(interval_time_usecs(INT64_MAX / 1000, 0, 0), fstore::kPlusInfinity);
}
