// SourceReader (extension/training_set_reader.hpp): one source of a view into the matcher.
#include <algorithm>

#include "training_set_reader.hpp"

extern "C" {
#include "access/genam.h"
#include "access/itup.h"
#include "access/nbtree.h"
#include "access/skey.h"
#include "access/tableam.h"
#include "catalog/pg_type_d.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
}

namespace fstore::training {

namespace {

// The key of id `id` as a Datum of the view's key type, for an index probe; false when an integer
// key does not fit that type (then the key has no rows).
bool probe_datum(const EntityPlan& e, Oid view_key_type, uint32_t id, Datum& out) {
  Datum value = e.key_values[id];
  if (key_kind(view_key_type) != KeyKind::Integer) {
    out = value;  // text and varchar share one representation; uuid is uuid
    return true;
  }
  int64_t v = e.entity_att_type == INT8OID ? DatumGetInt64(value)
              : e.entity_att_type == INT4OID ? DatumGetInt32(value) : DatumGetInt16(value);
  switch (view_key_type) {
    case INT8OID: out = Int64GetDatum(v); return true;
    case INT4OID: out = Int32GetDatum(static_cast<int32>(v)); return v >= PG_INT32_MIN && v <= PG_INT32_MAX;
    default: out = Int16GetDatum(static_cast<int16>(v)); return v >= PG_INT16_MIN && v <= PG_INT16_MAX;
  }
}

// A btree scan key on index column `column` (1-based) with that column's operator for `strategy`
// and its collation: a key compared in another collation (C, say) than the index is sorted by
// descends to the wrong leaf and misses rows.
ScanKeyData index_key(Relation index_rel, int column, StrategyNumber strategy, Datum argument) {
  Oid type = index_rel->rd_opcintype[column - 1];
  RegProcedure proc = get_opcode(get_opfamily_member(index_rel->rd_opfamily[column - 1], type, type, strategy));
  ScanKeyData key;
  ScanKeyEntryInitialize(&key, 0, static_cast<AttrNumber>(column), strategy, InvalidOid,
                         index_rel->rd_indcollation[column - 1], proc, argument);
  return key;
}


}  // namespace


// Offers the batch to the matcher and keeps the captured values of the rows that won a place.
void SourceReader::flush() {
  pit::ViewMatcher& matcher = *match_.matcher;
  if (resolve_in_matcher_) matcher.offer_batch(e_.dict, raw_keys_, versions_, batched_, placed_);
  else matcher.offer_batch(key_ids_, versions_, batched_, placed_);
  if (capture_) {
    // The places are random in arrays of millions of cells: ask for all of them before writing.
    for (size_t i = 0; i < batched_; ++i)
      if (placed_[i] != pit::kNoPosition) {
        __builtin_prefetch(&match_.captured_values[placed_[i] * width_], 1);
        __builtin_prefetch(&match_.captured_nulls[placed_[i] * width_], 1);
      }
    for (size_t i = 0; i < batched_; ++i)
      if (placed_[i] != pit::kNoPosition)
        for (size_t j = 0; j < width_; ++j) {
          match_.captured_values[placed_[i] * width_ + j] = batch_values_[i * width_ + j];
          match_.captured_nulls[placed_[i] * width_ + j] = batch_nulls_[i * width_ + j];
        }
  }
  batched_ = 0;
}

// Adds the row in `slot` to the batch; `known_id` is the key id when the path already knows it.
// A NULL created time ranks below every value (fstore::kNullCreated), as everywhere in fstore.
void SourceReader::take(TupleTableSlot* slot, uint32_t known_id) {
  const ViewSource& s = *src_;
  slot_getsomeattrs(slot, last_att_);
  if (slot->tts_isnull[s.key_att - 1] || slot->tts_isnull[s.ts_att - 1]) return;
  Datum key = slot->tts_values[s.key_att - 1];
  if (known_id != pit::kNoKey) {
    key_ids_[batched_] = known_id;
  } else if (resolve_in_matcher_) {
    raw_keys_[batched_] = key_type_ == INT8OID ? DatumGetInt64(key)
                          : key_type_ == INT4OID ? DatumGetInt32(key) : DatumGetInt16(key);
  } else {
    key_ids_[batched_] = key_id(e_.dict, key_type_, key, false);
    if (key_ids_[batched_] == pit::kNoKey) return;
  }
  pit::Version& version = versions_[batched_];
  version = {DatumGetTimestampTz(slot->tts_values[s.ts_att - 1]), fstore::kNullCreated, row_id(index_, &slot->tts_tid)};
  if (s.created_att && !slot->tts_isnull[s.created_att - 1])
    version.created_ts = DatumGetTimestampTz(slot->tts_values[s.created_att - 1]);
  if (capture_)
    for (size_t j = 0; j < width_; ++j) {
      batch_values_[batched_ * width_ + j] = slot->tts_values[s.feature_atts[j] - 1];
      batch_nulls_[batched_ * width_ + j] = slot->tts_isnull[s.feature_atts[j] - 1];
    }
  if (++batched_ == pit::kBatch) flush();
}

// take() in the per-row context (detoasted text keys), reset every kInterruptEvery rows.
void SourceReader::take_row(TupleTableSlot* slot, uint32_t known_id) {
  if ((++rows_ % kInterruptEvery) == 0) {
    CHECK_FOR_INTERRUPTS();
    MemoryContextReset(row_cxt_);
  }
  MemoryContext outer = MemoryContextSwitchTo(row_cxt_);
  take(slot, known_id);
  MemoryContextSwitchTo(outer);
}

// Each distinct key's whole history, through the index.
void SourceReader::read_index(Relation index_rel, Snapshot snapshot, TupleTableSlot* slot) {
  IndexScanDesc scan = index_beginscan(src_->rel, index_rel, snapshot, 1, 0);
  ScanKeyData skey = index_key(index_rel, 1, BTEqualStrategyNumber, 0);  // its operator looked up once
  for (uint32_t id = 0; id < e_.key_values.size(); ++id) {
    CHECK_FOR_INTERRUPTS();
    Datum probe;
    if (!probe_datum(e_, key_type_, id, probe)) continue;
    skey.sk_argument = probe;
    index_rescan(scan, &skey, 1, nullptr, 0);
    while (index_getnext_slot(scan, ForwardScanDirection, slot)) take_row(slot, id);
  }
  index_endscan(scan);
}

// Per entity row: backwards from (key, t), the rows of the newest event time <= t.
void SourceReader::read_probe(Relation index_rel, Snapshot snapshot, TupleTableSlot* slot) {
  IndexScanDesc scan = index_beginscan(src_->rel, index_rel, snapshot, 2, 0);
  scan->xs_want_itup = true;  // the event time (column 2) of each entry, before its heap fetch
  const pit::EntityTimeline& timeline = *e_.timeline;
  AttrNumber ts_att = src_->ts_att;
  // The keys' operators are looked up once; each probe only sets the arguments (btrescan copies them).
  ScanKeyData skeys[2] = {index_key(index_rel, 1, BTEqualStrategyNumber, 0),
                          index_key(index_rel, 2, BTLessEqualStrategyNumber, 0)};
  for (uint32_t id = 0; id < e_.key_values.size(); ++id) {
    Datum probe;
    if (!probe_datum(e_, key_type_, id, probe)) continue;
    for (size_t pos = timeline.begin_of(id); pos < timeline.end_of(id); ++pos) {
      int64_t t = timeline.time_at(pos);
      if (pos > timeline.begin_of(id) && timeline.time_at(pos - 1) == t) continue;  // same probe
      CHECK_FOR_INTERRUPTS();
      skeys[0].sk_argument = probe;
      skeys[1].sk_argument = TimestampTzGetDatum(t);
      index_rescan(scan, skeys, 2, nullptr, 0);
      bool found = false;
      int64_t newest = 0;
      // As index_getnext_slot, but the event time of each entry is read from the index first:
      // past the ties of the newest visible event time the scan stops without a heap fetch (the
      // LATERAL query's LIMIT 1 does not fetch that row either).
      for (;;) {
        if (!scan->xs_heap_continue) {
          if (!index_getnext_tid(scan, BackwardScanDirection)) break;
          bool null_time;
          Datum indexed = index_getattr(scan->xs_itup, 2, scan->xs_itupdesc, &null_time);
          if (found && (null_time || DatumGetTimestampTz(indexed) != newest)) break;
        }
        if (!index_fetch_heap(scan, slot)) continue;  // not visible to the snapshot
        slot_getsomeattrs(slot, ts_att);
        if (slot->tts_isnull[ts_att - 1]) continue;
        found = true;
        newest = DatumGetTimestampTz(slot->tts_values[ts_att - 1]);
        take_row(slot, id);
      }
    }
  }
  index_endscan(scan);
}

void SourceReader::read(size_t index, Snapshot snapshot, ScanPath path, Oid index_oid, ParallelTableScanDesc shared) {
  src_ = &v_.sources[index];
  index_ = index;
  Relation rel = src_->rel;
  key_type_ = TupleDescAttr(RelationGetDescr(rel), src_->key_att - 1)->atttypid;
  last_att_ = std::max({src_->key_att, src_->ts_att, src_->created_att});
  if (capture_) last_att_ = std::max(last_att_, *std::max_element(src_->feature_atts.begin(), src_->feature_atts.end()));
  // Integer keys of a sequential scan are resolved by the matcher, with prefetching; otherwise the
  // key id is known (index probe) or resolved here while the tuple is at hand (text, uuid).
  resolve_in_matcher_ = path == ScanPath::Sequential && key_kind(key_type_) == KeyKind::Integer;
  rows_ = 0;
  row_cxt_ = AllocSetContextCreate(engine_, "fstore view rows", ALLOCSET_DEFAULT_SIZES);
  TupleTableSlot* slot = table_slot_create(rel, nullptr);
  if (path == ScanPath::Sequential) {
    TableScanDesc scan = shared ? table_beginscan_parallel(rel, shared) : table_beginscan(rel, snapshot, 0, nullptr);
    while (table_scan_getnextslot(scan, ForwardScanDirection, slot)) take_row(slot, pit::kNoKey);
    table_endscan(scan);
  } else {
    Relation index_rel = index_open(index_oid, AccessShareLock);
    if (path == ScanPath::Index) read_index(index_rel, snapshot, slot);
    else read_probe(index_rel, snapshot, slot);
    index_close(index_rel, NoLock);
  }
  if (batched_) flush();
  ExecDropSingleTupleTableSlot(slot);
  MemoryContextDelete(row_cxt_);
  elog(DEBUG1, "fstore training set: view \"%s\", table \"%s\" read %s, " UINT64_FORMAT " rows", v_.name.c_str(),
       RelationGetRelationName(rel),
       path == ScanPath::Index   ? "through its key index, key by key"
       : path == ScanPath::Probe ? "through its key index, one probe per entity row"
                   : shared ? "sequentially, its part of a parallel scan"
                                 : "sequentially",
       rows_);
}

}  // namespace fstore::training
