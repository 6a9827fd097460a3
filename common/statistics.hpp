// Feature statistics in one pass (API.md "Statistics, drift and monitors", docs/monitoring.md):
// the accumulators behind fstore.compute_statistics and fstore.feature_drift. Pure C++, no
// PostgreSQL, so every bound stated in the docs is checked by unit tests on millions of values.
//
//   Moments        count, mean and sample stddev (Welford), min and max of the finite values
//   QuantileSketch every finite value while it holds at most `capacity` of them (then exact),
//                  else a deterministic compaction sketch whose rank error it reports
//   Cdf            the sketch's sorted weighted values: quantiles, counts at or below a value
//   DistinctCounter exact up to 100,000 distinct values, then HyperLogLog (p = 14)
//   TopValues      exact counts up to `capacity` categories, then Misra-Gries (counts may be low
//                  by at most the reported error)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace fstore::stats {

// Mean and sample standard deviation of the finite values (Welford's update, stable for large
// and shifted values), their min and max; NaN and infinities are counted aside.
class Moments {
 public:
  void add(double x);
  uint64_t finite() const { return n_; }
  uint64_t nan() const { return nan_; }
  uint64_t infinite() const { return infinite_; }
  std::optional<double> mean() const;
  std::optional<double> stddev() const;  // stddev_samp: NULL below two values
  std::optional<double> min() const;
  std::optional<double> max() const;

 private:
  uint64_t n_ = 0, nan_ = 0, infinite_ = 0;
  double mean_ = 0, m2_ = 0, min_ = 0, max_ = 0;
};

// A value of the sketch with the number of input values it stands for.
struct WeightedValue {
  double value;
  uint64_t weight;
};

// The finite values of one feature. Exact while it holds at most `capacity` values; past that,
// level h keeps values of weight 2^h, and a full level is sorted and halved (every other value
// kept, alternating which) into level h + 1. One halving at level h moves any rank by at most
// 2^h, so the sum of those is a proven bound on every rank error (rank_error()).
class QuantileSketch {
 public:
  static constexpr size_t kDefaultCapacity = size_t{1} << 17;
  explicit QuantileSketch(size_t capacity = kDefaultCapacity);
  void add(double x);
  uint64_t count() const { return count_; }
  bool exact() const { return rank_error_ == 0; }
  uint64_t rank_error() const { return rank_error_; }  // max |estimated rank - true rank|
  size_t memory_bytes() const;
  // The values, sorted, equal values merged.
  std::vector<WeightedValue> sorted() const;

 private:
  void compact(size_t level);

  size_t capacity_;
  std::vector<std::vector<double>> levels_;  // levels_[0] unsorted; the others sorted
  std::vector<bool> keep_odd_;               // per level: which half the next halving keeps
  std::vector<double> merge_buffer_;         // reused by compact()
  uint64_t count_ = 0;
  uint64_t rank_error_ = 0;
};

// Sorted weighted values with their running totals: ranks, counts and quantiles.
class Cdf {
 public:
  explicit Cdf(std::vector<WeightedValue> sorted);
  uint64_t total() const { return total_; }
  bool empty() const { return total_ == 0; }
  const std::vector<WeightedValue>& values() const { return values_; }
  // The value at 0-based rank r (r < total).
  double at_rank(uint64_t r) const;
  // The q-quantile (0 <= q <= 1) by percentile_cont's rule: linear interpolation between the
  // values at ranks floor and ceil of q * (total - 1).
  double quantile(double q) const;
  // How many values are <= x, and < x.
  uint64_t count_le(double x) const;
  uint64_t count_lt(double x) const;

 private:
  std::vector<WeightedValue> values_;
  std::vector<uint64_t> cumulative_;  // weight of values_[0..i]
  uint64_t total_ = 0;
};

// An equal-width histogram of [min, max]: `edges` has one more entry than `counts`; the last bin
// includes max. A single value gives one bin [v, v].
struct Histogram {
  std::vector<double> edges;
  std::vector<uint64_t> counts;
};
constexpr int kHistogramBins = 20;
Histogram histogram(const Cdf& cdf, int bins = kHistogramBins);

// 64-bit hashes of values for DistinctCounter and TopValues (splitmix64 finalizer).
uint64_t hash_double(double x);  // -0 and 0 are one value, every NaN is one value
uint64_t hash_bytes(std::string_view bytes);
uint64_t hash_integer(int64_t x);

// Distinct values by their 64-bit hashes: exact (a set of hashes; a collision among 100,000
// values has probability below 1e-9) up to kExactLimit, then HyperLogLog with 2^14 registers
// (standard error 1.04 / sqrt(2^14) = 0.81%).
class DistinctCounter {
 public:
  static constexpr size_t kExactLimit = 100000;
  static constexpr int kPrecision = 14;
  void add(uint64_t hash);
  uint64_t estimate() const;
  bool exact() const { return registers_.empty(); }

 private:
  void add_register(uint64_t hash);
  std::unordered_set<uint64_t> exact_;
  std::vector<uint8_t> registers_;
};

// Counts of categories (by their text). Exact while at most `capacity` distinct ones were seen;
// past that, Misra-Gries: when the table is full, every count drops by the median count and the
// empty ones go, so a reported count is low by at most error() and any category more frequent
// than total / capacity is kept.
class TopValues {
 public:
  static constexpr size_t kDefaultCapacity = 10000;
  explicit TopValues(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}
  void add(std::string_view value);
  bool exact() const { return error_ == 0; }
  uint64_t error() const { return error_; }
  // The `n` most frequent, by count descending then value ascending.
  std::vector<std::pair<std::string, uint64_t>> top(size_t n) const;
  const std::unordered_map<std::string, uint64_t>& counts() const { return counts_; }

 private:
  void reduce();
  size_t capacity_;
  std::unordered_map<std::string, uint64_t> counts_;
  uint64_t error_ = 0;
};

}  // namespace fstore::stats
