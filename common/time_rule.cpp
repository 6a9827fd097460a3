#include "time_rule.hpp"

namespace fstore {
namespace {

constexpr int64_t kUsecsPerDay = 86400LL * 1000000LL;

// Days since 1970-01-01 of a civil date, and back (Howard Hinnant's algorithms).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned month_length(int64_t y, unsigned m) {
  static const unsigned lengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : lengths[m - 1];
}

// a + b, saturating to the infinities.
int64_t saturating_add(int64_t a, __int128 b) {
  __int128 r = static_cast<__int128>(a) + b;
  if (r >= kPlusInfinity) return kPlusInfinity;
  if (r <= kMinusInfinity) return kMinusInfinity;
  return static_cast<int64_t>(r);
}

// PostgreSQL's epoch (2000-01-01) in days since 1970-01-01.
constexpr int64_t kPgEpochDays = 10957;

}  // namespace

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp + (mp < 10 ? 3 : -9);
  y += m <= 2;
}

int64_t add_interval_utc(int64_t ts, const Interval& ttl, int sign) {
  if (is_infinite(ts)) return ts;
  int64_t result = ts;
  if (ttl.months != 0) {
    // Split into a UTC date and the time of day; move the date by whole months.
    int64_t day = result / kUsecsPerDay, tod = result % kUsecsPerDay;
    if (tod < 0) { tod += kUsecsPerDay; --day; }
    int64_t y; unsigned m, d;
    civil_from_days(day + kPgEpochDays, y, m, d);
    const int64_t total = y * 12 + (m - 1) + static_cast<int64_t>(sign) * ttl.months;
    const int64_t ny = total >= 0 ? total / 12 : (total - 11) / 12;
    const unsigned nm = static_cast<unsigned>(total - ny * 12) + 1;
    const unsigned nd = d > month_length(ny, nm) ? month_length(ny, nm) : d;
    const __int128 usecs = static_cast<__int128>(days_from_civil(ny, nm, nd) - kPgEpochDays) * kUsecsPerDay + tod;
    if (usecs >= kPlusInfinity) return kPlusInfinity;
    if (usecs <= kMinusInfinity) return kMinusInfinity;
    result = static_cast<int64_t>(usecs);
  }
  result = saturating_add(result, static_cast<__int128>(sign) * ttl.days * kUsecsPerDay);
  if (is_infinite(result)) return result;
  return saturating_add(result, static_cast<__int128>(sign) * ttl.usecs);
}

std::string winner_order_sql(const std::string& quoted_ts, const std::string& quoted_created) {
  std::string order = quoted_ts + " DESC";
  if (!quoted_created.empty()) order += ", " + quoted_created + " DESC NULLS LAST";
  return order;
}

}  // namespace fstore
