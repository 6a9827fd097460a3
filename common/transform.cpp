#include "transform.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "names.hpp"

namespace fstore::transform {
namespace {

using nlohmann::json;

constexpr size_t kMaxBoundaries = 1000;
constexpr int kMaxCategories = 1000;             // onehot columns of one feature
constexpr size_t kMaxStateCategories = 100000;   // categories a state may remember

struct KindName {
  Kind kind;
  const char* name;
  bool numeric;  // needs a numeric feature
};
constexpr KindName kKinds[] = {
    {Kind::Standard, "standard", true}, {Kind::MinMax, "minmax", true}, {Kind::Robust, "robust", true},
    {Kind::Log1p, "log1p", true},       {Kind::Bucketize, "bucketize", true},
    {Kind::Label, "label", false},      {Kind::OneHot, "onehot", false}};

const KindName& kind_info(Kind kind) {
  for (const auto& k : kKinds)
    if (k.kind == kind) return k;
  throw SpecError("unknown transformation kind");
}

bool categorical(Kind kind) { return kind == Kind::Label || kind == Kind::OneHot; }

// An integer JSON value within [lo, hi], or SpecError naming `what`.
int64_t integer_in(const json& j, int64_t lo, int64_t hi, const std::string& what) {
  if (!j.is_number_integer()) throw SpecError(what + " must be an integer");
  int64_t v = j.get<int64_t>();
  if (v < lo || v > hi) throw SpecError(what + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return v;
}

// The category a JSON constant stands for: a string, or an integer (its decimal text).
std::string category_of(const json& j, const std::string& what) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return std::to_string(j.get<int64_t>());
  throw SpecError(what + " must be a string or an integer");
}

void parse_impute(const json& j, bool numeric_input, Spec& spec) {
  if (j.is_string()) {
    const std::string mode = j.get<std::string>();
    if (mode == "mean" || mode == "median") {
      if (!numeric_input) throw SpecError("impute \"" + mode + "\" needs a numeric transformation");
      spec.impute = mode == "mean" ? Spec::Impute::Mean : Spec::Impute::Median;
      return;
    }
    if (mode == "most_frequent") { spec.impute = Spec::Impute::MostFrequent; return; }
  }
  const json& constant = j.is_object() && j.contains("constant") ? j.at("constant") : j;
  if (j.is_object() && (j.size() != 1 || !j.contains("constant")))
    throw SpecError("impute must be \"mean\", \"median\", \"most_frequent\", a constant or {\"constant\": value}");
  spec.impute = Spec::Impute::Constant;
  if (numeric_input) {
    if (!constant.is_number() || !std::isfinite(constant.get<double>()))
      throw SpecError("impute constant must be a finite number for a numeric transformation");
    spec.impute_constant = Value::of(constant.get<double>());
  } else {
    spec.impute_constant = Value::of(category_of(constant, "impute constant"));
  }
}

double mean_of(const std::vector<double>& v) {
  long double sum = 0;
  for (double x : v) sum += x;
  return static_cast<double>(sum / static_cast<long double>(v.size()));
}

// Population standard deviation (ddof = 0, as scikit-learn's StandardScaler), two passes.
double stddev_of(const std::vector<double>& v, double mean) {
  long double sum = 0;
  for (double x : v) sum += (static_cast<long double>(x) - mean) * (static_cast<long double>(x) - mean);
  return static_cast<double>(std::sqrt(sum / static_cast<long double>(v.size())));
}

// Most frequent entry of a count map; ties go to the smallest key.
template <typename Key>
Key most_frequent(const std::map<Key, int64_t>& counts) {
  auto best = counts.begin();
  for (auto it = counts.begin(); it != counts.end(); ++it)
    if (it->second > best->second) best = it;
  return best->first;
}

json value_to_json(const Value& v) {
  if (v.type == Value::Type::Number) return v.number;
  if (v.type == Value::Type::Text) return v.text;
  return nullptr;
}

Value value_from_json(const json& j) {
  if (j.is_number()) return Value::of(j.get<double>());
  if (j.is_string()) return Value::of(j.get<std::string>());
  return Value::null();
}

// A category as part of a column name: lower-case ASCII letters, digits and underscores (so the
// column needs no quoting in SQL), anything else an underscore.
std::string sanitize(const std::string& category) {
  std::string out;
  for (unsigned char c : category)
    out += c < 128 && (std::isalnum(c) || c == '_') ? static_cast<char>(std::tolower(c)) : '_';
  return out.empty() ? "_" : out;
}

}  // namespace

Spec parse_spec(const json& j, bool numeric) {
  if (!j.is_object()) throw SpecError("a transformation must be a JSON object such as {\"kind\": \"standard\"}");
  static const std::set<std::string> known = {"kind", "clip", "boundaries", "bins", "max_categories", "unknown", "impute"};
  for (const auto& item : j.items())
    if (!known.count(item.key())) throw SpecError("unknown transformation attribute \"" + item.key() + "\"");
  if (!j.contains("kind") || !j.at("kind").is_string()) throw SpecError("a transformation needs a \"kind\"");
  Spec spec;
  const std::string kind = j.at("kind").get<std::string>();
  const KindName* info = nullptr;
  for (const auto& k : kKinds)
    if (kind == k.name) info = &k;
  if (!info) throw SpecError("unknown transformation kind \"" + kind + "\" (standard, minmax, robust, log1p, bucketize, label, onehot)");
  spec.kind = info->kind;
  if (info->numeric && !numeric) throw SpecError("\"" + kind + "\" needs a numeric feature");
  auto only_for = [&](const char* key, Kind k) {
    if (j.contains(key) && spec.kind != k)
      throw SpecError(std::string("\"") + key + "\" is only for " + kind_info(k).name);
  };
  only_for("clip", Kind::MinMax);
  only_for("boundaries", Kind::Bucketize);
  only_for("bins", Kind::Bucketize);
  only_for("max_categories", Kind::OneHot);
  if (j.contains("clip")) {
    if (!j.at("clip").is_boolean()) throw SpecError("clip must be true or false");
    spec.clip = j.at("clip").get<bool>();
  }
  if (spec.kind == Kind::Bucketize) {
    if (j.contains("boundaries") == j.contains("bins"))
      throw SpecError("bucketize needs either \"boundaries\" (an increasing array of numbers) or \"bins\" (a count)");
    if (j.contains("bins")) spec.bins = static_cast<int>(integer_in(j.at("bins"), 2, kMaxBoundaries, "bins"));
    else {
      const json& b = j.at("boundaries");
      if (!b.is_array() || b.empty() || b.size() > kMaxBoundaries)
        throw SpecError("boundaries must be a non-empty array of at most 1000 numbers");
      for (const auto& x : b) {
        if (!x.is_number() || !std::isfinite(x.get<double>())) throw SpecError("boundaries must be finite numbers");
        if (!spec.boundaries.empty() && x.get<double>() <= spec.boundaries.back())
          throw SpecError("boundaries must be strictly increasing");
        spec.boundaries.push_back(x.get<double>());
      }
    }
  }
  if (j.contains("max_categories"))
    spec.max_categories = static_cast<int>(integer_in(j.at("max_categories"), 1, kMaxCategories, "max_categories"));
  if (j.contains("unknown")) {
    const json& u = j.at("unknown");
    if (!categorical(spec.kind)) throw SpecError("\"unknown\" is only for label and onehot");
    if (u.is_string() && u.get<std::string>() == "error") spec.unknown_error = true;
    else if (spec.kind == Kind::Label) spec.unknown = integer_in(u, INT32_MIN, INT32_MAX, "unknown");
    else if (!(u.is_string() && u.get<std::string>() == "zeros"))
      throw SpecError("unknown must be \"zeros\" or \"error\" for onehot");
  }
  if (j.contains("impute")) parse_impute(j.at("impute"), info->numeric, spec);
  return spec;
}

json spec_to_json(const Spec& spec) {
  json j = {{"kind", kind_info(spec.kind).name}};
  if (spec.kind == Kind::MinMax) j["clip"] = spec.clip;
  if (spec.kind == Kind::Bucketize) {
    if (spec.bins) j["bins"] = spec.bins;
    else j["boundaries"] = spec.boundaries;
  }
  if (spec.kind == Kind::OneHot) j["max_categories"] = spec.max_categories;
  if (spec.kind == Kind::Label) j["unknown"] = spec.unknown_error ? json("error") : json(spec.unknown);
  if (spec.kind == Kind::OneHot) j["unknown"] = spec.unknown_error ? "error" : "zeros";
  switch (spec.impute) {
    case Spec::Impute::None: break;
    case Spec::Impute::Mean: j["impute"] = "mean"; break;
    case Spec::Impute::Median: j["impute"] = "median"; break;
    case Spec::Impute::MostFrequent: j["impute"] = "most_frequent"; break;
    case Spec::Impute::Constant: j["impute"] = {{"constant", value_to_json(spec.impute_constant)}}; break;
  }
  return j;
}

std::vector<Column> State::output_columns() const {
  switch (spec.kind) {
    case Kind::OneHot: {
      std::vector<Column> out;
      for (const auto& c : columns) out.push_back({c, ColumnType::Int4});
      return out;
    }
    case Kind::Label: case Kind::Bucketize: return {{feature, ColumnType::Int8}};
    default: return {{feature, ColumnType::Float8}};
  }
}

double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

std::vector<std::string> onehot_column_names(const std::string& feature, const std::vector<std::string>& categories) {
  std::set<std::string> taken;
  auto unique = [&](std::string base) {
    if (base.size() > kMaxNameLength) base.resize(kMaxNameLength);
    std::string name = base;
    for (int n = 2; taken.count(name); ++n) {
      std::string suffix = "_" + std::to_string(n);
      name = base.substr(0, std::min(base.size(), kMaxNameLength - suffix.size())) + suffix;
    }
    taken.insert(name);
    return name;
  };
  const std::string other = unique(feature + "__other");
  std::vector<std::string> names;
  for (const auto& c : categories) names.push_back(unique(feature + "__" + sanitize(c)));
  names.push_back(other);
  return names;
}

Fitter::Fitter(Spec spec, std::string feature) : spec_(std::move(spec)), feature_(std::move(feature)) {}

void Fitter::add(const Value& value) {
  if (categorical(spec_.kind)) {
    if (value.type == Value::Type::Text) ++counts_[value.text];
    else ++nulls_;
    return;
  }
  if (value.type == Value::Type::Number && std::isfinite(value.number)) numbers_.push_back(value.number);
  else ++nulls_;
}

State Fitter::finish() const {
  State state;
  state.spec = spec_;
  state.feature = feature_;
  std::vector<double> numbers = numbers_;
  std::map<std::string, int64_t> counts = counts_;
  // The imputed value, then the transformation fitted on the data as it will see it (NULLs
  // replaced), as a scikit-learn Pipeline(SimpleImputer, scaler) does.
  if (spec_.impute != Spec::Impute::None) {
    if (numbers.empty() && counts.empty() && spec_.impute != Spec::Impute::Constant)
      throw SpecError("no value to fit the imputation on");
    Value fill = spec_.impute_constant;
    if (spec_.impute == Spec::Impute::Mean) fill = Value::of(mean_of(numbers));
    if (spec_.impute == Spec::Impute::Median) {
      std::vector<double> sorted = numbers;
      std::sort(sorted.begin(), sorted.end());
      fill = Value::of(quantile(sorted, 0.5));
    }
    if (spec_.impute == Spec::Impute::MostFrequent) {
      if (categorical(spec_.kind)) fill = Value::of(most_frequent(counts));
      else {
        std::map<double, int64_t> by_value;
        for (double x : numbers) ++by_value[x];
        fill = Value::of(most_frequent(by_value));
      }
    }
    state.impute_value = fill;
    if (categorical(spec_.kind)) counts[fill.text] += nulls_;
    else numbers.insert(numbers.end(), static_cast<size_t>(nulls_), fill.number);
  }
  if (categorical(spec_.kind)) {
    if (counts.empty()) throw SpecError("no non-NULL value to fit on");
    if (counts.size() > kMaxStateCategories)
      throw SpecError("more than 100000 distinct categories: too many to encode");
    std::vector<std::string> kept;
    for (const auto& [category, n] : counts) kept.push_back(category);  // sorted by value
    if (spec_.kind == Kind::OneHot && kept.size() > static_cast<size_t>(spec_.max_categories)) {
      // The most frequent max_categories (ties: smaller value), in value order; the rest is "other".
      std::vector<std::pair<int64_t, std::string>> by_count;
      for (const auto& [category, n] : counts) by_count.emplace_back(-n, category);
      std::sort(by_count.begin(), by_count.end());
      kept.clear();
      for (int i = 0; i < spec_.max_categories; ++i) kept.push_back(by_count[i].second);
      std::sort(kept.begin(), kept.end());
      for (size_t i = spec_.max_categories; i < by_count.size(); ++i) state.other_categories.push_back(by_count[i].second);
      std::sort(state.other_categories.begin(), state.other_categories.end());
    }
    state.categories = kept;
    if (spec_.kind == Kind::OneHot) state.columns = onehot_column_names(feature_, kept);
    return state;
  }
  if (numbers.empty() && spec_.kind != Kind::Log1p && !(spec_.kind == Kind::Bucketize && !spec_.bins))
    throw SpecError("no non-NULL finite value to fit on");
  // Only the quantile kinds need the values in order.
  if (spec_.kind == Kind::Robust || (spec_.kind == Kind::Bucketize && spec_.bins))
    std::sort(numbers.begin(), numbers.end());
  switch (spec_.kind) {
    case Kind::Standard:
      state.center = mean_of(numbers);
      state.scale = stddev_of(numbers, state.center);
      break;
    case Kind::MinMax: {
      auto [lo, hi] = std::minmax_element(numbers.begin(), numbers.end());
      state.center = *lo;
      state.scale = *hi - *lo;
      break;
    }
    case Kind::Robust:
      state.center = quantile(numbers, 0.5);
      state.scale = quantile(numbers, 0.75) - quantile(numbers, 0.25);
      break;
    case Kind::Bucketize:
      state.boundaries = spec_.boundaries;
      if (spec_.bins) {
        for (int k = 1; k < spec_.bins; ++k) {
          double b = quantile(numbers, static_cast<double>(k) / spec_.bins);
          if (state.boundaries.empty() || b > state.boundaries.back()) state.boundaries.push_back(b);
        }
      }
      break;
    default:
      break;
  }
  return state;
}

void apply(const State& state, const Value& in, Cell* out) {
  const size_t width = state.spec.kind == Kind::OneHot ? state.columns.size() : 1;
  for (size_t i = 0; i < width; ++i) out[i] = Cell{};
  const bool missing = in.type == Value::Type::Null ||
                       (in.type == Value::Type::Number && !std::isfinite(in.number));
  if (missing && !state.impute_value) return;
  const Value& v = missing ? *state.impute_value : in;
  auto number = [&](double y) {
    if (std::isfinite(y)) out[0] = Cell{false, y};
  };
  switch (state.spec.kind) {
    case Kind::Standard: case Kind::Robust: case Kind::MinMax: {
      double y = state.scale > 0 ? (v.number - state.center) / state.scale : v.number - state.center;
      if (state.spec.clip) y = std::min(1.0, std::max(0.0, y));
      number(y);
      return;
    }
    case Kind::Log1p:
      number(std::log1p(v.number));
      return;
    case Kind::Bucketize:
      number(static_cast<double>(std::upper_bound(state.boundaries.begin(), state.boundaries.end(), v.number) -
                                 state.boundaries.begin()));
      return;
    case Kind::Label: {
      auto it = std::lower_bound(state.categories.begin(), state.categories.end(), v.text);
      if (it != state.categories.end() && *it == v.text) number(static_cast<double>(it - state.categories.begin()));
      else if (state.spec.unknown_error) throw UnknownCategory("category \"" + v.text + "\" was not seen when fitting");
      else number(static_cast<double>(state.spec.unknown));
      return;
    }
    case Kind::OneHot: {
      for (size_t i = 0; i < width; ++i) out[i] = Cell{false, 0};
      auto it = std::lower_bound(state.categories.begin(), state.categories.end(), v.text);
      if (it != state.categories.end() && *it == v.text) {
        out[it - state.categories.begin()].value = 1;
      } else if (std::binary_search(state.other_categories.begin(), state.other_categories.end(), v.text)) {
        out[width - 1].value = 1;
      } else if (state.spec.unknown_error) {
        throw UnknownCategory("category \"" + v.text + "\" was not seen when fitting");
      }
      return;
    }
  }
}

json state_to_json(const State& state) {
  json j = {{"spec", spec_to_json(state.spec)}, {"feature", state.feature}};
  switch (state.spec.kind) {
    case Kind::Standard: j["mean"] = state.center; j["stddev"] = state.scale; break;
    case Kind::MinMax: j["min"] = state.center; j["range"] = state.scale; break;
    case Kind::Robust: j["median"] = state.center; j["iqr"] = state.scale; break;
    case Kind::Bucketize: j["boundaries"] = state.boundaries; break;
    case Kind::Label: j["categories"] = state.categories; break;
    case Kind::OneHot:
      j["categories"] = state.categories;
      j["columns"] = state.columns;
      j["other_categories"] = state.other_categories;
      break;
    case Kind::Log1p: break;
  }
  if (state.impute_value) j["impute_value"] = value_to_json(*state.impute_value);
  return j;
}

State state_from_json(const json& j) {
  try {
    State state;
    const bool numeric = !categorical([&] {
      const std::string kind = j.at("spec").at("kind").get<std::string>();
      for (const auto& k : kKinds)
        if (kind == k.name) return k.kind;
      throw SpecError("unknown kind in state");
    }());
    state.spec = parse_spec(j.at("spec"), numeric);
    state.feature = j.at("feature").get<std::string>();
    switch (state.spec.kind) {
      case Kind::Standard: state.center = j.at("mean"); state.scale = j.at("stddev"); break;
      case Kind::MinMax: state.center = j.at("min"); state.scale = j.at("range"); break;
      case Kind::Robust: state.center = j.at("median"); state.scale = j.at("iqr"); break;
      case Kind::Bucketize: state.boundaries = j.at("boundaries").get<std::vector<double>>(); break;
      case Kind::Label: state.categories = j.at("categories").get<std::vector<std::string>>(); break;
      case Kind::OneHot:
        state.categories = j.at("categories").get<std::vector<std::string>>();
        state.columns = j.at("columns").get<std::vector<std::string>>();
        state.other_categories = j.at("other_categories").get<std::vector<std::string>>();
        if (state.columns.size() != state.categories.size() + 1) throw SpecError("onehot columns do not match");
        break;
      case Kind::Log1p: break;
    }
    if (j.contains("impute_value")) state.impute_value = value_from_json(j.at("impute_value"));
    return state;
  } catch (const json::exception& e) {
    throw SpecError(std::string("malformed transformation state: ") + e.what());
  }
}

}  // namespace fstore::transform
