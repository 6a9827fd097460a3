// Transformations with fitted state (common/transform.hpp): every kind against scikit-learn's
// results for small fixed inputs (written here), against a straightforward reference on random
// data, and the edge cases (unseen categories, NULLs, NaN, constant features, state round trips).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "transform.hpp"

using namespace fstore::transform;
using nlohmann::json;

namespace {

State fit(const json& spec, const std::vector<Value>& values, bool numeric = true, const std::string& feature = "f") {
  Fitter fitter(parse_spec(spec, numeric), feature);
  for (const auto& v : values) fitter.add(v);
  return fitter.finish();
}

std::vector<Value> numbers(std::initializer_list<double> xs) {
  std::vector<Value> out;
  for (double x : xs) out.push_back(Value::of(x));
  return out;
}

std::vector<Value> texts(std::initializer_list<const char*> xs) {
  std::vector<Value> out;
  for (const char* x : xs) out.push_back(Value::of(std::string(x)));
  return out;
}

Cell one(const State& s, const Value& v) {
  Cell c[1];
  apply(s, v, c);
  return c[0];
}

std::vector<Cell> many(const State& s, const Value& v) {
  std::vector<Cell> c(s.output_columns().size());
  apply(s, v, c.data());
  return c;
}

double value(const State& s, double x) {
  Cell c = one(s, Value::of(x));
  EXPECT_FALSE(c.null);
  return c.value;
}

}  // namespace

// Golden values: sklearn.preprocessing.StandardScaler().fit_transform([[1],[2],[3],[4]]).
TEST(Transform, StandardMatchesScikitLearn) {
  State s = fit({{"kind", "standard"}}, numbers({1, 2, 3, 4}));
  EXPECT_DOUBLE_EQ(s.center, 2.5);
  EXPECT_DOUBLE_EQ(s.scale, 1.118033988749895);
  EXPECT_NEAR(value(s, 1), -1.3416407864998738, 1e-15);
  EXPECT_NEAR(value(s, 4), 1.3416407864998738, 1e-15);
}

// MinMaxScaler on [1, 2, 3, 5]; with clip, values outside the fitted range stay in [0, 1].
TEST(Transform, MinMaxMatchesScikitLearnAndClips) {
  State s = fit({{"kind", "minmax"}}, numbers({1, 2, 3, 5}));
  EXPECT_DOUBLE_EQ(value(s, 2), 0.25);
  EXPECT_DOUBLE_EQ(value(s, 9), 2.0);
  State c = fit({{"kind", "minmax"}, {"clip", true}}, numbers({1, 2, 3, 5}));
  EXPECT_DOUBLE_EQ(value(c, 9), 1.0);
  EXPECT_DOUBLE_EQ(value(c, -3), 0.0);
}

// RobustScaler on [1, 2, 3, 4, 100]: median 3, IQR 4 - 2 = 2.
TEST(Transform, RobustMatchesScikitLearn) {
  State s = fit({{"kind", "robust"}}, numbers({1, 2, 3, 4, 100}));
  EXPECT_DOUBLE_EQ(value(s, 100), 48.5);
  EXPECT_DOUBLE_EQ(value(s, 1), -1.0);
}

// KBinsDiscretizer(n_bins=2, strategy='quantile') on [1, 2, 3, 4]: edge 2.5; np.digitize semantics.
TEST(Transform, BucketizeFittedAndFixed) {
  State s = fit({{"kind", "bucketize"}, {"bins", 2}}, numbers({1, 2, 3, 4}));
  ASSERT_EQ(s.boundaries, std::vector<double>{2.5});
  EXPECT_EQ(value(s, 2), 0);
  EXPECT_EQ(value(s, 3), 1);
  State f = fit({{"kind", "bucketize"}, {"boundaries", {0, 10}}}, {});
  EXPECT_EQ(value(f, -1), 0);
  EXPECT_EQ(value(f, 0), 1);   // a boundary belongs to the bucket above it
  EXPECT_EQ(value(f, 10), 2);
  EXPECT_THROW(parse_spec({{"kind", "bucketize"}, {"boundaries", {3, 1}}}, true), SpecError);
  EXPECT_THROW(parse_spec({{"kind", "bucketize"}}, true), SpecError);
}

TEST(Transform, Log1pAndItsDomain) {
  State s = fit({{"kind", "log1p"}}, {});
  EXPECT_DOUBLE_EQ(value(s, std::exp(2.0) - 1), 2.0);
  EXPECT_TRUE(one(s, Value::of(-1.0)).null);   // -inf
  EXPECT_TRUE(one(s, Value::of(-2.0)).null);   // NaN
}

