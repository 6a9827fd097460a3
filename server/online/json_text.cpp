#include "online/json_text.hpp"
#include "time_rule.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdio>
#include <limits>

namespace fstore::server {

void append_json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

// True when `s` is exactly one JSON number (RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?),
// checked by hand: nlohmann's accept converts the number with strtod, which showed in the profile.
static bool is_json_number(std::string_view s) {
  size_t i = 0, n = s.size();
  auto digits = [&] { size_t start = i; while (i < n && s[i] >= '0' && s[i] <= '9') ++i; return i > start; };
  if (i < n && s[i] == '-') ++i;
  if (i < n && s[i] == '0') ++i;
  else if (!(i < n && s[i] >= '1' && s[i] <= '9' && digits())) return false;
  if (i < n && s[i] == '.') { ++i; if (!digits()) return false; }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

void append_json_fragment(std::string& out, std::string_view fragment) {
  // Fast paths for what to_jsonb writes most: plain numbers, true/false/null.
  if (is_json_number(fragment)) {
    out.append(fragment);
    return;
  }
  if (fragment == "null" || fragment == "true" || fragment == "false") {
    out.append(fragment);
    return;
  }
  if (nlohmann::json::accept(fragment)) out.append(fragment);
  else append_json_string(out, fragment);
}


std::string format_timestamp_us(int64_t micros) {
  if (micros == std::numeric_limits<int64_t>::min()) return "-infinity";  // PostgreSQL's spelling
  if (micros == std::numeric_limits<int64_t>::max()) return "infinity";
  int64_t secs = micros / 1000000;
  int64_t frac = micros % 1000000;
  if (frac < 0) { frac += 1000000; --secs; }
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) { rem += 86400; --days; }
  int64_t y;
  unsigned m, d;
  fstore::civil_from_days(days, y, m, d);
  // Digits by hand: this runs once per answered cell, and snprintf's format parsing showed in
  // the profile (issue 18). Years outside 0..9999 keep the printf form (%04lld).
  char buf[64];
  char* p = buf;
  auto two = [&p](unsigned v) { *p++ = static_cast<char>('0' + v / 10); *p++ = static_cast<char>('0' + v % 10); };
  if (y >= 0 && y <= 9999) {
    two(static_cast<unsigned>(y / 100));
    two(static_cast<unsigned>(y % 100));
  } else {
    p += std::snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(y));
  }
  *p++ = '-'; two(m); *p++ = '-'; two(d); *p++ = 'T';
  two(static_cast<unsigned>(rem / 3600)); *p++ = ':';
  two(static_cast<unsigned>(rem / 60 % 60)); *p++ = ':';
  two(static_cast<unsigned>(rem % 60));
  if (frac) {
    *p++ = '.';
    for (int64_t div = 100000; div > 0; div /= 10) *p++ = static_cast<char>('0' + frac / div % 10);
  }
  *p++ = 'Z';
  return std::string(buf, static_cast<size_t>(p - buf));
}

bool parse_int64(std::string_view s, int64_t& out) {
  if (s.empty()) return false;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  if (*b == '+') ++b;
  if (b == e || (*b == '-' && b != s.data())) return false;
  auto [p, ec] = std::from_chars(b, e, out);
  return ec == std::errc() && p == e;
}

}  // namespace fstore::server
