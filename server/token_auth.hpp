// Bearer tokens: fstore.lookup_api_token($1) gives the role ('reader' | 'writer' | 'admin') or NULL.
// Answers, known and unknown alike, are cached for --token-cache-ms (2 s): an unknown token
// costs one PostgreSQL lookup per cache period, however often it is sent, and concurrent
// requests with one uncached token share one lookup. The cache holds no tokens: it is keyed by
// the token's SHA-256, compared in constant time (CRYPTO_memcmp), and holds at most
// kMaxEntries entries (oldest dropped first). It is dropped when the registry changes.
#pragma once

#include "metrics.hpp"
#include "pg/pg_pool.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fstore::server {

enum class Role { none, reader, writer, admin };  // admin: writer + registry changes (0.2.0)

struct AuthResult {
  enum class Kind { ok, invalid, unavailable } kind;
  Role role = Role::none;
  std::string error;  // for unavailable
};

// SHA-256 of a token.
using TokenDigest = std::array<unsigned char, 32>;
TokenDigest token_digest(std::string_view token);

class TokenAuth {
 public:
  static constexpr size_t kMaxEntries = 10000;

  TokenAuth(PgPool& pool, Metrics& metrics, std::chrono::milliseconds ttl);
  // Calls `done` (maybe at once, maybe from a PostgreSQL worker thread) with the token's role.
  void check(const std::string& token, std::function<void(AuthResult)> done);
  void clear();
  // Cached entries (for tests and /metrics).
  size_t cached() const;

 private:
  struct DigestHash {
    size_t operator()(const TokenDigest& d) const;
  };
  struct DigestEqual {  // constant time
    bool operator()(const TokenDigest& a, const TokenDigest& b) const;
  };
  struct Entry {
    Role role;
    std::chrono::steady_clock::time_point expires;
  };
  using Waiters = std::vector<std::function<void(AuthResult)>>;
  void finish(const TokenDigest& digest, AuthResult result, uint64_t generation);

  PgPool& pool_;
  Metrics& metrics_;
  std::chrono::milliseconds ttl_;
  mutable std::mutex mutex_;
  std::unordered_map<TokenDigest, Entry, DigestHash, DigestEqual> cache_;
  std::deque<TokenDigest> order_;  // insertion order, for eviction
  std::unordered_map<TokenDigest, Waiters, DigestHash, DigestEqual> in_flight_;
  uint64_t generation_ = 0;  // bumped by clear(): lookups started before do not fill the cache
};

// The token of an "Authorization: Bearer <token>" header; empty when absent or malformed.
std::string bearer_token(std::string_view authorization);

}  // namespace fstore::server
