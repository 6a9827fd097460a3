// Drift metrics and their p-values (common/drift.hpp).
#include "drift.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

namespace fstore::drift {

namespace {

constexpr double kPi = 3.14159265358979323846;

// sum over bins of (c - r) * ln(c / r), shares computed from counts, empty shares kEpsilon.
double psi_of_counts(const std::vector<uint64_t>& ref, const std::vector<uint64_t>& cur, uint64_t ref_total,
                     uint64_t cur_total) {
  double sum = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double r = std::max(static_cast<double>(ref[i]) / static_cast<double>(ref_total), kEpsilon);
    double c = std::max(static_cast<double>(cur[i]) / static_cast<double>(cur_total), kEpsilon);
    sum += (c - r) * std::log(c / r);
  }
  return sum;
}

// The categories seen in either window, sorted (so sums run in one order on every machine).
std::vector<std::string> categories(const Counts& a, const Counts& b) {
  std::set<std::string> all;
  for (const auto& [k, v] : a) all.insert(k);
  for (const auto& [k, v] : b) all.insert(k);
  return {all.begin(), all.end()};
}

uint64_t count_of(const Counts& c, const std::string& key) {
  auto it = c.find(key);
  return it == c.end() ? 0 : it->second;
}

uint64_t total_of(const Counts& c) {
  uint64_t total = 0;
  for (const auto& [k, v] : c) total += v;
  return total;
}

double log_gamma(double a) { return std::lgamma(a); }

// Regularized lower incomplete gamma P(a, x) by its series (x < a + 1).
double gamma_p_series(double a, double x) {
  double term = 1.0 / a, sum = term;
  for (int n = 1; n < 10000; ++n) {
    term *= x / (a + n);
    sum += term;
    if (std::fabs(term) < std::fabs(sum) * 1e-16) break;
  }
  return sum * std::exp(-x + a * std::log(x) - log_gamma(a));
}

// Regularized upper incomplete gamma Q(a, x) by its continued fraction (x >= a + 1), modified
// Lentz.
double gamma_q_fraction(double a, double x) {
  constexpr double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < 1e-16) break;
  }
  return std::exp(-x + a * std::log(x) - log_gamma(a)) * h;
}

}  // namespace

double psi(const stats::Cdf& reference, const stats::Cdf& current) {
  std::vector<double> edges;
  for (int i = 1; i < kPsiBins; ++i) {
    double d = reference.quantile(static_cast<double>(i) / kPsiBins);
    if (edges.empty() || d > edges.back()) edges.push_back(d);
  }
  std::vector<uint64_t> ref, cur;
  uint64_t ref_below = 0, cur_below = 0;
  for (double e : edges) {
    uint64_t r = reference.count_le(e), c = current.count_le(e);
    ref.push_back(r - ref_below);
    cur.push_back(c - cur_below);
    ref_below = r;
    cur_below = c;
  }
  ref.push_back(reference.total() - ref_below);
  cur.push_back(current.total() - cur_below);
  return psi_of_counts(ref, cur, reference.total(), current.total());
}

TestResult ks(const stats::Cdf& reference, const stats::Cdf& current) {
  double n = static_cast<double>(reference.total()), m = static_cast<double>(current.total());
  double d = 0;
  const auto& a = reference.values();
  const auto& b = current.values();
  size_t i = 0, j = 0;
  uint64_t ca = 0, cb = 0;
  while (i < a.size() || j < b.size()) {
    // Step both CDFs past the next value x (the smaller of the two heads), then compare.
    double x = j == b.size() || (i < a.size() && a[i].value <= b[j].value) ? a[i].value : b[j].value;
    while (i < a.size() && a[i].value == x) ca += a[i++].weight;
    while (j < b.size() && b[j].value == x) cb += b[j++].weight;
    d = std::max(d, std::fabs(static_cast<double>(ca) / n - static_cast<double>(cb) / m));
  }
  return {d, kolmogorov_sf(d * std::sqrt(n * m / (n + m)))};
}

