// Small pure helpers of the sync worker (no PostgreSQL or Redis connection needed), unit-tested in
// tests/unit/sync_util_test.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fstore::sync {

// Where and how to reach Redis: redis://[[user]:password@]host[:port][/db] or host[:port].
struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;
  std::string password;
  int db = 0;
};

// Parses a Redis URL; throws std::invalid_argument on a malformed one.
RedisEndpoint parse_redis_url(const std::string& url);

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

}  // namespace fstore::sync
