#include "sync/sync_util.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace fstore::sync {

RedisEndpoint parse_redis_url(const std::string& url) {
  RedisEndpoint ep;
  std::string rest = url;
  const std::string scheme = "redis://";
  if (rest.compare(0, scheme.size(), scheme) == 0) rest = rest.substr(scheme.size());
  else if (rest.find("://") != std::string::npos) throw std::invalid_argument("unsupported Redis URL scheme: " + url);
  auto at = rest.rfind('@');
  if (at != std::string::npos) {
    std::string cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = cred.find(':');
    if (colon == std::string::npos) ep.password = cred;
    else { ep.user = cred.substr(0, colon); ep.password = cred.substr(colon + 1); }
  }
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    std::string db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      char* end = nullptr;
      long n = std::strtol(db.c_str(), &end, 10);
      if (*end || n < 0 || n > 1000000) throw std::invalid_argument("bad Redis database number in " + url);
      ep.db = static_cast<int>(n);
    }
  }
  size_t host_end = 0;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    host_end = rest.find(']');
    if (host_end == std::string::npos) throw std::invalid_argument("bad Redis host in " + url);
  }
  auto colon = rest.find(':', host_end);
  if (colon != std::string::npos) {
    std::string port = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    char* end = nullptr;
    long n = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end || n <= 0 || n > 65535) throw std::invalid_argument("bad Redis port in " + url);
    ep.port = static_cast<int>(n);
  }
  if (rest.size() >= 2 && rest.front() == '[' && rest.back() == ']') rest = rest.substr(1, rest.size() - 2);
  if (!rest.empty()) ep.host = rest;
  return ep;
}

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

}  // namespace fstore::sync
