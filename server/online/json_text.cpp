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

void append_json_fragment(std::string& out, std::string_view fragment) {
  // Fast paths for what to_jsonb writes most: plain numbers, true/false/null.
  bool simple = !fragment.empty();
  for (char c : fragment)
    if (!((c >= '0' && c <= '9') || c == '-' || c == '.' || c == 'e' || c == 'E' || c == '+')) { simple = false; break; }
  if (simple && (fragment[0] == '-' || (fragment[0] >= '0' && fragment[0] <= '9')) &&
      nlohmann::json::accept(fragment)) {
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
