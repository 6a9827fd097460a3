// Transformations with fitted state (API.md "Transformations with fitted state"): one C++
// implementation, compiled into the extension (training sets) and into fstore-server (online
// answers), so a transformed value served online is bit for bit the value a training set holds.
//
// A Spec says what to do with one feature ({"kind": "standard"} ...); a Fitter sees the feature's
// values of one training set and produces a State (the fitted parameters, immutable, stored as
// JSON in fstore.transform_versions); apply() maps one input value to the output columns.
// Rules shared by every kind:
//   * NULL in, NULL out, unless the spec imputes: then the imputed value goes in.
//   * NaN and infinities are not data: fitting ignores them, and a non-finite input or result
//     gives NULL (JSON has no NaN, and training and serving must agree).
//   * Fitting ignores NULLs; a state fitted on no value at all is an error (the caller says which).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fstore::transform {

enum class Kind { Standard, MinMax, Robust, Log1p, Bucketize, Label, OneHot };

// What a feature value is to a transformation: a number (numeric SQL types) or a category (text,
// and any other type by its text form). kNull: SQL NULL.
struct Value {
  enum class Type { Null, Number, Text };
  Type type = Type::Null;
  double number = 0;
  std::string text;
  static Value null() { return {}; }
  static Value of(double x) { Value v; v.type = Type::Number; v.number = x; return v; }
  static Value of(std::string s) { Value v; v.type = Type::Text; v.text = std::move(s); return v; }
};

// A transformation as the user wrote it, checked. Errors are SpecError with a message naming
// the problem (the caller adds the feature).
struct Spec {
  Kind kind = Kind::Standard;
  bool clip = false;                   // minmax: clamp to [0, 1]
  std::vector<double> boundaries;      // bucketize: fixed, strictly increasing
  int bins = 0;                        // bucketize: fitted quantile bins (>= 2) instead of boundaries
  int max_categories = 100;            // onehot: columns for at most this many categories
  int64_t unknown = -1;                // label: code of a category not seen when fitting
  bool unknown_error = false;          // label/onehot: "unknown": "error" refuses unseen categories
  enum class Impute { None, Mean, Median, MostFrequent, Constant };
  Impute impute = Impute::None;
  Value impute_constant;               // Impute::Constant
};

class SpecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Raised by apply() for an unseen category when the spec says "unknown": "error".
class UnknownCategory : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses and checks a spec; `numeric` says whether the feature's type is numeric (scalers,
// log1p and bucketize need one; label and onehot take any type).
Spec parse_spec(const nlohmann::json& spec, bool numeric);
nlohmann::json spec_to_json(const Spec& spec);

// The type of an output column.
enum class ColumnType { Float8, Int8, Int4 };

// One output column of a transformed feature.
struct Column {
  std::string name;
  ColumnType type;
};

// The fitted state of one feature's transformation: everything apply() needs, and nothing else.
struct State {
  Spec spec;
  std::string feature;                       // output name of the raw feature (column prefix)
  double center = 0;                         // standard: mean; minmax: min; robust: median
  double scale = 1;                          // standard: stddev; minmax: max - min; robust: IQR (0: none)
  std::vector<double> boundaries;            // bucketize
  std::vector<std::string> categories;       // label (code = index) and onehot (column order)
  std::vector<std::string> columns;          // onehot: column per category, then the other column
  std::vector<std::string> other_categories; // onehot: seen when fitting but not kept: the other column
  std::optional<Value> impute_value;         // the fitted (or constant) value NULLs become
  // The output columns, in order: one for every kind but onehot.
  std::vector<Column> output_columns() const;
};

nlohmann::json state_to_json(const State& state);
State state_from_json(const nlohmann::json& json);  // throws SpecError on a malformed state

// Collects one feature's values of a training set and fits its state.
class Fitter {
 public:
  Fitter(Spec spec, std::string feature);
  void add(const Value& value);
  // The fitted state; throws SpecError when there was nothing to fit on.
  State finish() const;
 private:
  Spec spec_;
  std::string feature_;
  std::vector<double> numbers_;              // finite numeric values
  std::map<std::string, int64_t> counts_;    // category counts (label, onehot)
  int64_t nulls_ = 0;                        // NULL (and non-finite) values: imputed when fitting
};

// One output cell: NULL or a number (integers are exact in a double up to 2^53).
struct Cell {
  bool null = true;
  double value = 0;
};

// Applies `state` to `value`, writing state.output_columns().size() cells to `out`.
void apply(const State& state, const Value& value, Cell* out);

// Quantile q in [0, 1] of sorted values by linear interpolation (numpy's default, as
// scikit-learn's RobustScaler and KBinsDiscretizer use).
double quantile(const std::vector<double>& sorted, double q);

// A valid, unique column name `<feature>__<category>` for each category (the category in lower-case
// letters, digits and underscores; at most 63 bytes; a counter suffix where two would collide),
// then `<feature>__other`.
std::vector<std::string> onehot_column_names(const std::string& feature, const std::vector<std::string>& categories);

}  // namespace fstore::transform
