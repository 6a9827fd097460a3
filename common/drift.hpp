// Drift between a reference and a current window of one feature (API.md fstore.feature_drift,
// docs/monitoring.md gives every formula). Numbers come as Cdfs of their finite values
// (common/statistics.hpp), categories as counts by text. Every function returns a finite value;
// the caller refuses windows that are too small before calling (kMinValues).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include "statistics.hpp"

namespace fstore::drift {

constexpr uint64_t kMinValues = 5;    // per window, or 22023
constexpr double kEpsilon = 1e-6;     // the share given to an empty bin in psi
constexpr int kPsiBins = 10;          // numbers: bins between the reference's deciles

struct TestResult {
  double statistic;
  double p_value;
};

// Population stability index of numbers: bins (-inf, d1], (d1, d2], ..., (d9, inf) with d1..d9
// the reference's deciles (percentile_cont, repeated edges merged), applied to both windows;
// psi = sum over bins of (c - r) * ln(c / r) of the two shares, an empty bin's share kEpsilon.
double psi(const stats::Cdf& reference, const stats::Cdf& current);

// Two-sample Kolmogorov-Smirnov: the largest distance between the two empirical CDFs, with the
// asymptotic p-value Q(D * sqrt(n m / (n + m))) of the Kolmogorov distribution (scipy's
// kstwobign.sf).
TestResult ks(const stats::Cdf& reference, const stats::Cdf& current);

// First Wasserstein distance: the area between the two empirical CDFs (scipy's
// wasserstein_distance).
double wasserstein(const stats::Cdf& reference, const stats::Cdf& current);

using Counts = std::unordered_map<std::string, uint64_t>;

// psi of categories: one bin per category seen in either window, an empty one's share kEpsilon.
double psi(const Counts& reference, const Counts& current);

// Chi-square test of homogeneity of the 2 x k table (windows x categories seen in either), with
// k - 1 degrees of freedom and no continuity correction (scipy's chi2_contingency(...,
// correction=False)); one category only gives 0 with p-value 1.
TestResult chi_square(const Counts& reference, const Counts& current);

// Jensen-Shannon distance in base 2 (the square root of the divergence; between 0 and 1), as
// scipy.spatial.distance.jensenshannon(p, q, base=2).
double jensen_shannon(const Counts& reference, const Counts& current);

// Survival function of the Kolmogorov distribution, P(K > x).
double kolmogorov_sf(double x);
// Survival function of the chi-square distribution with `dof` degrees of freedom.
double chi2_sf(double x, double dof);

}  // namespace fstore::drift
