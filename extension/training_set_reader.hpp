// Reading one source of a feature view (its table, or one of its partitions) into the
// point-in-time matcher: by a sequential scan (also a parallel one, shared with workers), key by
// key through a (key, ...) index, or one probe per entity row through a (key, event time, ...)
// index. Used by the leader (extension/training_set_scan.cpp) and by the parallel workers
// (extension/training_set_parallel.cpp).
#pragma once

#include <vector>

#include "training_set.hpp"

extern "C" {
#include "access/relscan.h"
#include "executor/tuptable.h"
#include "storage/itemptr.h"
}

namespace fstore::training {

// A row's id: source index, block and offset; greater ids win full ties. The same on every path
// and in every process, so ties break the same way however a view is read.
inline uint64_t row_id(size_t source, ItemPointer tid) {
  return (static_cast<uint64_t>(source) << 48) |
         (static_cast<uint64_t>(ItemPointerGetBlockNumberNoCheck(tid)) << 16) | ItemPointerGetOffsetNumberNoCheck(tid);
}

inline size_t row_id_source(uint64_t id) { return static_cast<size_t>(id >> 48); }

inline void row_id_to_tid(uint64_t id, ItemPointer tid) {
  ItemPointerSet(tid, static_cast<BlockNumber>((id >> 16) & 0xFFFFFFFFULL), static_cast<OffsetNumber>(id & 0xFFFF));
}

// How a source is read: the whole table in physical order; its (key, ...) btree index probed once
// per distinct key of the entity rows (that key's whole history); or, with a (key, event time, ...)
// index, probed once per entity row backwards from its time (the newest rows at or before it).
// `fstore.training_set_scan` = auto | seq | index | probe.
enum class ScanPath { Sequential, Index, Probe };

// Offers the rows of one source to the matcher, in batches; see match_view.
class SourceReader {
 public:
  SourceReader(const ViewPlan& v, EntityPlan& e, ViewMatch& match, MemoryContext engine)
      : v_(v), e_(e), match_(match), engine_(engine), width_(v.features.size()),
        capture_(match.captured_values != nullptr),
        batch_values_(capture_ ? pit::kBatch * width_ : 0), batch_nulls_(batch_values_.size()) {}

  // Reads source number `index` by `path` (`index_oid`: the key index of the Index and Probe
  // paths). A sequential read with `shared` set takes its part of that parallel scan (the
  // snapshot is the scan's own). Must run inside pg_guard.
  void read(size_t index, Snapshot snapshot, ScanPath path, Oid index_oid, ParallelTableScanDesc shared = nullptr);

 private:
  void take(TupleTableSlot* slot, uint32_t known_id);
  void flush();
  void read_index(Relation index_rel, Snapshot snapshot, TupleTableSlot* slot);
  void read_probe(Relation index_rel, Snapshot snapshot, TupleTableSlot* slot);
  void take_row(TupleTableSlot* slot, uint32_t known_id);

  const ViewPlan& v_;
  EntityPlan& e_;
  ViewMatch& match_;
  MemoryContext engine_;
  size_t width_;
  bool capture_;
  // The source being read.
  const ViewSource* src_ = nullptr;
  size_t index_ = 0;
  Oid key_type_ = InvalidOid;
  bool resolve_in_matcher_ = false;
  AttrNumber last_att_ = 0;
  MemoryContext row_cxt_ = nullptr;
  uint64_t rows_ = 0;
  // The batch of offers.
  int64_t raw_keys_[pit::kBatch];
  uint32_t key_ids_[pit::kBatch];
  uint32_t placed_[pit::kBatch];
  pit::Version versions_[pit::kBatch];
  std::vector<Datum> batch_values_;
  std::vector<char> batch_nulls_;
  size_t batched_ = 0;
};

}  // namespace fstore::training
