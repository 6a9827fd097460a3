// Names and feature references, shared by the extension and the server (no PostgreSQL headers).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fstore {

// Longest name fstore accepts: PostgreSQL's identifier limit (NAMEDATALEN - 1).
constexpr size_t kMaxNameLength = 63;

// True when `name` may name an entity, feature view, feature or service:
// ^[A-Za-z_][A-Za-z0-9_]{0,62}$. Anything else (quotes, dots, spaces, colons) is refused,
// so names are safe in SQL identifiers, Redis keys and feature references alike.
bool is_valid_name(std::string_view name);

// A parsed feature reference "view:feature" (feature may be "*").
struct FeatureRef {
  std::string view;
  std::string feature;
};

// Parses "view:feature" or "view:*"; nullopt when malformed or a name is invalid.
std::optional<FeatureRef> parse_feature_ref(std::string_view ref);

}  // namespace fstore
