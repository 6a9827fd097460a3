#include "token_auth.hpp"

#include <pqxx/pqxx>

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

TokenAuth::TokenAuth(PgPool& pool, Metrics& metrics, std::chrono::milliseconds ttl)
    : pool_(pool), metrics_(metrics), ttl_(ttl) {}

void TokenAuth::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  cache_.clear();
}

void TokenAuth::check(const std::string& token, std::function<void(AuthResult)> done) {
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache_.find(token);
    if (it != cache_.end() && it->second.expires > now) {
      Role role = it->second.role;
      if (role == Role::none) return done(AuthResult{AuthResult::Kind::invalid, role, ""});
      return done(AuthResult{AuthResult::Kind::ok, role, ""});
    }
  }
  ++metrics_.token_lookups;
  bool queued = pool_.submit([this, token, done](pqxx::connection* conn, const std::string& connect_error) {
    if (!conn) return done(AuthResult{AuthResult::Kind::unavailable, Role::none, "PostgreSQL is not reachable: " + connect_error});
    Role role = Role::none;
    try {
      pqxx::work tx(*conn);
      auto r = tx.exec_params("SELECT fstore.lookup_api_token($1)", token);
      tx.commit();
      if (!r.empty() && !r[0][0].is_null()) {
        std::string name = r[0][0].c_str();
        if (name == "writer") role = Role::writer;
        else if (name == "reader") role = Role::reader;
      }
    } catch (const std::exception& e) {
      ++metrics_.pg_errors;
      return done(AuthResult{AuthResult::Kind::unavailable, Role::none, std::string("token lookup failed: ") + e.what()});
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cache_.size() > 10000) cache_.clear();  // bounded: random bad tokens cannot grow memory
      cache_[token] = Entry{role, std::chrono::steady_clock::now() + ttl_};
    }
    done(AuthResult{role == Role::none ? AuthResult::Kind::invalid : AuthResult::Kind::ok, role, ""});
  });
  if (!queued) done(AuthResult{AuthResult::Kind::unavailable, Role::none, "too many requests waiting for PostgreSQL"});
}

}  // namespace fstore::server
