#include "transform/fitted_service.hpp"

#include <cmath>
#include <cstdlib>

#include <nlohmann/json.hpp>

namespace fstore::online {

FittedService parse_fitted_service(int version, const std::string& state_json) {
  FittedService fitted;
  fitted.version = version;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(state_json);
  } catch (const nlohmann::json::exception& e) {
    throw transform::SpecError(std::string("malformed transformation state: ") + e.what());
  }
  if (!j.is_object()) throw transform::SpecError("malformed transformation state: not an object");
  for (const auto& [ref, state] : j.items()) fitted.states.emplace(ref, transform::state_from_json(state));
  return fitted;
}

bool numeric_sql_type(const std::string& t) {
  return t == "smallint" || t == "integer" || t == "bigint" || t == "real" || t == "double precision" ||
         t == "numeric";
}

transform::Value input_from_json_text(std::string_view text, const std::string& sql_type, bool as_number) {
  nlohmann::json v = nlohmann::json::parse(text, nullptr, false);
  if (v.is_discarded() || v.is_null()) return transform::Value::null();
  if (as_number) {
    if (!v.is_number()) return transform::Value::null();  // "NaN", "Infinity": not data
    if (sql_type == "real") {
      // PostgreSQL widens the float4 itself; its shortest text parsed as a double would differ.
      std::string s(text);
      return transform::Value::of(static_cast<double>(std::strtof(s.c_str(), nullptr)));
    }
    if ((sql_type == "smallint" || sql_type == "integer" || sql_type == "bigint") && v.is_number_integer())
      return transform::Value::of(static_cast<double>(v.get<int64_t>()));
    // double precision and numeric: the decimal text, correctly rounded (strtod, as float8in).
    return transform::Value::of(std::strtod(std::string(text).c_str(), nullptr));
  }
  if (v.is_boolean()) return transform::Value::of(std::string(v.get<bool>() ? "true" : "false"));
  if (v.is_number_integer()) return transform::Value::of(std::to_string(v.get<int64_t>()));
  if (v.is_string()) return transform::Value::of(v.get<std::string>());
  return transform::Value::of(v.dump());
}

std::shared_ptr<const FittedService> FittedServiceCache::get(const std::string& service, const std::string& transform) {
  const auto key = std::make_pair(service, transform);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) return it->second;
  }
  // Loaded outside the lock; a concurrent load of the same key is harmless (states are immutable).
  auto fitted = std::make_shared<const FittedService>(loader_(service, transform));
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.emplace(key, fitted).first->second;
}

void FittedServiceCache::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.clear();
}

}  // namespace fstore::online
