#include "token_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <pqxx/pqxx>

#include <cstring>

namespace fstore::server {

std::string bearer_token(std::string_view h) {
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
  if (h.size() < 7) return "";
  std::string scheme(h.substr(0, 6));
  for (auto& c : scheme) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  if (scheme != "bearer" || (h[6] != ' ' && h[6] != '\t')) return "";
  h.remove_prefix(7);
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
  if (h.empty() || h.size() > 512) return "";
  for (char c : h) if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return "";
  return std::string(h);
}

TokenDigest token_digest(std::string_view token) {
  TokenDigest d{};
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d.data());
  return d;
}

// The digest is already uniformly distributed: its first bytes are a good hash.
size_t TokenAuth::DigestHash::operator()(const TokenDigest& d) const {
  size_t h;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

bool TokenAuth::DigestEqual::operator()(const TokenDigest& a, const TokenDigest& b) const {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

TokenAuth::TokenAuth(PgPool& pool, Metrics& metrics, std::chrono::milliseconds ttl)
    : pool_(pool), metrics_(metrics), ttl_(ttl) {}

void TokenAuth::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  cache_.clear();
  order_.clear();
  ++generation_;
}

size_t TokenAuth::cached() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cache_.size();
}

// Completes every request waiting for `digest`; caches the answer when the lookup started in the
// current cache generation (a clear() meanwhile means the answer may be stale).
void TokenAuth::finish(const TokenDigest& digest, AuthResult result, uint64_t generation) {
  Waiters waiters;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = in_flight_.find(digest); it != in_flight_.end()) {
      waiters = std::move(it->second);
      in_flight_.erase(it);
    }
    bool cacheable = result.kind != AuthResult::Kind::unavailable && generation == generation_ && ttl_.count() > 0;
    if (cacheable) {
      // Bounded: the oldest entries go first, so random bad tokens cannot grow memory.
      while (!order_.empty() && cache_.size() >= kMaxEntries) {
        cache_.erase(order_.front());
        order_.pop_front();
      }
      auto entry = Entry{result.role, std::chrono::steady_clock::now() + ttl_};
      if (cache_.insert_or_assign(digest, entry).second) order_.push_back(digest);
    }
  }
  for (auto& w : waiters) w(result);
}

// The role named by fstore.lookup_api_token's answer.
static Role role_of(const pqxx::result& r) {
  if (r.empty() || r[0][0].is_null()) return Role::none;
  std::string name = r[0][0].c_str();
  if (name == "admin") return Role::admin;
  if (name == "writer") return Role::writer;
  if (name == "reader") return Role::reader;
  return Role::none;
}

void TokenAuth::check(const std::string& token, std::function<void(AuthResult)> done) {
  TokenDigest digest = token_digest(token);
  uint64_t generation;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    auto it = cache_.find(digest);
    if (it != cache_.end() && it->second.expires > std::chrono::steady_clock::now()) {
      Role role = it->second.role;
      lock.unlock();
      return done(AuthResult{role == Role::none ? AuthResult::Kind::invalid : AuthResult::Kind::ok, role, ""});
    }
    // Someone is already asking PostgreSQL about this token: wait for that answer.
    auto [waiting, first] = in_flight_.try_emplace(digest);
    waiting->second.push_back(std::move(done));
    if (!first) return;
    generation = generation_;
  }
  ++metrics_.token_lookups;
  bool queued = pool_.submit_read(
      [this, token, digest, generation](pqxx::connection& conn) {
        Role role;
        try {
          pqxx::read_transaction tx(conn);
          role = role_of(tx.exec_params("SELECT fstore.lookup_api_token($1)", token));
          tx.commit();
        } catch (const pqxx::broken_connection&) {
          throw;  // the pool reconnects and asks once more
        } catch (const std::exception& e) {
          ++metrics_.pg_errors;
          return finish(digest, AuthResult{AuthResult::Kind::unavailable, Role::none,
                                           std::string("token lookup failed: ") + e.what()}, generation);
        }
        finish(digest, AuthResult{role == Role::none ? AuthResult::Kind::invalid : AuthResult::Kind::ok, role, ""},
               generation);
      },
      [this, digest, generation](const std::string& error) {
        finish(digest, AuthResult{AuthResult::Kind::unavailable, Role::none, error}, generation);
      });
  if (!queued)
    finish(digest, AuthResult{AuthResult::Kind::unavailable, Role::none, "too many requests waiting for PostgreSQL"},
           generation);
}

}  // namespace fstore::server
