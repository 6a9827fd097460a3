// Fitted transformations of feature services, in fstore-server: the states of
// fstore.transform_versions parsed once into common/transform.hpp's States, and feature values
// as they come from Redis (JSON text) turned into transformation inputs exactly as the extension
// turns SQL values into them (extension/transform_values.cpp), so both sides apply the same code
// to the same inputs.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "transform.hpp"

namespace fstore::online {

// One stored version of a service's transformations.
struct FittedService {
  int version = 0;
  std::map<std::string, transform::State> states;  // by feature reference "view:feature"
};

// Parses a state column of fstore.transform_versions ({"view:feature": state, ...}); throws
// transform::SpecError when malformed.
FittedService parse_fitted_service(int version, const std::string& state_json);

// True when a feature of SQL type `sql_type` (format_type's spelling) is read as a number by the
// numeric kinds.
bool numeric_sql_type(const std::string& sql_type);

// A feature value as Redis holds it (the JSON text of to_jsonb) as a transformation input:
// numbers as doubles (a `real` through float, as PostgreSQL widens it), categories as text
// (integers in decimal, booleans "true"/"false"); JSON null, and anything unparsable, is NULL.
transform::Value input_from_json_text(std::string_view json_text, const std::string& sql_type, bool as_number);

// The fitted services a server applies, loaded on demand from PostgreSQL and kept until the
// registry changes. An entry is complete or absent: a reader never sees half a load.
class FittedServiceCache {
 public:
  // Loads (service, transform) -> the fitted service; throws on errors (the caller maps them).
  using Loader = std::function<FittedService(const std::string& service, const std::string& transform)>;
  explicit FittedServiceCache(Loader loader) : loader_(std::move(loader)) {}
  // The fitted service that `transform` ('latest' or a version number) names for `service`.
  std::shared_ptr<const FittedService> get(const std::string& service, const std::string& transform);
  // Forgets everything (called when the registry's version moved).
  void clear();
 private:
  Loader loader_;
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const FittedService>> entries_;
};

}  // namespace fstore::online
