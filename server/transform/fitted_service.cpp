#include "transform/fitted_service.hpp"

#include <charconv>
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
  // Fast paths for what to_jsonb writes most (a plain number, a string without escapes), with the
  // same results as the general path below.
  if (as_number && !text.empty() && (text[0] == '-' || (text[0] >= '0' && text[0] <= '9'))) {
    std::string s(text);
    if (sql_type == "real") return transform::Value::of(static_cast<double>(std::strtof(s.c_str(), nullptr)));
    return transform::Value::of(std::strtod(s.c_str(), nullptr));
  }
  if (!as_number && text.size() >= 2 && text.front() == '"' && text.back() == '"' &&
      text.find('\\') == std::string_view::npos)
    return transform::Value::of(std::string(text.substr(1, text.size() - 2)));
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

std::vector<TransformedColumn> transform_online_values(const transform::State& state, const std::string& view,
                                                       const std::string& sql_type, bool full_feature_names,
                                                       const std::vector<std::optional<std::string_view>>& values) {
  std::vector<TransformedColumn> out;
  for (const auto& c : state.output_columns()) {
    std::string name = full_feature_names ? view + "__" + c.name : c.name;
    if (name.size() > 63) name.resize(63);  // names are ASCII: bytes are characters
    out.push_back({std::move(name), c.type, std::vector<transform::Cell>(values.size())});
  }
  const bool as_number = state.spec.kind != transform::Kind::Label && state.spec.kind != transform::Kind::OneHot;
  std::vector<transform::Cell> row(out.size());
  for (size_t r = 0; r < values.size(); ++r) {
    transform::Value in = values[r] ? input_from_json_text(*values[r], sql_type, as_number) : transform::Value::null();
    transform::apply(state, in, row.data());
    for (size_t k = 0; k < out.size(); ++k) out[k].cells[r] = row[k];
  }
  return out;
}

void append_cell_json(std::string& out, transform::ColumnType type, const transform::Cell& cell) {
  if (cell.null) {
    out += "null";
  } else {
    // The shortest text that reads back as the same double (std::to_chars); integers exactly.
    char buf[32];
    auto res = type == transform::ColumnType::Float8
                   ? std::to_chars(buf, buf + sizeof buf, cell.value)
                   : std::to_chars(buf, buf + sizeof buf, static_cast<long long>(cell.value));
    out.append(buf, res.ptr);
  }
}

void FittedServiceCache::retain(const std::shared_ptr<const void>& generation) {
  if (generation != generation_) {
    entries_.clear();
    generation_ = generation;
  }
}

std::shared_ptr<const FittedService> FittedServiceCache::find(const std::shared_ptr<const void>& generation, const std::string& service,
                                                              const std::string& transform) {
  std::lock_guard<std::mutex> lock(mutex_);
  retain(generation);
  auto it = entries_.find({service, transform});
  return it == entries_.end() ? nullptr : it->second;
}

void FittedServiceCache::put(const std::shared_ptr<const void>& generation, const std::string& service, const std::string& transform,
                             std::shared_ptr<const FittedService> fitted) {
  std::lock_guard<std::mutex> lock(mutex_);
  retain(generation);
  entries_[{service, transform}] = std::move(fitted);
}

}  // namespace fstore::online
