// The one-pass accumulators of common/statistics.hpp.
#include "statistics.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <iterator>
#include <limits>

namespace fstore::stats {

namespace {

// The bits of a double as an unsigned key that orders like the double (negatives flipped).
uint64_t order_key(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return (bits >> 63) ? ~bits : bits ^ (uint64_t{1} << 63);
}

// Sorts doubles (no NaN) ascending: a least-significant-digit radix sort over 11-bit digits of
// their order keys, skipping digits every value shares; several times faster than std::sort on
// the sketch's level 0, which dominates compute_statistics.
void radix_sort(std::vector<double>& values) {
  constexpr int kBits = 11, kPasses = 6;
  constexpr size_t kBuckets = size_t{1} << kBits;
  size_t n = values.size();
  if (n < 256) {
    std::sort(values.begin(), values.end());
    return;
  }
  std::vector<uint64_t> keys(n), scratch(n);
  std::vector<uint32_t> counts(kPasses * kBuckets, 0);
  for (size_t i = 0; i < n; ++i) {
    keys[i] = order_key(values[i]);
    for (int p = 0; p < kPasses; ++p) ++counts[p * kBuckets + ((keys[i] >> (p * kBits)) & (kBuckets - 1))];
  }
  for (int p = 0; p < kPasses; ++p) {
    uint32_t* c = &counts[p * kBuckets];
    if (*std::max_element(c, c + kBuckets) == n) continue;  // every key has this digit: nothing to do
    uint32_t sum = 0;
    for (size_t b = 0; b < kBuckets; ++b) {
      uint32_t here = c[b];
      c[b] = sum;
      sum += here;
    }
    for (size_t i = 0; i < n; ++i) scratch[c[(keys[i] >> (p * kBits)) & (kBuckets - 1)]++] = keys[i];
    keys.swap(scratch);
  }
  for (size_t i = 0; i < n; ++i) {
    uint64_t k = keys[i];
    uint64_t bits = (k >> 63) ? k ^ (uint64_t{1} << 63) : ~k;
    std::memcpy(&values[i], &bits, sizeof bits);
  }
}

}  // namespace

void Moments::add(double x) {
  if (std::isnan(x)) { ++nan_; return; }
  if (std::isinf(x)) { ++infinite_; return; }
  ++n_;
  if (n_ == 1) {
    min_ = max_ = x;
  } else {
    min_ = std::min(min_, x);
    max_ = std::max(max_, x);
  }
  double delta = x - mean_;
  mean_ += delta / static_cast<double>(n_);
  m2_ += delta * (x - mean_);
}

std::optional<double> Moments::mean() const {
  if (n_ == 0) return std::nullopt;
  return mean_;
}

std::optional<double> Moments::stddev() const {
  if (n_ < 2) return std::nullopt;
  double variance = m2_ / static_cast<double>(n_ - 1);
  return std::sqrt(std::max(0.0, variance));
}

std::optional<double> Moments::min() const { return n_ ? std::optional<double>(min_) : std::nullopt; }
std::optional<double> Moments::max() const { return n_ ? std::optional<double>(max_) : std::nullopt; }

QuantileSketch::QuantileSketch(size_t capacity) : capacity_(std::max<size_t>(capacity, 2) & ~size_t{1}) {
  levels_.emplace_back();
  keep_odd_.push_back(false);
}

void QuantileSketch::add(double x) {
  ++count_;
  levels_[0].push_back(x);
  if (levels_[0].size() >= capacity_) compact(0);
}

// Halves level `level` into the next one: sorted, every other value kept (alternating which, so
// the errors of successive halvings tend to cancel), merged into the sorted level above. An odd
// value out (the largest) stays behind at its own weight.
void QuantileSketch::compact(size_t level) {
  if (levels_.size() == level + 1) {
    levels_.emplace_back();
    keep_odd_.push_back(false);
  }
  std::vector<double>& here = levels_[level];
  if (level == 0) radix_sort(here);
  size_t paired = here.size() & ~size_t{1};
  // The survivors move to the front of this level, the odd value out after them.
  size_t kept = 0;
  for (size_t i = keep_odd_[level] ? 1 : 0; i < paired; i += 2) here[kept++] = here[i];
  keep_odd_[level] = !keep_odd_[level];
  rank_error_ += uint64_t{1} << level;
  std::vector<double>& above = levels_[level + 1];
  merge_buffer_.clear();
  merge_buffer_.reserve(above.size() + kept);
  std::merge(above.begin(), above.end(), here.begin(), here.begin() + static_cast<std::ptrdiff_t>(kept),
             std::back_inserter(merge_buffer_));
  above.swap(merge_buffer_);
  if (paired < here.size()) here[0] = here.back();
  here.resize(here.size() - paired);
  if (above.size() >= capacity_) compact(level + 1);
}

size_t QuantileSketch::memory_bytes() const {
  size_t bytes = merge_buffer_.capacity() * sizeof(double);
  for (const auto& l : levels_) bytes += l.capacity() * sizeof(double);
  return bytes;
}

std::vector<WeightedValue> QuantileSketch::sorted() const {
  // Every level is sorted (level 0 on a copy): merge them, lowest weight first.
  auto by_value = [](const WeightedValue& a, const WeightedValue& b) { return a.value < b.value; };
  std::vector<WeightedValue> all, level, next;
  for (size_t h = 0; h < levels_.size(); ++h) {
    std::vector<double> values = levels_[h];
    if (h == 0) radix_sort(values);
    level.clear();
    for (double v : values) level.push_back({v, uint64_t{1} << h});
    next.clear();
    next.reserve(all.size() + level.size());
    std::merge(all.begin(), all.end(), level.begin(), level.end(), std::back_inserter(next), by_value);
    all.swap(next);
  }
  std::vector<WeightedValue> merged;
  for (const auto& w : all) {
    if (!merged.empty() && merged.back().value == w.value) merged.back().weight += w.weight;
    else merged.push_back(w);
  }
  return merged;
}

Cdf::Cdf(std::vector<WeightedValue> sorted) : values_(std::move(sorted)) {
  cumulative_.reserve(values_.size());
  for (const auto& v : values_) {
    total_ += v.weight;
    cumulative_.push_back(total_);
  }
}

double Cdf::at_rank(uint64_t r) const {
  auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), r);
  if (it == cumulative_.end()) return values_.back().value;
  return values_[static_cast<size_t>(it - cumulative_.begin())].value;
}