// LabelEncoder on ["b", "a", "c", "a"]: classes sorted, unseen -> unknown (default -1) or error.
TEST(Transform, LabelSortedCategoriesAndUnseen) {
  State s = fit({{"kind", "label"}}, texts({"b", "a", "c", "a"}), false);
  EXPECT_EQ(one(s, Value::of(std::string("b"))).value, 1);
  EXPECT_EQ(one(s, Value::of(std::string("zzz"))).value, -1);
  State custom = fit({{"kind", "label"}, {"unknown", 99}}, texts({"a"}), false);
  EXPECT_EQ(one(custom, Value::of(std::string("q"))).value, 99);
  State strict = fit({{"kind", "label"}, {"unknown", "error"}}, texts({"a"}), false);
  EXPECT_THROW(one(strict, Value::of(std::string("q"))), UnknownCategory);
}

// OneHotEncoder(max_categories=3) keeps the 2 most frequent plus an infrequent column; here the
// column for the rest is always there (stable columns), infrequent ones go to it, unseen ones
// give all zeros.
TEST(Transform, OneHotMaxCategoriesOtherAndUnseen) {
  State s = fit({{"kind", "onehot"}, {"max_categories", 2}}, texts({"a", "a", "b", "c", "c", "c"}), false);
  ASSERT_EQ(s.categories, (std::vector<std::string>{"a", "c"}));
  ASSERT_EQ(s.columns, (std::vector<std::string>{"f__a", "f__c", "f__other"}));
  auto cells = many(s, Value::of(std::string("c")));
  EXPECT_EQ(cells[0].value, 0);
  EXPECT_EQ(cells[1].value, 1);
  EXPECT_EQ(cells[2].value, 0);
  cells = many(s, Value::of(std::string("b")));
  EXPECT_EQ(cells[2].value, 1);
  cells = many(s, Value::of(std::string("never")));
  for (const auto& c : cells) EXPECT_EQ(c.value, 0);
  cells = many(s, Value::null());
  for (const auto& c : cells) EXPECT_TRUE(c.null);
}

TEST(Transform, OneHotColumnNamesAreValidAndUnique) {
  auto names = onehot_column_names("city", {"New York", "new-york", "other", "", std::string(80, 'x')});
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), names.size());
  for (const auto& n : names) {
    EXPECT_LE(n.size(), 63u);
    for (char c : n) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '_') << n;
  }
  EXPECT_EQ(names.back(), "city__other");
  EXPECT_EQ(names[0], "city__new_york");
  EXPECT_EQ(names[1], "city__new_york_2");  // lower-cased, so "New York" and "new-york" meet
  EXPECT_EQ(names[2], "city__other_2");  // the category "other" never takes the other column's name
}

// Constant features: no division by zero.
TEST(Transform, ConstantFeaturesCenterOnly) {
  EXPECT_DOUBLE_EQ(value(fit({{"kind", "standard"}}, numbers({5, 5, 5})), 7), 2);
  EXPECT_DOUBLE_EQ(value(fit({{"kind", "minmax"}}, numbers({5, 5})), 7), 2);
  EXPECT_DOUBLE_EQ(value(fit({{"kind", "robust"}}, numbers({5, 5, 5, 5})), 7), 2);
}

// NULL stays NULL unless imputed; NaN and infinities count as missing; the transformation is
// fitted on the imputed data (SimpleImputer then scaler, as a scikit-learn Pipeline).
TEST(Transform, NullsNanAndImputation) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  State plain = fit({{"kind", "standard"}}, {Value::of(1.0), Value::null(), Value::of(3.0), Value::of(nan), Value::of(inf)});
  EXPECT_DOUBLE_EQ(plain.center, 2);
  EXPECT_TRUE(one(plain, Value::null()).null);
  EXPECT_TRUE(one(plain, Value::of(nan)).null);
  EXPECT_TRUE(one(plain, Value::of(-inf)).null);
  State imputed = fit({{"kind", "standard"}, {"impute", "mean"}}, {Value::of(1.0), Value::null(), Value::of(3.0)});
  EXPECT_DOUBLE_EQ(imputed.center, 2);
  EXPECT_DOUBLE_EQ(imputed.scale, std::sqrt(2.0 / 3.0));  // [1, 2, 3]
  EXPECT_DOUBLE_EQ(value(imputed, 2), 0);
  EXPECT_DOUBLE_EQ(one(imputed, Value::null()).value, 0);
  State median = fit({{"kind", "minmax"}, {"impute", "median"}}, {Value::of(0.0), Value::of(10.0), Value::of(4.0), Value::null()});
  EXPECT_DOUBLE_EQ(one(median, Value::null()).value, 0.4);
  State constant = fit({{"kind", "label"}, {"impute", "zz"}}, {Value::of(std::string("a")), Value::null()}, false);
  EXPECT_EQ(constant.categories, (std::vector<std::string>{"a", "zz"}));
  EXPECT_EQ(one(constant, Value::null()).value, 1);
  State frequent = fit({{"kind", "onehot"}, {"impute", "most_frequent"}}, texts({"x", "y", "y"}), false);
  EXPECT_EQ(many(frequent, Value::null())[1].value, 1);
  EXPECT_THROW(parse_spec({{"kind", "label"}, {"impute", "mean"}}, false), SpecError);
}

