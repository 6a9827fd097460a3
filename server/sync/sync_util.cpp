#include "sync/sync_util.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace fstore::sync {

std::vector<std::string> parse_pg_text_array(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0, n = text.size();
  // Optional dimension decoration "[1:3]=" precedes the braces for non-default lower bounds.
  if (i < n && text[i] == '[') {
    auto eq = text.find('=');
    if (eq == std::string_view::npos) throw std::invalid_argument("malformed array");
    i = eq + 1;
  }
  if (i >= n || text[i] != '{') throw std::invalid_argument("malformed array: no '{'");
  ++i;
  if (i < n && text[i] == '}') return out;
  while (i < n) {
    std::string item;
    bool quoted = false;
    if (text[i] == '"') {
      quoted = true;
      ++i;
      while (i < n && text[i] != '"') {
        if (text[i] == '\\' && i + 1 < n) ++i;
        item.push_back(text[i++]);
      }
      if (i >= n) throw std::invalid_argument("malformed array: unterminated quote");
      ++i;  // closing quote
    } else {
      while (i < n && text[i] != ',' && text[i] != '}') {
        if (text[i] == '\\' && i + 1 < n) ++i;
        item.push_back(text[i++]);
      }
    }
    if (quoted || item != "NULL") out.push_back(std::move(item));
    if (i >= n) throw std::invalid_argument("malformed array: no '}'");
    if (text[i] == '}') return out;
    if (text[i] != ',') throw std::invalid_argument("malformed array: expected ','");
    ++i;
  }
  throw std::invalid_argument("malformed array: no '}'");
}

std::string to_pg_text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  size_t total = 2;
  for (const auto& s : items) total += s.size() + 3;
  out.reserve(total);
  bool first = true;
  for (const auto& s : items) {
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    for (char c : s) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

std::string entity_redis_key(const std::string& view, const std::string& entity_key) {
  std::string k;
  k.reserve(sizeof("fstore:v1:") + view.size() + entity_key.size() + 1);
  k.append(kKeyPrefix).append(view).push_back(':');
  k.append(entity_key);
  return k;
}

bool valid_key_text(const std::string& key_type, const std::string& text) {
  auto is_int = [&](size_t max_digits, long long lo, long long hi) {
    if (text.empty() || text.size() > max_digits + 1) return false;
    size_t i = (text[0] == '-') ? 1 : 0;
    if (i == text.size()) return false;
    for (size_t j = i; j < text.size(); ++j)
      if (!std::isdigit(static_cast<unsigned char>(text[j]))) return false;
    errno = 0;
    long long v = std::strtoll(text.c_str(), nullptr, 10);
    return errno == 0 && v >= lo && v <= hi;
  };
  if (key_type == "bigint") return is_int(19, INT64_MIN, INT64_MAX);
  if (key_type == "integer") return is_int(10, INT32_MIN, INT32_MAX);
  if (key_type == "smallint") return is_int(5, INT16_MIN, INT16_MAX);
  if (key_type == "uuid") {
    if (text.size() != 36) return false;
    for (size_t j = 0; j < 36; ++j) {
      bool dash = (j == 8 || j == 13 || j == 18 || j == 23);
      if (dash ? text[j] != '-' : !std::isxdigit(static_cast<unsigned char>(text[j]))) return false;
    }
    return true;
  }
  return true;
}

int64_t pg_to_unix_us(int64_t pg_us) {
  if (is_infinite(pg_us)) return pg_us;
  if (pg_us > kPlusInfinity - kPgEpochUnixUs) return kPlusInfinity;
  return pg_us + kPgEpochUnixUs;
}

std::optional<int64_t> redis_expiry_ms(int64_t event_pg_us, const std::optional<Interval>& ttl, int64_t now_pg_us) {
  if (!ttl) return 0;
  // The training-set rule at `now`: a row qualifies iff event_ts >= now - ttl.
  if (event_pg_us < add_interval_utc(now_pg_us, *ttl, -1)) return std::nullopt;
  const int64_t expiry = add_interval_utc(event_pg_us, *ttl, 1);
  if (expiry == kPlusInfinity) return 0;  // beyond the calendar: never expires
  const int64_t unix_us = pg_to_unix_us(expiry);
  // Floor division (negative times are long expired, but stay exact).
  int64_t ms = unix_us / 1000;
  if (unix_us % 1000 < 0) --ms;
  return ms <= 0 ? std::nullopt : std::optional<int64_t>(ms);
}

int64_t interval_time_usecs(int64_t hours, int64_t minutes, int64_t microseconds) {
  const __int128 total = static_cast<__int128>(hours) * 3600000000LL + static_cast<__int128>(minutes) * 60000000LL +
                         microseconds;
  if (total >= kPlusInfinity) return kPlusInfinity;
  if (total <= kMinusInfinity) return kMinusInfinity;
  return static_cast<int64_t>(total);
}

}  // namespace fstore::sync
