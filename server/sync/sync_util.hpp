// Small pure helpers of the sync worker (no PostgreSQL or Redis connection needed), unit-tested in
// tests/unit/sync_util_test.cpp. The Redis URL is parsed by server/redis/redis_pipeline.hpp (one
// parser for reads and the sync).
#pragma once

#include "time_rule.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fstore::sync {

// Parses PostgreSQL's text output of a one-dimensional text[] ("{a,\"b c\",NULL}") into its
// elements; NULL elements are skipped. Throws std::invalid_argument on malformed input.
std::vector<std::string> parse_pg_text_array(std::string_view text);

// Renders strings as a PostgreSQL text[] literal, every element quoted and escaped.
std::string to_pg_text_array(const std::vector<std::string>& items);

// The Redis key of one entity of one view: fstore:v1:<view>:<entity_key_text>.
std::string entity_redis_key(const std::string& view, const std::string& entity_key);

// The key holding the marker of what was applied (a hash: epoch, seq, state, at).
inline constexpr const char* kMarkerKey = "fstore:v1:@marker";
inline constexpr const char* kKeyPrefix = "fstore:v1:";

// True when `text` is a valid input for the PostgreSQL key type (bigint, integer, smallint,
// uuid, or anything else, taken as text). Used to drop foreign keys before casting them in SQL.
bool valid_key_text(const std::string& key_type, const std::string& text);

// PostgreSQL's epoch (2000-01-01 UTC) in Unix microseconds.
inline constexpr int64_t kPgEpochUnixUs = 946684800LL * 1000000LL;

// A PostgreSQL timestamp (microseconds since 2000-01-01, infinities as INT64_MIN/INT64_MAX) as
// Unix microseconds, the unit of @event_ts and @created_ts in Redis. The infinities stay
// INT64_MIN/INT64_MAX (no finite timestamp comes near them); other values saturate to them.
int64_t pg_to_unix_us(int64_t pg_us);

// What the online store holds for a view's winning row at `now_pg_us` (the batch's one "now"),
// given its event time and the view's ttl, by the shared rule (fstore::add_interval_utc, UTC):
//  - nullopt: nothing (the row is outside the ttl: event_ts < now - ttl, -infinity included);
//  - 0: the key does not expire (no ttl);
//  - otherwise the Unix millisecond of PEXPIREAT: event_ts + ttl (rounded down to the ms).
std::optional<int64_t> redis_expiry_ms(int64_t event_pg_us, const std::optional<Interval>& ttl, int64_t now_pg_us);

// Microseconds of a PostgreSQL interval's time part as the sync reads it (hours, minutes and
// microseconds fields, each from extract()); saturates instead of overflowing.
int64_t interval_time_usecs(int64_t hours, int64_t minutes, int64_t microseconds);

}  // namespace fstore::sync
