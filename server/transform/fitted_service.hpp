// Fitted transformations of feature services, in fstore-server: the states of
// fstore.transform_versions parsed once into common/transform.hpp's States, and feature values
// as they come from Redis (JSON text) turned into transformation inputs exactly as the extension
// turns SQL values into them (extension/transform_values.cpp), so both sides apply the same code
// to the same inputs.
#pragma once

#include <optional>
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

// One output column of a transformed feature, for every entity row of an online request.
struct TransformedColumn {
  std::string name;                    // as a training set names it (full_feature_names prefix included)
  transform::ColumnType type;
  std::vector<transform::Cell> cells;  // one per entity row
};

// Applies `state` to one feature's online values (the JSON text of each row's value; nullopt for
// rows without a usable value: NULL, not found, outside the ttl, which a training set also sees
// as NULL). `view` prefixes the column names under full_feature_names, cut at 63 bytes as
// PostgreSQL cuts them. Throws transform::UnknownCategory where the spec says so.
std::vector<TransformedColumn> transform_online_values(const transform::State& state, const std::string& view,
                                                       const std::string& sql_type, bool full_feature_names,
                                                       const std::vector<std::optional<std::string_view>>& values);

// A transformed cell as JSON: null, an integer for the integer columns, else the double in its
// shortest form that reads back as the same double.
void append_cell_json(std::string& out, transform::ColumnType type, const transform::Cell& cell);

// The fitted services a server applies, kept for one registry snapshot: entries are complete or
// absent (a reader never sees half a load), and all go when the registry changes.
class FittedServiceCache {
 public:
  // The entry for (service, transform) under registry snapshot `generation`, or nullptr.
  std::shared_ptr<const FittedService> find(const std::shared_ptr<const void>& generation, const std::string& service,
                                            const std::string& transform);
  void put(const std::shared_ptr<const void>& generation, const std::string& service, const std::string& transform,
           std::shared_ptr<const FittedService> fitted);
 private:
  void retain(const std::shared_ptr<const void>& generation);  // forgets everything of an older snapshot
  std::mutex mutex_;
  std::shared_ptr<const void> generation_;  // held, so its address is never reused by a newer snapshot
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const FittedService>> entries_;
};

}  // namespace fstore::online
