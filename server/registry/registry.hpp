// The registry as the server sees it: an immutable snapshot of entities, feature views, features
// and feature services read from fstore's catalog views. A new snapshot replaces the old one on
// every reload; requests keep the snapshot they started with.
#pragma once

#include "time_rule.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace fstore::server {

struct Feature {
  std::string view;
  std::string name;
  std::string type;        // regtype text form: 'double precision', 'bigint', ...
  std::string status;      // draft | active | deprecated | archived
  int position = 0;
  nlohmann::json metadata; // the catalog row as JSON (every column of fstore.features)
  // Its serving-quality counters (online/answer_counters.hpp); set once by AnswerCounters::index
  // before the snapshot is published, read-only after.
  static constexpr uint32_t kNoSlot = UINT32_MAX;
  mutable uint32_t answer_slot = kNoSlot;
};

struct FeatureView {
  std::string name;
  std::string entity;
  std::string join_key;
  std::string key_type;    // regtype text form of the join key: bigint, integer, text, uuid
  std::optional<double> ttl_seconds;      // for metadata only (extract(epoch from ttl))
  std::optional<fstore::Interval> ttl;    // the rule: OUTSIDE_MAX_AGE through fstore::add_interval_utc
  bool online = true;
  std::vector<Feature> features;                       // in column order
  std::unordered_map<std::string, size_t> feature_index;
  nlohmann::json metadata; // the catalog row as JSON

  const Feature* find(const std::string& feature) const;
};

struct FeatureService {
  std::string name;
  std::vector<std::string> features;  // references view:feature
  nlohmann::json metadata;
};

class Registry {
 public:
  // Builds a snapshot from catalog rows as JSON objects (one per row of fstore.entities,
  // fstore.feature_views, fstore.features, fstore.feature_services). A view row's ttl comes as
  // ttl_months, ttl_days, ttl_usecs (PostgreSQL's interval fields) and ttl_seconds (metadata).
  // Throws on malformed rows.
  static std::shared_ptr<const Registry> from_rows(const std::vector<nlohmann::json>& entities,
                                                   const std::vector<nlohmann::json>& views,
                                                   const std::vector<nlohmann::json>& features,
                                                   const std::vector<nlohmann::json>& services);

  const FeatureView* view(const std::string& name) const;
  const FeatureService* service(const std::string& name) const;
  const std::map<std::string, FeatureView>& views() const { return views_; }
  const std::map<std::string, FeatureService>& services() const { return services_; }
  const std::map<std::string, nlohmann::json>& entities() const { return entities_; }

 private:
  std::map<std::string, FeatureView> views_;
  std::map<std::string, FeatureService> services_;
  std::map<std::string, nlohmann::json> entities_;
};

}  // namespace fstore::server
