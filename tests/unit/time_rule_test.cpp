// The ttl arithmetic and tie-break shared by training sets, the sync and online reads.
#include <gtest/gtest.h>

#include "time_rule.hpp"

using fstore::add_interval_utc;
using fstore::Interval;

namespace {
constexpr int64_t kHour = 3600LL * 1000000LL;
constexpr int64_t kDay = 24 * kHour;
// Microseconds since 2000-01-01 UTC of a UTC civil time (test helper, days counted by hand).
int64_t at(int64_t days_since_2000, int64_t hours = 0) { return days_since_2000 * kDay + hours * kHour; }
}  // namespace

TEST(TimeRule, DaysAreTwentyFourHoursWhateverTheTimeZone) {
  // 2021-03-27 12:00 UTC minus one day is 2021-03-26 12:00 UTC, although Europe's DST began
  // between them: the rule never looks at a session's TimeZone.
  const int64_t t = at(7756, 12);  // 2021-03-27
  EXPECT_EQ(add_interval_utc(t, Interval{0, 1, 0}, -1), t - kDay);
  EXPECT_EQ(add_interval_utc(t, Interval{0, 0, 90 * 60 * 1000000LL}, 1), t + 90 * 60 * 1000000LL);
}

TEST(TimeRule, MonthsMoveTheUtcCalendarAndClampTheDay) {
  const int64_t jan31 = at(31 - 1, 6);  // 2000-01-31 06:00
  const int64_t feb29 = at(31 + 29 - 1, 6);  // 2000-02-29 06:00 (leap year)
  EXPECT_EQ(add_interval_utc(jan31, Interval{1, 0, 0}, 1), feb29);
  EXPECT_EQ(add_interval_utc(feb29, Interval{12, 0, 0}, 1), at(366 + 31 + 28 - 1, 6));  // 2001-02-28
  EXPECT_EQ(add_interval_utc(at(0), Interval{1, 0, 0}, -1), at(-31));  // 1999-12-01
}

TEST(TimeRule, InfinitiesStayAndOverflowSaturates) {
  EXPECT_EQ(add_interval_utc(fstore::kPlusInfinity, Interval{0, 1, 0}, -1), fstore::kPlusInfinity);
  EXPECT_EQ(add_interval_utc(fstore::kMinusInfinity, Interval{0, 1, 0}, 1), fstore::kMinusInfinity);
  EXPECT_EQ(add_interval_utc(fstore::kPlusInfinity - 5, Interval{0, 0, 10}, 1), fstore::kPlusInfinity);
  EXPECT_EQ(add_interval_utc(fstore::kMinusInfinity + 5, Interval{0, 1, 0}, -1), fstore::kMinusInfinity);
}

TEST(TimeRule, WinnerOrderPutsNullCreatedLast) {
  EXPECT_EQ(fstore::winner_order_sql("\"ts\"", "\"c\""), "\"ts\" DESC, \"c\" DESC NULLS LAST");
  EXPECT_EQ(fstore::winner_order_sql("\"ts\"", ""), "\"ts\" DESC");
}
