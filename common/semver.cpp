#include "semver.hpp"

#include <charconv>

namespace fstore {

std::string SemVer::str() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::optional<SemVer> parse_semver(std::string_view text) {
  SemVer v;
  long* parts[] = {&v.major, &v.minor, &v.patch};
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 3; ++i) {
    auto [next, ec] = std::from_chars(p, end, *parts[i]);
    if (ec != std::errc() || next == p || *parts[i] < 0) return std::nullopt;
    p = next;
    if (i < 2) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
  }
  if (p != end) return std::nullopt;
  return v;
}

SemVer bump(SemVer v, VersionBump part) {
  switch (part) {
    case VersionBump::Major: return {v.major + 1, 0, 0};
    case VersionBump::Minor: return {v.major, v.minor + 1, 0};
    case VersionBump::Patch: return {v.major, v.minor, v.patch + 1};
  }
  return v;
}

}  // namespace fstore
