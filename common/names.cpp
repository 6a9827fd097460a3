#include "names.hpp"

namespace fstore {

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!letter(name[0])) return false;
  for (char c : name)
    if (!letter(c) && !(c >= '0' && c <= '9')) return false;
  return true;
}

std::optional<FeatureRef> parse_feature_ref(std::string_view ref) {
  size_t colon = ref.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view view = ref.substr(0, colon);
  std::string_view feature = ref.substr(colon + 1);
  if (!is_valid_name(view)) return std::nullopt;
  if (feature != "*" && !is_valid_name(feature)) return std::nullopt;
  return FeatureRef{std::string(view), std::string(feature)};
}

}  // namespace fstore