double Cdf::quantile(double q) const {
  double position = q * static_cast<double>(total_ - 1);
  double first_rank = std::floor(position);
  double first = at_rank(static_cast<uint64_t>(first_rank));
  double second = at_rank(static_cast<uint64_t>(std::ceil(position)));
  return first + (position - first_rank) * (second - first);  // PostgreSQL's float8 lerp
}

uint64_t Cdf::count_le(double x) const {
  auto it = std::upper_bound(values_.begin(), values_.end(), x,
                             [](double v, const WeightedValue& w) { return v < w.value; });
  size_t n = static_cast<size_t>(it - values_.begin());
  return n ? cumulative_[n - 1] : 0;
}

uint64_t Cdf::count_lt(double x) const {
  auto it = std::lower_bound(values_.begin(), values_.end(), x,
                             [](const WeightedValue& w, double v) { return w.value < v; });
  size_t n = static_cast<size_t>(it - values_.begin());
  return n ? cumulative_[n - 1] : 0;
}

Histogram histogram(const Cdf& cdf, int bins) {
  Histogram h;
  if (cdf.empty()) return h;
  double lo = cdf.values().front().value, hi = cdf.values().back().value;
  if (lo == hi) {
    h.edges = {lo, hi};
    h.counts = {cdf.total()};
    return h;
  }
  for (int i = 0; i <= bins; ++i) {
    double t = static_cast<double>(i) / bins;
    h.edges.push_back(i == bins ? hi : lo * (1 - t) + hi * t);  // no overflow for any finite range
  }
  for (int i = 0; i < bins; ++i) {
    uint64_t below_next = i + 1 == bins ? cdf.total() : cdf.count_lt(h.edges[i + 1]);
    h.counts.push_back(below_next - cdf.count_lt(h.edges[i]));
  }
  return h;
}

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t hash_double(double x) {
  if (x == 0) x = 0.0;
  if (std::isnan(x)) x = std::numeric_limits<double>::quiet_NaN();
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return splitmix64(bits);
}

uint64_t hash_integer(int64_t x) { return splitmix64(static_cast<uint64_t>(x)); }

uint64_t hash_bytes(std::string_view bytes) { return splitmix64(std::hash<std::string_view>{}(bytes)); }

void DistinctCounter::add(uint64_t hash) {
  if (!registers_.empty()) {
    add_register(hash);
    return;
  }
  exact_.insert(hash);
  if (exact_.size() <= kExactLimit) return;
  registers_.assign(size_t{1} << kPrecision, 0);
  for (uint64_t h : exact_) add_register(h);
  exact_.clear();
  exact_.rehash(0);
}

// HyperLogLog: the top bits pick a register, which keeps the longest run of leading zeros + 1 seen
// in the remaining bits.
void DistinctCounter::add_register(uint64_t hash) {
  size_t index = static_cast<size_t>(hash >> (64 - kPrecision));
  uint64_t rest = (hash << kPrecision) | (uint64_t{1} << (kPrecision - 1));  // never all zero
  uint8_t rank = static_cast<uint8_t>(__builtin_clzll(rest) + 1);
  registers_[index] = std::max(registers_[index], rank);
}

uint64_t DistinctCounter::estimate() const {
  if (registers_.empty()) return exact_.size();
  double m = static_cast<double>(registers_.size());
  double sum = 0;
  size_t zeros = 0;
  for (uint8_t r : registers_) {
    sum += std::ldexp(1.0, -r);
    zeros += r == 0;
  }
  double estimate = 0.7213 / (1 + 1.079 / m) * m * m / sum;
  if (estimate <= 2.5 * m && zeros > 0) estimate = m * std::log(m / static_cast<double>(zeros));  // small range
  return static_cast<uint64_t>(std::llround(estimate));
}

void TopValues::add(std::string_view value) {
  auto it = counts_.find(std::string(value));
  if (it != counts_.end()) {
    ++it->second;
    return;
  }
  counts_.emplace(std::string(value), 1);
  if (counts_.size() > capacity_) reduce();
}

// Misra-Gries reduction: every count drops by the median count; categories left at zero go.
void TopValues::reduce() {
  std::vector<uint64_t> all;
  all.reserve(counts_.size());
  for (const auto& [value, count] : counts_) all.push_back(count);
  auto middle = all.begin() + static_cast<std::ptrdiff_t>(all.size() / 2);
  std::nth_element(all.begin(), middle, all.end());
  uint64_t drop = *middle;
  for (auto it = counts_.begin(); it != counts_.end();) {
    if (it->second <= drop) {
      it = counts_.erase(it);
    } else {
      it->second -= drop;
      ++it;
    }
  }
  error_ += drop;
}

std::vector<std::pair<std::string, uint64_t>> TopValues::top(size_t n) const {
  std::vector<std::pair<std::string, uint64_t>> all(counts_.begin(), counts_.end());
  auto order = [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; };
  n = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(), order);
  all.resize(n);
  return all;
}

}  // namespace fstore::stats