TEST(Transform, SpecErrorsAreClear) {
  EXPECT_THROW(parse_spec({{"kind", "standard"}}, false), SpecError);  // not numeric
  EXPECT_THROW(parse_spec({{"kind", "nope"}}, true), SpecError);
  EXPECT_THROW(parse_spec({{"kind", "standard"}, {"clip", true}}, true), SpecError);
  EXPECT_THROW(parse_spec({{"kind", "onehot"}, {"max_categories", 0}}, false), SpecError);
  EXPECT_THROW(parse_spec({{"kind", "onehot"}, {"colour", 1}}, false), SpecError);
  EXPECT_THROW(parse_spec(json::array(), true), SpecError);
  EXPECT_THROW(fit({{"kind", "standard"}}, {Value::null()}), SpecError);  // nothing to fit on
}

// The stored state round-trips through its JSON text exactly (the server loads what the
// extension stored), and applying the reloaded state gives the same bits.
TEST(Transform, StateRoundTripsBitForBit) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(3.0, 7.0);
  std::vector<Value> xs;
  for (int i = 0; i < 1000; ++i) xs.push_back(Value::of(normal(rng)));
  for (const char* kind : {"standard", "minmax", "robust", "log1p"}) {
    State s = fit({{"kind", kind}, {"impute", "median"}}, xs);
    State back = state_from_json(json::parse(state_to_json(s).dump()));
    for (int i = 0; i < 100; ++i) {
      double x = normal(rng);
      Cell a = one(s, Value::of(x)), b = one(back, Value::of(x));
      EXPECT_EQ(a.null, b.null);
      if (!a.null) {
        EXPECT_EQ(a.value, b.value) << kind;  // exactly, not nearly
      }
    }
  }
  State cats = fit({{"kind", "onehot"}, {"max_categories", 1}}, texts({"a", "b", "b"}), false);
  State back = state_from_json(json::parse(state_to_json(cats).dump()));
  EXPECT_EQ(back.columns, cats.columns);
  EXPECT_EQ(back.other_categories, cats.other_categories);
  EXPECT_THROW(state_from_json(json{{"spec", {{"kind", "standard"}}}}), SpecError);
}

// Random data against a straightforward reference computation.
TEST(Transform, FittedStateMatchesReferenceOnRandomData) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(-100, 100);
  for (int round = 0; round < 20; ++round) {
    std::vector<double> data(1 + rng() % 500);
    std::vector<Value> xs;
    for (double& x : data) { x = u(rng); xs.push_back(Value::of(x)); }
    double sum = 0;
    for (double x : data) sum += x;
    double mean = sum / data.size(), ss = 0;
    for (double x : data) ss += (x - mean) * (x - mean);
    State s = fit({{"kind", "standard"}}, xs);
    EXPECT_NEAR(s.center, mean, 1e-9);
    EXPECT_NEAR(s.scale, std::sqrt(ss / data.size()), 1e-9);
    std::vector<double> sorted = data;
    std::sort(sorted.begin(), sorted.end());
    State r = fit({{"kind", "robust"}}, xs);
    auto ref_quantile = [&](double q) {  // numpy's linear method
      double pos = q * (sorted.size() - 1);
      size_t lo = static_cast<size_t>(pos);
      return lo + 1 < sorted.size() ? sorted[lo] + (sorted[lo + 1] - sorted[lo]) * (pos - lo) : sorted[lo];
    };
    EXPECT_DOUBLE_EQ(r.center, ref_quantile(0.5));
    EXPECT_NEAR(r.scale, ref_quantile(0.75) - ref_quantile(0.25), 1e-9);
    State m = fit({{"kind", "minmax"}}, xs);
    EXPECT_EQ(m.center, sorted.front());
    EXPECT_EQ(m.scale, sorted.back() - sorted.front());
  }
}
