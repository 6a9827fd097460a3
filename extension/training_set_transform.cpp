// Transformations in training sets (create_training_set(..., transform)): 'fit' fits every
// transformation of the feature service on this training set's own joined values, stores the
// state as the service's next version and writes transformed columns; 'latest' or a version
// number applies a stored state. The fitting and applying code is common/transform.cpp, the same
// that fstore-server runs for online answers.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "transform.hpp"
#include "transform_values.hpp"
#include "names.hpp"
#include "spi_query.hpp"
#include "training_set.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"
}

namespace fstore::training {
namespace {

// The output name of a transformed column: the state's column (named after the plain feature
// name), prefixed with "<view>__" under full_feature_names, cut as CREATE TABLE cuts names.
std::string output_column(const FeaturePlan& f, const std::string& column, bool full_names) {
  std::string name = full_names ? f.view + "__" + column : column;
  if (name.size() < NAMEDATALEN) return name;
  int len = pg_guard([&] { return pg_mbcliplen(name.c_str(), static_cast<int>(name.size()), NAMEDATALEN - 1); });
  return name.substr(0, static_cast<size_t>(len));
}

Oid column_type_oid(transform::ColumnType t) {
  switch (t) {
    case transform::ColumnType::Float8: return FLOAT8OID;
    case transform::ColumnType::Int8: return INT8OID;
    default: return INT4OID;
  }
}

Datum cell_datum(transform::ColumnType t, double v) {
  switch (t) {
    case transform::ColumnType::Float8: return Float8GetDatum(v);
    case transform::ColumnType::Int8: return Int64GetDatum(static_cast<int64>(v));
    default: return Int32GetDatum(static_cast<int32>(v));
  }
}

bool numeric_kind(transform::Kind k) { return k != transform::Kind::Label && k != transform::Kind::OneHot; }

std::string ref_of(const FeaturePlan& f) { return f.view + ":" + f.name; }

}  // namespace

TransformPlan plan_transforms(const std::optional<std::string>& service, const std::optional<std::string>& transform) {
  TransformPlan plan;
  if (!transform) return plan;
  if (!service)
    throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "transform needs a feature_service",
                "", "Transformations belong to a feature service: pass feature_service => ...");
  plan.service = *service;
  if (*transform == "fit") {
    plan.mode = TransformPlan::Mode::Fit;
    auto rows = spi_query("SELECT transforms::text FROM fstore.feature_services WHERE name = $1", {service});
    if (rows.empty()) throw Error(ERRCODE_UNDEFINED_OBJECT, "feature service \"" + *service + "\" does not exist");
    plan.specs_text = rows[0][0].value_or("{}");
    nlohmann::json specs = nlohmann::json::parse(plan.specs_text);
    if (specs.empty())
      throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "feature service \"" + *service + "\" has no transformations to fit",
                  "", "Set them with fstore.set_transforms.");
    for (const auto& [ref, spec] : specs.items()) {
      // Specs were checked by set_transforms against the types; numeric-ness follows the kind.
      const std::string kind = spec.at("kind").get<std::string>();
      plan.specs.emplace(ref, transform::parse_spec(spec, kind != "label" && kind != "onehot"));
    }
    return plan;
  }
  plan.mode = TransformPlan::Mode::Apply;
  auto rows = spi_query("SELECT version::text, state::text FROM fstore._transform_state($1, $2)", {service, transform});
  plan.version = std::stoi(*rows.at(0)[0]);
  const nlohmann::json stored = nlohmann::json::parse(*rows[0][1]);  // named: items() refers to it
  for (const auto& [ref, state] : stored.items()) plan.states.emplace(ref, transform::state_from_json(state));
  return plan;
}

