// The statistics accumulators and drift metrics of common/ (statistics.hpp, drift.hpp): exact
// results against direct computation, sketch errors within the bound each reports, and drift
// values against scipy 1.10's for fixed inputs (the expected numbers were computed with scipy and
// are written here; the test does not need scipy).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "drift.hpp"
#include "statistics.hpp"

namespace {

using namespace fstore::stats;
namespace drift = fstore::drift;

Cdf cdf_of(const std::vector<double>& values, size_t capacity = QuantileSketch::kDefaultCapacity) {
  QuantileSketch sketch(capacity);
  for (double v : values) sketch.add(v);
  return Cdf(sketch.sorted());
}

// percentile_cont over a sorted copy, computed directly.
double percentile_cont(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  double pos = q * static_cast<double>(v.size() - 1);
  double lo = std::floor(pos);
  double a = v[static_cast<size_t>(lo)], b = v[static_cast<size_t>(std::ceil(pos))];
  return a + (pos - lo) * (b - a);
}

TEST(StatisticsMoments, MatchTwoPassFormulasAndSetNonFiniteAside) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(1e9, 3.0);  // large offset: a naive sum of squares fails
  std::vector<double> finite;
  Moments m;
  for (int i = 0; i < 200000; ++i) {
    double x = normal(rng);
    finite.push_back(x);
    m.add(x);
  }
  m.add(std::numeric_limits<double>::quiet_NaN());
  m.add(std::numeric_limits<double>::infinity());
  m.add(-std::numeric_limits<double>::infinity());
  long double sum = 0;  // the two-pass reference in extended precision
  for (double x : finite) sum += x;
  long double mean = sum / finite.size();
  long double ss = 0;
  for (double x : finite) ss += (x - mean) * (x - mean);
  EXPECT_EQ(m.finite(), finite.size());
  EXPECT_EQ(m.nan(), 1u);
  EXPECT_EQ(m.infinite(), 2u);
  EXPECT_NEAR(*m.mean(), static_cast<double>(mean), 1e-5);  // 1e-14 relative
  EXPECT_NEAR(*m.stddev(), static_cast<double>(std::sqrt(ss / (finite.size() - 1))), 1e-6);
  EXPECT_EQ(*m.min(), *std::min_element(finite.begin(), finite.end()));
  EXPECT_EQ(*m.max(), *std::max_element(finite.begin(), finite.end()));
}

TEST(StatisticsMoments, FewValues) {
  Moments none;
  EXPECT_FALSE(none.mean());
  EXPECT_FALSE(none.stddev());
  Moments one;
  one.add(4.5);
  EXPECT_EQ(*one.mean(), 4.5);
  EXPECT_FALSE(one.stddev());  // stddev_samp of one value is NULL
  one.add(4.5);
  EXPECT_EQ(*one.stddev(), 0.0);
}

TEST(StatisticsSketch, ExactBelowCapacityAsPercentileCont) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int> small(0, 50);  // many ties
  std::vector<double> v;
  for (int i = 0; i < 5001; ++i) v.push_back(small(rng) * 0.5);
  Cdf cdf = cdf_of(v);
  for (double q : {0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0}) EXPECT_EQ(cdf.quantile(q), percentile_cont(v, q));
  EXPECT_EQ(cdf.total(), v.size());
  EXPECT_EQ(cdf.count_le(10.0), static_cast<uint64_t>(std::count_if(v.begin(), v.end(), [](double x) { return x <= 10; })));
  EXPECT_EQ(cdf.count_lt(10.0), static_cast<uint64_t>(std::count_if(v.begin(), v.end(), [](double x) { return x < 10; })));
}

TEST(StatisticsSketch, RanksWithinTheReportedBoundPastCapacity) {
  for (bool sorted_input : {false, true}) {
    std::mt19937_64 rng(3);
    std::lognormal_distribution<double> skewed(0, 1.5);
    std::vector<double> v;
    for (int i = 0; i < 2000000; ++i) v.push_back(skewed(rng));
    if (sorted_input) std::sort(v.begin(), v.end());  // adversarial order for a compactor
    QuantileSketch sketch(4096);
    for (double x : v) sketch.add(x);
    ASSERT_FALSE(sketch.exact());
    double n = static_cast<double>(v.size());
    double levels = std::ceil(std::log2(n / 4096.0));
    EXPECT_LE(static_cast<double>(sketch.rank_error()), levels * n / 4096.0) << "the proven bound";
    EXPECT_LT(sketch.memory_bytes(), (levels + 2) * 4096 * sizeof(double) * 2);
    Cdf cdf(sketch.sorted());
    EXPECT_EQ(cdf.total(), v.size());
    std::sort(v.begin(), v.end());
    for (double q : {0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99}) {
      double estimate = cdf.quantile(q);
      // The true ranks the estimate can have (ties), against the rank asked for.
      auto lo = static_cast<double>(std::lower_bound(v.begin(), v.end(), estimate) - v.begin());
      auto hi = static_cast<double>(std::upper_bound(v.begin(), v.end(), estimate) - v.begin());
      double wanted = q * (n - 1);
      double off = wanted < lo ? lo - wanted : wanted > hi ? wanted - hi : 0;
      EXPECT_LE(off, static_cast<double>(sketch.rank_error()) + 1) << "q=" << q << " sorted=" << sorted_input;
    }
    double x = v[v.size() / 3];
    double true_le = static_cast<double>(std::upper_bound(v.begin(), v.end(), x) - v.begin());
    EXPECT_LE(std::fabs(static_cast<double>(cdf.count_le(x)) - true_le), static_cast<double>(sketch.rank_error()));
  }
}

