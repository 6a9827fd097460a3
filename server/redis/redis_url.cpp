#include "redis/redis_url.hpp"

#include <charconv>
#include <stdexcept>

namespace fstore::server {

namespace {

// A decimal number within [lo, hi], nothing else; false otherwise.
bool parse_bounded(const std::string& text, long lo, long hi, int& out) {
  long v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v < lo || v > hi) return false;
  out = static_cast<int>(v);
  return true;
}

// Percent-decodes `in` into `out`; false on a '%' not followed by two hex digits.
bool percent_decode(const std::string& in, std::string& out) {
  out.clear();
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') { out.push_back(in[i]); continue; }
    if (i + 2 >= in.size()) return false;
    int a = hex(in[i + 1]), b = hex(in[i + 2]);
    if (a < 0 || b < 0) return false;
    out.push_back(static_cast<char>(a * 16 + b));
    i += 2;
  }
  return true;
}

bool fail(std::string* error, const std::string& why) {
  if (error) *error = why;
  return false;
}

// Parses host[:port] (the host may be an IPv6 address in brackets) into `host` and `port`.
bool parse_host_port(std::string rest, std::string& host, int& port, std::string* error) {
  size_t host_end = 0;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    host_end = rest.find(']');
    if (host_end == std::string::npos) return fail(error, "unclosed '[' in the host");
  }
  if (auto colon = rest.find(':', host_end); colon != std::string::npos) {
    std::string p = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!parse_bounded(p, 1, 65535, port)) return fail(error, "bad port '" + p + "'");
  }
  if (rest.size() >= 2 && rest.front() == '[' && rest.back() == ']') rest = rest.substr(1, rest.size() - 2);
  if (rest.empty()) return fail(error, "no host");
  if (rest.find_first_of("[]@/ ,") != std::string::npos) return fail(error, "bad host '" + rest + "'");
  host = rest;
  return true;
}

// Splits "?cacert=A&cert=B&key=C" (without the '?') into the TLS settings of `ep`.
bool parse_tls_query(const std::string& query, RedisEndpoint& ep, std::string* error) {
  size_t start = 0;
  while (start <= query.size()) {
    auto amp = query.find('&', start);
    std::string item = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    auto eq = item.find('=');
    std::string key = item.substr(0, eq), value;
    if (eq == std::string::npos || !percent_decode(item.substr(eq + 1), value) || value.empty())
      return fail(error, "bad query item '" + item + "' (expected cacert=FILE, cert=FILE or key=FILE)");
    if (key == "cacert") ep.tls_ca = value;
    else if (key == "cert") ep.tls_cert = value;
    else if (key == "key") ep.tls_key = value;
    else return fail(error, "unknown query key '" + key + "' (expected cacert, cert or key)");
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  if (ep.tls_cert.empty() != ep.tls_key.empty()) return fail(error, "a client certificate needs both cert= and key=");
  return true;
}

}  // namespace

bool parse_redis_url(const std::string& url, RedisEndpoint& out, std::string* error) {
  RedisEndpoint ep;
  std::string rest = url;
  auto has_scheme = [&rest](const std::string& scheme) {
    if (rest.compare(0, scheme.size(), scheme) != 0) return false;
    rest = rest.substr(scheme.size());
    return true;
  };
  if (has_scheme("redis://")) {}
  else if (has_scheme("rediss://")) ep.tls = true;
  else if (has_scheme("redis+cluster://")) ep.cluster = true;
  else if (has_scheme("rediss+cluster://")) ep.cluster = ep.tls = true;
  else if (rest.find("://") != std::string::npos)
    return fail(error, "unsupported scheme (expected redis://, rediss://, redis+cluster:// or rediss+cluster://)");
  // The query starts at the first '?' (a '?' in a password is %3F).
  if (auto q = rest.find('?'); q != std::string::npos) {
    if (!ep.tls) return fail(error, "query strings are only for rediss:// (TLS settings)");
    if (!parse_tls_query(rest.substr(q + 1), ep, error)) return false;
    rest = rest.substr(0, q);
  }
  // The credentials end at the last '@', so a password may hold '/' or '@' even unencoded.
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    std::string cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = cred.find(':');
    std::string user = colon == std::string::npos ? std::string() : cred.substr(0, colon);
    std::string password = colon == std::string::npos ? cred : cred.substr(colon + 1);
    if (!percent_decode(user, ep.user) || !percent_decode(password, ep.password))
      return fail(error, "malformed %XX escape in the credentials");
    if (ep.password.empty() && !ep.user.empty()) return fail(error, "a user without a password");
  }
  if (rest.find('#') != std::string::npos) return fail(error, "fragments are not supported");
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    std::string db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty() && !parse_bounded(db, 0, 1000000, ep.db)) return fail(error, "bad database number '" + db + "'");
    if (ep.cluster && ep.db != 0) return fail(error, "a Redis Cluster has only database 0");
  }
  if (!ep.cluster) {
    if (!parse_host_port(rest, ep.host, ep.port, error)) return false;
  } else {
    size_t start = 0;
    while (true) {
      auto comma = rest.find(',', start);
      std::pair<std::string, int> seed{"", 6379};
      if (!parse_host_port(rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start),
                           seed.first, seed.second, error))
        return false;
      ep.seeds.push_back(seed);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    ep.host = ep.seeds.front().first;
    ep.port = ep.seeds.front().second;
  }
  out = ep;
  return true;
}

RedisEndpoint parse_redis_url(const std::string& url) {
  RedisEndpoint ep;
  std::string error;
  if (!parse_redis_url(url, ep, &error)) throw std::invalid_argument("bad Redis URL: " + error);
  return ep;
}

}  // namespace fstore::server
