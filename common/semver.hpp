// Semantic versions of feature views (major.minor.patch), shared by the extension and the server.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fstore {

struct SemVer {
  long major = 0, minor = 0, patch = 0;
  std::string str() const;
};

enum class VersionBump { Major, Minor, Patch };

// Parses "M.m.p" with non-negative integers; nullopt otherwise.
std::optional<SemVer> parse_semver(std::string_view text);

// The next version after `v`: a major bump resets minor and patch, a minor bump resets patch.
SemVer bump(SemVer v, VersionBump part);

}  // namespace fstore
