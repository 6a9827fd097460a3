// A feature view read whole, for statistics and drift (extension/statistics.cpp): the view's
// table, or the leaf partitions of it that can hold the time window (view_partitions.hpp), scanned through the table access method as the
// training-set engine reads it (the same permission, row-level-security and column checks), in
// batches of plain C++ values so that the accumulators run outside the PostgreSQL error boundary.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "training_set.hpp"

extern "C" {
#include "access/relscan.h"
#include "executor/tuptable.h"
}

namespace fstore::viewread {

// How a feature's values arrive: numbers (the numeric SQL types) as doubles with a hash of the
// exact value; everything else as its text (booleans "true"/"false", others by their output
// function).
bool numeric_type(Oid type);

// One feature's values of a batch; `texts` point into memory valid until the next batch.
struct Column {
  std::vector<uint8_t> nulls;
  std::vector<double> numbers;
  std::vector<uint64_t> hashes;  // numbers: of the exact value (integers as integers)
  std::vector<std::string_view> texts;
};

struct Batch {
  size_t rows = 0;
  std::vector<int64_t> times;  // event_ts of each row
  std::vector<Column> columns; // one per feature, in the order asked for
};

class ViewReader {
 public:
  static constexpr size_t kBatchRows = 4096;
  // Opens `view` for reading `features` (their names; checked to exist); rows with
  // lo <= event_ts < hi are returned. Raises 42704, 42501 and the training set's refusals.
  ViewReader(const std::string& view, const std::vector<std::string>& features, int64_t lo, int64_t hi);
  ~ViewReader();
  ViewReader(const ViewReader&) = delete;
  ViewReader& operator=(const ViewReader&) = delete;

  const std::vector<Oid>& types() const { return types_; }
  // The next batch of rows; false at the end.
  bool next(Batch& batch);

 private:
  void open_source(size_t index);
  void close_source();
  void fill(Batch& batch);

  training::ViewPlan plan_;
  std::vector<training::FeaturePlan> features_;
  std::vector<Oid> types_;
  std::vector<Oid> output_functions_;  // per feature: its type's output function, for text
  int64_t lo_, hi_;
  MemoryContext scan_cxt_ = nullptr;   // where scans and slots live
  MemoryContext batch_cxt_ = nullptr;  // reset for every batch: detoasted values, texts
  size_t source_ = 0;
  TableScanDesc scan_ = nullptr;
  TupleTableSlot* slot_ = nullptr;
  bool done_ = false;
};

}  // namespace fstore::viewread
