// Time rules shared by the extension and the server (no PostgreSQL headers): how a view's ttl is
// added to or subtracted from a timestamp, and which version of a row wins a tie.
//
// Timestamps are PostgreSQL's: microseconds since 2000-01-01 00:00:00 UTC, with INT64_MIN and
// INT64_MAX standing for -infinity and infinity. Training sets, the sync's Redis expiry and the
// online OUTSIDE_MAX_AGE check all go through these functions, so they cannot disagree.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

namespace fstore {

constexpr int64_t kMinusInfinity = std::numeric_limits<int64_t>::min();
constexpr int64_t kPlusInfinity = std::numeric_limits<int64_t>::max();
inline bool is_infinite(int64_t ts) { return ts == kMinusInfinity || ts == kPlusInfinity; }

// An interval as PostgreSQL stores it: months, days and microseconds, each with its own sign.
struct Interval {
  int32_t months = 0;
  int32_t days = 0;
  int64_t usecs = 0;
};

// The civil (proleptic Gregorian, UTC) date of `days` since 1970-01-01 (Howard Hinnant's algorithm).
void civil_from_days(int64_t days, int64_t& year, unsigned& month, unsigned& day);

// ts + sign * ttl, computed in UTC: months move the calendar date in UTC (clamping the day to
// the month's length, as PostgreSQL does), days are 24 hours, then the microseconds. So the
// answer never depends on a session's TimeZone (a DST change is not a 23- or 25-hour day).
// Infinite timestamps stay infinite; results beyond the representable range saturate to an
// infinity. sign is +1 or -1.
int64_t add_interval_utc(int64_t ts, const Interval& ttl, int sign = 1);

// The tie-break of the point-in-time rule: among rows of one key with the same event_ts, the
// greatest created_ts wins, and a NULL created_ts ranks below every value.
constexpr int64_t kNullCreated = kMinusInfinity;

// The same rule as SQL, for queries that pick winners with DISTINCT ON (key): the ORDER BY terms
// after the key, for already-quoted column names (`created` empty: the view has no created column).
std::string winner_order_sql(const std::string& quoted_ts, const std::string& quoted_created);

}  // namespace fstore
