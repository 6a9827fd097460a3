// Reading a feature view whole in batches (extension/view_reader.hpp).
#include "view_reader.hpp"

#include <algorithm>

#include "statistics.hpp"

extern "C" {
#include "access/tableam.h"
#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

namespace fstore::viewread {

using fstore::Error;
using fstore::pg_guard;

bool numeric_type(Oid type) {
  switch (type) {
    case INT2OID: case INT4OID: case INT8OID: case FLOAT4OID: case FLOAT8OID: case NUMERICOID: return true;
    default: return false;
  }
}

ViewReader::ViewReader(const std::string& view, const std::vector<std::string>& features, int64_t lo, int64_t hi)
    : lo_(lo), hi_(hi) {
  plan_.name = view;
  training::read_view_registry(plan_);
  for (const auto& name : features) {
    plan_.features.push_back(features_.size());
    features_.push_back(training::FeaturePlan{view, name, name});
  }
  // Only the partitions that can hold [lo, hi): the reach is [lo, hi - 1], or empty.
  plan_.reach_lo = hi > lo ? lo : 1;
  plan_.reach_hi = hi > lo ? hi - 1 : 0;
  training::open_view(plan_, features_);  // checks columns, privileges, RLS; binds the partitions
  for (const auto& f : features_) {
    types_.push_back(f.type);
    Oid output = InvalidOid;
    bool varlena = false;
    pg_guard([&] { getTypeOutputInfo(f.type, &output, &varlena); });
    output_functions_.push_back(output);
  }
  scan_cxt_ = CurrentMemoryContext;
  batch_cxt_ = pg_guard([] {
    return AllocSetContextCreate(CurrentMemoryContext, "fstore view batch", ALLOCSET_DEFAULT_SIZES);
  });
}

ViewReader::~ViewReader() {
  try {
    close_source();
    training::close_view(plan_);
    if (batch_cxt_) pg_guard([&] { MemoryContextDelete(batch_cxt_); });
  } catch (...) {
    // Closing after an error: the transaction's abort releases what is left.
  }
}

// Starts reading source `index`. Its scan and slot live in the reader's own context, not in the
// batch context that every batch resets.
void ViewReader::open_source(size_t index) {
  Relation rel = plan_.sources[index].rel;
  MemoryContext outer = MemoryContextSwitchTo(scan_cxt_);
  slot_ = table_slot_create(rel, nullptr);
  scan_ = table_beginscan(rel, GetActiveSnapshot(), 0, nullptr);
  MemoryContextSwitchTo(outer);
}

void ViewReader::close_source() {
  if (!scan_) return;
  pg_guard([&] {
    table_endscan(scan_);
    ExecDropSingleTupleTableSlot(slot_);
  });
  scan_ = nullptr;
  slot_ = nullptr;
}

bool ViewReader::next(Batch& batch) {
  batch.rows = 0;
  batch.times.clear();
  batch.columns.resize(features_.size());
  for (auto& c : batch.columns) {
    c.nulls.clear();
    c.numbers.clear();
    c.hashes.clear();
    c.texts.clear();
  }
  if (done_) return false;
  pg_guard([&] { fill(batch); });
  return batch.rows > 0 || !done_;
}

// Fills `batch` from the current source onwards; runs inside pg_guard (C++ here only appends to
// vectors reserved up front).
void ViewReader::fill(Batch& batch) {
  CHECK_FOR_INTERRUPTS();
  MemoryContextReset(batch_cxt_);
  MemoryContext outer = MemoryContextSwitchTo(batch_cxt_);
  batch.times.reserve(kBatchRows);
  for (auto& c : batch.columns) {
    c.nulls.reserve(kBatchRows);
    c.numbers.reserve(kBatchRows);
    c.hashes.reserve(kBatchRows);
    c.texts.reserve(kBatchRows);
  }
  uint64_t skipped = 0;
  while (batch.rows < kBatchRows) {
    if (!scan_) {
      if (source_ == plan_.sources.size()) {
        done_ = true;
        break;
      }
      open_source(source_);
    }
    if (!table_scan_getnextslot(scan_, ForwardScanDirection, slot_)) {
      table_endscan(scan_);
      ExecDropSingleTupleTableSlot(slot_);
      scan_ = nullptr;
      slot_ = nullptr;
      ++source_;
      continue;
    }
    const training::ViewSource& s = plan_.sources[source_];
    slot_getsomeattrs(slot_, s.ts_att);
    if (slot_->tts_isnull[s.ts_att - 1]) continue;
    int64_t ts = DatumGetTimestampTz(slot_->tts_values[s.ts_att - 1]);
    if (ts < lo_ || ts >= hi_) {
      if ((++skipped % training::kInterruptEvery) == 0) CHECK_FOR_INTERRUPTS();
      continue;
    }
    slot_getsomeattrs(slot_, *std::max_element(s.feature_atts.begin(), s.feature_atts.end()));
    batch.times.push_back(ts);
    for (size_t j = 0; j < features_.size(); ++j) {
      Column& c = batch.columns[j];
      int att = s.feature_atts[j] - 1;
      bool isnull = slot_->tts_isnull[att];
      c.nulls.push_back(isnull);
      if (isnull) continue;
      Datum d = slot_->tts_values[att];
      Oid type = types_[j];
      switch (type) {
        case INT2OID: c.numbers.push_back(DatumGetInt16(d)); c.hashes.push_back(stats::hash_integer(DatumGetInt16(d))); break;
        case INT4OID: c.numbers.push_back(DatumGetInt32(d)); c.hashes.push_back(stats::hash_integer(DatumGetInt32(d))); break;
        case INT8OID:
          c.numbers.push_back(static_cast<double>(DatumGetInt64(d)));
          c.hashes.push_back(stats::hash_integer(DatumGetInt64(d)));
          break;
        case FLOAT4OID: c.numbers.push_back(DatumGetFloat4(d)); c.hashes.push_back(stats::hash_double(c.numbers.back())); break;
        case FLOAT8OID: c.numbers.push_back(DatumGetFloat8(d)); c.hashes.push_back(stats::hash_double(c.numbers.back())); break;
        case NUMERICOID:
          c.numbers.push_back(DatumGetFloat8(DirectFunctionCall1(numeric_float8, d)));
          c.hashes.push_back(stats::hash_double(c.numbers.back()));
          break;
        case BOOLOID: c.texts.emplace_back(DatumGetBool(d) ? "true" : "false"); break;
        case TEXTOID: case VARCHAROID: case BPCHAROID: {
          text* t = DatumGetTextPP(d);  // detoasted into the batch context when needed
          c.texts.emplace_back(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
          break;
        }
        default: c.texts.emplace_back(OidOutputFunctionCall(output_functions_[j], d)); break;
      }
    }
    ++batch.rows;
  }
  MemoryContextSwitchTo(outer);
}

}  // namespace fstore::viewread
