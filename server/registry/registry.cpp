#include "registry/registry.hpp"

#include <algorithm>
#include <stdexcept>

namespace fstore::server {

namespace {
// A string member of a catalog row, "" when absent or NULL.
std::string str(const nlohmann::json& row, const char* key) {
  auto it = row.find(key);
  if (it == row.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

// An integer member of a catalog row (a JSON number), 0 when absent or NULL.
int64_t integer(const nlohmann::json& row, const char* key) {
  auto it = row.find(key);
  if (it == row.end() || !it->is_number()) return 0;
  return it->is_number_integer() ? it->get<int64_t>() : static_cast<int64_t>(it->get<double>());
}

// The view's ttl as an interval; nullopt when the view has none (NULL or not positive).
std::optional<fstore::Interval> ttl_of(const nlohmann::json& row) {
  auto it = row.find("ttl_months");
  if (it == row.end() || it->is_null()) return std::nullopt;
  fstore::Interval ttl;
  ttl.months = static_cast<int32_t>(integer(row, "ttl_months"));
  ttl.days = static_cast<int32_t>(integer(row, "ttl_days"));
  ttl.usecs = integer(row, "ttl_usecs");
  if (ttl.months <= 0 && ttl.days <= 0 && ttl.usecs <= 0) return std::nullopt;
  return ttl;
}
}  // namespace

const Feature* FeatureView::find(const std::string& feature) const {
  auto it = feature_index.find(feature);
  return it == feature_index.end() ? nullptr : &features[it->second];
}

const FeatureView* Registry::view(const std::string& name) const {
  auto it = views_.find(name);
  return it == views_.end() ? nullptr : &it->second;
}

const FeatureService* Registry::service(const std::string& name) const {
  auto it = services_.find(name);
  return it == services_.end() ? nullptr : &it->second;
}

std::shared_ptr<const Registry> Registry::from_rows(const std::vector<nlohmann::json>& entities,
                                                    const std::vector<nlohmann::json>& views,
                                                    const std::vector<nlohmann::json>& features,
                                                    const std::vector<nlohmann::json>& services) {
  auto reg = std::make_shared<Registry>();
  for (const auto& row : entities) reg->entities_[str(row, "name")] = row;
  for (const auto& row : views) {
    FeatureView v;
    v.name = str(row, "name");
    v.entity = str(row, "entity");
    v.join_key = str(row, "join_key");
    v.key_type = str(row, "key_type");
    if (auto e = reg->entities_.find(v.entity); e != reg->entities_.end()) {
      if (v.join_key.empty()) v.join_key = str(e->second, "join_key");
      if (v.key_type.empty()) v.key_type = str(e->second, "key_type");
    }
    if (v.key_type.empty()) v.key_type = "text";
    if (auto it = row.find("ttl_seconds"); it != row.end() && it->is_number() && it->get<double>() > 0)
      v.ttl_seconds = it->get<double>();
    v.ttl = ttl_of(row);
    if (auto it = row.find("online"); it != row.end() && it->is_boolean()) v.online = it->get<bool>();
    v.metadata = row;
    for (const char* k : {"ttl_seconds", "ttl_months", "ttl_days", "ttl_usecs"}) v.metadata.erase(k);
    if (v.ttl_seconds) v.metadata["ttl_seconds"] = *v.ttl_seconds;
    else v.metadata["ttl_seconds"] = nullptr;
    reg->views_[v.name] = std::move(v);
  }
  std::vector<Feature> all;
  for (const auto& row : features) {
    Feature f;
    f.view = str(row, "view");
    f.name = str(row, "name");
    f.type = str(row, "type");
    f.status = str(row, "status");
    if (f.status.empty()) f.status = "active";
    if (auto it = row.find("position"); it != row.end() && it->is_number_integer()) f.position = it->get<int>();
    f.metadata = row;
    all.push_back(std::move(f));
  }
  std::stable_sort(all.begin(), all.end(), [](const Feature& a, const Feature& b) {
    return a.view != b.view ? a.view < b.view : a.position < b.position;
  });
  for (auto& f : all) {
    auto it = reg->views_.find(f.view);
    if (it == reg->views_.end()) continue;
    it->second.feature_index[f.name] = it->second.features.size();
    it->second.features.push_back(std::move(f));
  }
  for (const auto& row : services) {
    FeatureService s;
    s.name = str(row, "name");
    if (auto it = row.find("features"); it != row.end() && it->is_array())
      for (const auto& ref : *it) if (ref.is_string()) s.features.push_back(ref.get<std::string>());
    s.metadata = row;
    reg->services_[s.name] = std::move(s);
  }
  return reg;
}

}  // namespace fstore::server