double wasserstein(const stats::Cdf& reference, const stats::Cdf& current) {
  double n = static_cast<double>(reference.total()), m = static_cast<double>(current.total());
  const auto& a = reference.values();
  const auto& b = current.values();
  size_t i = 0, j = 0;
  uint64_t ca = 0, cb = 0;
  double area = 0, previous = 0;
  bool started = false;
  while (i < a.size() || j < b.size()) {
    double x = j == b.size() || (i < a.size() && a[i].value <= b[j].value) ? a[i].value : b[j].value;
    if (started) area += std::fabs(static_cast<double>(ca) / n - static_cast<double>(cb) / m) * (x - previous);
    while (i < a.size() && a[i].value == x) ca += a[i++].weight;
    while (j < b.size() && b[j].value == x) cb += b[j++].weight;
    previous = x;
    started = true;
  }
  return area;
}

double psi(const Counts& reference, const Counts& current) {
  std::vector<uint64_t> ref, cur;
  for (const auto& k : categories(reference, current)) {
    ref.push_back(count_of(reference, k));
    cur.push_back(count_of(current, k));
  }
  return psi_of_counts(ref, cur, total_of(reference), total_of(current));
}

TestResult chi_square(const Counts& reference, const Counts& current) {
  auto keys = categories(reference, current);
  if (keys.size() < 2) return {0, 1};
  double ref_total = static_cast<double>(total_of(reference)), cur_total = static_cast<double>(total_of(current));
  double total = ref_total + cur_total, statistic = 0;
  for (const auto& k : keys) {
    double r = static_cast<double>(count_of(reference, k)), c = static_cast<double>(count_of(current, k));
    double column = r + c;
    double expected_r = ref_total * column / total, expected_c = cur_total * column / total;
    statistic += (r - expected_r) * (r - expected_r) / expected_r + (c - expected_c) * (c - expected_c) / expected_c;
  }
  return {statistic, chi2_sf(statistic, static_cast<double>(keys.size() - 1))};
}

double jensen_shannon(const Counts& reference, const Counts& current) {
  double ref_total = static_cast<double>(total_of(reference)), cur_total = static_cast<double>(total_of(current));
  double divergence = 0;
  for (const auto& k : categories(reference, current)) {
    double p = static_cast<double>(count_of(reference, k)) / ref_total;
    double q = static_cast<double>(count_of(current, k)) / cur_total;
    double mid = (p + q) / 2;
    if (p > 0) divergence += 0.5 * p * std::log2(p / mid);
    if (q > 0) divergence += 0.5 * q * std::log2(q / mid);
  }
  return std::sqrt(std::clamp(divergence, 0.0, 1.0));
}

double kolmogorov_sf(double x) {
  if (x <= 0) return 1;
  if (x < 1) {
    // P(K <= x) = sqrt(2 pi) / x * sum exp(-(2k - 1)^2 pi^2 / (8 x^2)), fast for small x.
    double sum = 0;
    for (int k = 1; k < 100; ++k) {
      double term = std::exp(-(2.0 * k - 1) * (2.0 * k - 1) * kPi * kPi / (8 * x * x));
      sum += term;
      if (term < 1e-17) break;
    }
    return std::clamp(1 - std::sqrt(2 * kPi) / x * sum, 0.0, 1.0);
  }
  // P(K > x) = 2 sum (-1)^(k-1) exp(-2 k^2 x^2), fast for large x.
  double sum = 0;
  for (int k = 1; k < 100; ++k) {
    double term = std::exp(-2.0 * k * k * x * x);
    sum += (k % 2 ? 2 : -2) * term;
    if (term < 1e-17) break;
  }
  return std::clamp(sum, 0.0, 1.0);
}

double chi2_sf(double x, double dof) {
  if (x <= 0) return 1;
  double a = dof / 2, half = x / 2;
  double q = half < a + 1 ? 1 - gamma_p_series(a, half) : gamma_q_fraction(a, half);
  return std::clamp(q, 0.0, 1.0);
}

}  // namespace fstore::drift
