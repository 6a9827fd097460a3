// Bearer tokens: fstore.lookup_api_token($1) gives the role ('reader' | 'writer') or NULL. Answers
// (also "unknown") are cached for --token-cache-ms (2 s), and the cache is dropped whenever the
// registry notifies, so a revocation takes effect within seconds.
#pragma once

#include "metrics.hpp"
#include "pg/pg_pool.hpp"

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace fstore::server {

enum class Role { none, reader, writer };

struct AuthResult {
  enum class Kind { ok, invalid, unavailable } kind;
  Role role = Role::none;
  std::string error;  // for unavailable
};

class TokenAuth {
 public:
  TokenAuth(PgPool& pool, Metrics& metrics, std::chrono::milliseconds ttl);
  // Calls `done` (maybe at once, maybe from a PostgreSQL worker thread) with the token's role.
  void check(const std::string& token, std::function<void(AuthResult)> done);
  void clear();

 private:
  struct Entry {
    Role role;
    std::chrono::steady_clock::time_point expires;
  };
  PgPool& pool_;
  Metrics& metrics_;
  std::chrono::milliseconds ttl_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> cache_;
};

// The token of an "Authorization: Bearer <token>" header; empty when absent or malformed.
std::string bearer_token(std::string_view authorization);

}  // namespace fstore::server