TEST(StatisticsHistogram, EqualWidthBinsCountEveryValue) {
  std::vector<double> v = {0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  Histogram h = histogram(cdf_of(v), 5);
  ASSERT_EQ(h.edges.size(), 6u);
  EXPECT_EQ(h.edges.front(), 0);
  EXPECT_EQ(h.edges.back(), 10);
  std::vector<uint64_t> want = {3, 2, 2, 2, 3};  // [0,2) [2,4) [4,6) [6,8) [8,10]
  EXPECT_EQ(h.counts, want);
  Histogram one = histogram(cdf_of({7, 7, 7}));
  EXPECT_EQ(one.edges, (std::vector<double>{7, 7}));
  EXPECT_EQ(one.counts, (std::vector<uint64_t>{3}));
  Histogram huge = histogram(cdf_of({-1e308, 1e308}), 4);  // the range overflows a double
  for (double e : huge.edges) EXPECT_TRUE(std::isfinite(e));
  EXPECT_EQ(huge.counts, (std::vector<uint64_t>{1, 0, 0, 1}));
}

TEST(StatisticsDistinct, ExactThenWithinThreeStandardErrors) {
  DistinctCounter small;
  for (int i = 0; i < 1000; ++i) small.add(hash_double(i % 250));
  small.add(hash_double(-0.0));
  small.add(hash_double(0.0));
  small.add(hash_double(std::nan("1")));
  small.add(hash_double(std::nan("2")));
  EXPECT_TRUE(small.exact());
  EXPECT_EQ(small.estimate(), 251u);  // 0..249, one NaN; -0 is 0
  DistinctCounter big;
  for (int i = 0; i < 1000000; ++i) big.add(hash_bytes("user-" + std::to_string(i)));
  EXPECT_FALSE(big.exact());
  EXPECT_NEAR(static_cast<double>(big.estimate()), 1e6, 1e6 * 3 * 0.0081);
  DistinctCounter mid;  // just past the exact limit: the small-range correction
  for (int i = 0; i < 120000; ++i) mid.add(hash_double(i));
  EXPECT_NEAR(static_cast<double>(mid.estimate()), 120000, 120000 * 3 * 0.0081);
}

TEST(StatisticsTopValues, ExactCountsThenBoundedErrorKeepsHeavyHitters) {
  TopValues few;
  for (int i = 0; i < 100; ++i) few.add(i % 3 == 0 ? "a" : i % 3 == 1 ? "b" : "c");
  few.add("a");
  auto top = few.top(2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0], (std::pair<std::string, uint64_t>{"a", 35}));
  EXPECT_EQ(top[1], (std::pair<std::string, uint64_t>{"b", 33}));
  EXPECT_TRUE(few.exact());
  TopValues many(100);
  uint64_t heavy = 0, total = 0;
  for (int i = 0; i < 100000; ++i, ++total) {
    if (i % 10 == 0) {
      many.add("heavy");
      ++heavy;
    } else {
      many.add("rare-" + std::to_string(i));
    }
  }
  EXPECT_FALSE(many.exact());
  auto best = many.top(1);
  ASSERT_EQ(best.size(), 1u);
  EXPECT_EQ(best[0].first, "heavy");
  EXPECT_LE(best[0].second, heavy);
  EXPECT_GE(best[0].second + many.error(), heavy);
  EXPECT_LE(many.error(), total / 50);  // Misra-Gries with halving: at most 2 n / capacity
}

// Inputs and expected values: scipy 1.10.1, see the file comment.
const std::vector<double> kA = {0.1, 0.4, 0.35, 0.8, 1.2, 0.9, 0.3, 0.55, 0.7, 0.25};
const std::vector<double> kB = {0.6, 1.1, 0.95, 1.4, 0.85, 1.3, 0.75, 1.05, 1.6, 0.5, 1.2};