void apply_transforms(TransformPlan& plan, const std::string& entity_rows, size_t rows, bool full_names,
                      std::vector<FeaturePlan>& features, FeatureValues& values, MemoryContext engine) {
  if (plan.mode == TransformPlan::Mode::None) return;
  // Fit: one Fitter per transformed feature over the joined column, then store the version.
  if (plan.mode == TransformPlan::Mode::Fit) {
    nlohmann::json stored = nlohmann::json::object();
    for (size_t c = 0; c < features.size(); ++c) {
      auto spec = plan.specs.find(ref_of(features[c]));
      if (spec == plan.specs.end()) continue;
      const bool as_number = numeric_kind(spec->second.kind);
      transform::Fitter fitter(spec->second, features[c].name);
      for (size_t r = 0; r < rows; ++r) {
        if ((r % kInterruptEvery) == 0) pg_guard([] { CHECK_FOR_INTERRUPTS(); });
        size_t cell = r * values.width + c;
        fitter.add(transform_input(values.values[cell], values.nulls[cell], features[c].type, as_number));
      }
      try {
        transform::State state = fitter.finish();
        stored[spec->first] = transform::state_to_json(state);
        plan.states.emplace(spec->first, std::move(state));
      } catch (const transform::SpecError& e) {
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "cannot fit the transformation of " + spec->first + ": " + e.what());
      }
    }
    auto v = spi_query("SELECT fstore._store_transform_version($1, $2::jsonb, $3, $4::bigint, $5::jsonb)::text",
                       {plan.service, stored.dump(), entity_rows, std::to_string(rows), plan.specs_text});
    plan.version = std::stoi(*v.at(0)[0]);
  }
  for (const auto& [ref, state] : plan.states) {
    bool present = false;
    for (const auto& f : features) present = present || ref_of(f) == ref;
    if (!present)
      throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "transform version " + std::to_string(plan.version) +
                                                       " has a state for " + ref + ", which this training set does not hold");
  }
  // The new column list: each transformed feature replaced by its output columns, in place.
  struct Source {
    size_t input;                          // column of `values`
    const transform::State* state;         // nullptr: copied as it is
    std::vector<transform::Column> columns;  // the state's output columns
    bool as_number = false;
  };
  std::vector<FeaturePlan> out_features;
  std::vector<Source> sources;       // one per transformed feature or raw column
  std::vector<size_t> first_output;  // per source: first output column
  std::map<std::string, std::string> owner;
  for (size_t c = 0; c < features.size(); ++c) {
    auto it = plan.states.find(ref_of(features[c]));
    if (it == plan.states.end()) sources.push_back({c, nullptr, {}, false});
    else sources.push_back({c, &it->second, it->second.output_columns(), numeric_kind(it->second.spec.kind)});
    first_output.push_back(out_features.size());
    if (!sources.back().state) {
      out_features.push_back(features[c]);
    } else {
      for (const auto& col : it->second.output_columns()) {
        FeaturePlan f = features[c];
        f.output_name = output_column(features[c], col.name, full_names);
        f.type = column_type_oid(col.type);
        f.typmod = -1;
        out_features.push_back(f);
      }
    }
  }
  for (const auto& f : out_features)
    if (!owner.emplace(f.output_name, ref_of(f)).second)
      throw Error(ERRCODE_DUPLICATE_OBJECT, "training set column \"" + f.output_name + "\" would be written twice",
                  "A transformed column collides with another column.", "Pass full_feature_names => true.");
  FeatureValues out;
  out.width = out_features.size();
  pg_guard([&] {
    Size cells = Max(rows * out.width, (Size)1);
    alloc_cells(engine, cells, out.values, out.nulls);
  });
  std::vector<transform::Cell> cells(64);
  for (size_t r = 0; r < rows; ++r) {
    if ((r % kInterruptEvery) == 0) pg_guard([] { CHECK_FOR_INTERRUPTS(); });
    for (size_t s = 0; s < sources.size(); ++s) {
      const size_t in = r * values.width + sources[s].input;
      const size_t base = r * out.width + first_output[s];
      const transform::State* state = sources[s].state;
      if (!state) {
        out.values[base] = values.values[in];
        out.nulls[base] = values.nulls[in];
        continue;
      }
      const auto& columns = sources[s].columns;
      if (cells.size() < columns.size()) cells.resize(columns.size());
      const FeaturePlan& f = features[sources[s].input];
      try {
        transform::apply(*state, transform_input(values.values[in], values.nulls[in], f.type, sources[s].as_number),
                         cells.data());
      } catch (const transform::UnknownCategory& e) {
        throw Error(ERRCODE_INVALID_PARAMETER_VALUE, ref_of(f) + ": " + e.what());
      }
      for (size_t k = 0; k < columns.size(); ++k) {
        out.nulls[base + k] = cells[k].null;
        out.values[base + k] = cells[k].null ? Datum(0) : cell_datum(columns[k].type, cells[k].value);
      }
    }
  }
  features = std::move(out_features);
  values = out;
}

}  // namespace fstore::training