TEST(Drift, KolmogorovSmirnovAndWassersteinAsScipy) {
  auto result = drift::ks(cdf_of(kA), cdf_of(kB));
  EXPECT_NEAR(result.statistic, 0.5363636363636364, 1e-12);  // ks_2samp(a, b).statistic
  EXPECT_NEAR(result.p_value, 0.09819263892499881, 1e-9);    // kstwobign.sf(D * sqrt(nm/(n+m)))
  EXPECT_NEAR(drift::wasserstein(cdf_of(kA), cdf_of(kB)), 0.4722727272727273, 1e-12);
  auto same = drift::ks(cdf_of(kA), cdf_of(kA));
  EXPECT_EQ(same.statistic, 0);
  EXPECT_EQ(same.p_value, 1);
  EXPECT_EQ(drift::wasserstein(cdf_of(kA), cdf_of(kA)), 0);
}

TEST(Drift, DistributionFunctionsAsScipy) {
  EXPECT_NEAR(drift::chi2_sf(3.84, 1), 0.05004352124870519, 1e-12);
  EXPECT_NEAR(drift::chi2_sf(10.0, 4), 0.04042768199451279, 1e-12);
  EXPECT_NEAR(drift::chi2_sf(0.5, 3), 0.9188914116546758, 1e-12);
  EXPECT_NEAR(drift::chi2_sf(50, 10), 2.669083424904495e-07, 1e-17);
  EXPECT_NEAR(drift::kolmogorov_sf(0.3), 0.9999906941986655, 1e-12);
  EXPECT_NEAR(drift::kolmogorov_sf(0.8), 0.5441424115741981, 1e-12);
  EXPECT_NEAR(drift::kolmogorov_sf(1.0), 0.26999967167735456, 1e-12);
  EXPECT_NEAR(drift::kolmogorov_sf(1.36), 0.049485876755377876, 1e-12);
  EXPECT_NEAR(drift::kolmogorov_sf(2.0), 0.0006709252557796953, 1e-14);
}

TEST(Drift, CategoriesAsScipy) {
  drift::Counts ref = {{"a", 50}, {"b", 30}, {"c", 20}};
  drift::Counts cur = {{"a", 30}, {"b", 30}, {"c", 25}, {"d", 15}};
  auto chi = drift::chi_square(ref, cur);  // chi2_contingency(table, correction=False)
  EXPECT_NEAR(chi.statistic, 20.555555555555557, 1e-9);
  EXPECT_NEAR(chi.p_value, 0.00013019314969202805, 1e-12);
  EXPECT_NEAR(drift::jensen_shannon(ref, cur), 0.30860052716483494, 1e-12);  // jensenshannon(base=2)
  // psi with the empty bin ("d" in the reference) at 1e-6, computed by hand in numpy.
  EXPECT_NEAR(drift::psi(ref, cur), 1.9010689698900944, 1e-9);
  EXPECT_EQ(drift::psi(ref, ref), 0);
  EXPECT_EQ(drift::jensen_shannon(ref, ref), 0);
  auto single = drift::chi_square({{"x", 5}}, {{"x", 9}});
  EXPECT_EQ(single.statistic, 0);
  EXPECT_EQ(single.p_value, 1);
}

TEST(Drift, NumericPsiOnDecileBinsComputedIndependently) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> ref_dist(0, 1), cur_dist(0.5, 1.2);
  std::vector<double> ref, cur;
  for (int i = 0; i < 20000; ++i) ref.push_back(ref_dist(rng));
  for (int i = 0; i < 15000; ++i) cur.push_back(cur_dist(rng));
  // Independent: deciles by percentile_cont, shares by counting, epsilon for empty bins.
  std::vector<double> edges;
  for (int i = 1; i < 10; ++i) edges.push_back(percentile_cont(ref, i / 10.0));
  auto shares = [&](const std::vector<double>& v) {
    std::vector<double> s(10, 0);
    for (double x : v) s[static_cast<size_t>(std::lower_bound(edges.begin(), edges.end(), x) - edges.begin())] += 1;
    for (double& x : s) x = std::max(x / static_cast<double>(v.size()), 1e-6);
    return s;
  };
  auto r = shares(ref), c = shares(cur);
  double want = 0;
  for (int i = 0; i < 10; ++i) want += (c[i] - r[i]) * std::log(c[i] / r[i]);
  EXPECT_NEAR(drift::psi(cdf_of(ref), cdf_of(cur)), want, 1e-12);
  EXPECT_GT(want, 0.2);  // a real shift
  // Same distribution: small.
  std::vector<double> again;
  for (int i = 0; i < 20000; ++i) again.push_back(ref_dist(rng));
  EXPECT_LT(drift::psi(cdf_of(ref), cdf_of(again)), 0.01);
  // One value in both windows: one bin, psi 0.
  EXPECT_EQ(drift::psi(cdf_of({3, 3, 3, 3, 3}), cdf_of({3, 3, 3, 3, 3})), 0);
}

}  // namespace
