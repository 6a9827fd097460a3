// One feature view of a training set: open its table, or the leaf partitions of a partitioned
// table that can hold the times asked for (extension/view_partitions.hpp), read every source by the cheapest path (sequential, key index, per-row probe), offer each
// row to the point-in-time matcher (common/pit_join.hpp), and fetch the winners' values.
//
// Permission and row-level-security checks apply to the registered table, as for a SELECT on it:
// PostgreSQL does not check a partition's own privileges or policies when it is read through its
// parent, and neither does fstore. Row ids carry the source's index in their top 16 bits, so rows
// of different partitions never share an id and ties break the same way on every path.
#include <algorithm>
#include <string>
#include <vector>

#include "settings.hpp"
#include "training_set.hpp"
#include "training_set_parallel.hpp"
#include "training_set_reader.hpp"
#include "view_partitions.hpp"

extern "C" {
#include "access/genam.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class_d.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type_d.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
}

namespace fstore::training {

using fstore::Error;
using fstore::pg_guard;

namespace {

constexpr size_t kMaxSources = 0xFFFF;  // row ids keep 16 bits for the source

// The column `name` of `rel` (not dropped), or 0.
AttrNumber find_column(Relation rel, const std::string& name) {
  TupleDesc desc = RelationGetDescr(rel);
  for (int i = 0; i < desc->natts; ++i) {
    auto* a = TupleDescAttr(desc, i);
    if (!a->attisdropped && name == NameStr(a->attname)) return static_cast<AttrNumber>(i + 1);
  }
  return 0;
}

// Binds the view's columns in one source relation; `want` gives the type each must have (the
// registered table's), InvalidOid where any type goes.
ViewSource bind_source(const ViewPlan& v, const std::vector<FeaturePlan>& features, Relation rel) {
  auto bind = [&](const std::string& name, Oid want) -> AttrNumber {
    AttrNumber att = find_column(rel, name);
    if (!att)
      throw Error(ERRCODE_UNDEFINED_COLUMN, "feature view \"" + v.name + "\": table \"" +
                                                RelationGetRelationName(rel) + "\" has no column \"" + name + "\"");
    if (OidIsValid(want) && TupleDescAttr(RelationGetDescr(rel), att - 1)->atttypid != want)
      throw Error(ERRCODE_DATATYPE_MISMATCH, "feature view \"" + v.name + "\": column \"" + name + "\" of table \"" +
                                                 RelationGetRelationName(rel) + "\" has an unexpected type");
    return att;
  };
  ViewSource s;
  s.rel = rel;
  s.key_att = bind(v.key_column, InvalidOid);
  // The key is matched as the entity's kind (integer, bytes, uuid): a key column altered since
  // registration into another kind cannot be read.
  if (key_kind(TupleDescAttr(RelationGetDescr(rel), s.key_att - 1)->atttypid) != key_kind(v.entity_key_type))
    throw Error(ERRCODE_DATATYPE_MISMATCH, "feature view \"" + v.name + "\": key column \"" + v.key_column +
                                               "\" of table \"" + RelationGetRelationName(rel) +
                                               "\" cannot be compared with the entity's key");
  s.ts_att = bind(v.ts_column, TIMESTAMPTZOID);
  s.created_att = v.created_column.empty() ? 0 : bind(v.created_column, TIMESTAMPTZOID);
  for (size_t fi : v.features) s.feature_atts.push_back(bind(features[fi].name, features[fi].type));
  return s;
}

// Refuses (42501) a caller without SELECT on the table, or on each column the view reads (column
// privileges suffice, as they do for a SELECT naming only those columns).
void check_select(Relation rel, const ViewSource& cols) {
  pg_guard([&] {
    Oid relid = RelationGetRelid(rel);
    Oid user = GetUserId();
    if (pg_class_aclcheck(relid, user, ACL_SELECT) == ACLCHECK_OK) return;
    std::vector<AttrNumber> atts = {cols.key_att, cols.ts_att};
    if (cols.created_att) atts.push_back(cols.created_att);
    atts.insert(atts.end(), cols.feature_atts.begin(), cols.feature_atts.end());
    for (AttrNumber att : atts)
      if (pg_attribute_aclcheck(relid, att, user, ACL_SELECT) != ACLCHECK_OK)
        aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(rel));
  });
}

}  // namespace

void open_view(ViewPlan& v, std::vector<FeaturePlan>& features) {
  v.table = pg_guard([&] {
    Relation r = try_table_open(v.relid, AccessShareLock);
    if (!r)  // a registered table dropped behind fstore's back
      ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                      errmsg("feature view \"%s\": its table no longer exists", v.name.c_str()),
                      errhint("Drop the view with fstore.drop_feature_view and register it again.")));
    return r;
  });
  // The registered table's own columns give the features' types and the privileges to check.
  for (size_t fi : v.features) {
    AttrNumber att = find_column(v.table, features[fi].name);
    if (!att)
      throw Error(ERRCODE_UNDEFINED_COLUMN,
                  "feature view \"" + v.name + "\": its table has no column \"" + features[fi].name + "\"");
    auto* a = TupleDescAttr(RelationGetDescr(v.table), att - 1);
    features[fi].type = a->atttypid;
    features[fi].typmod = a->atttypmod;
    v.feature_byval.push_back(a->attbyval);
  }
  ViewSource top = bind_source(v, features, v.table);
  check_select(v.table, top);
  pg_guard([&] {
    if (check_enable_rls(v.relid, InvalidOid, true) == RLS_ENABLED)
      ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                      errmsg("feature view \"%s\": tables with row-level security are not supported in training sets",
                             v.name.c_str())));
  });
  Oid collation = TupleDescAttr(RelationGetDescr(v.table), top.key_att - 1)->attcollation;
  if (OidIsValid(collation) && !pg_guard([&] { return get_collation_isdeterministic(collation); }))
    throw Error(ERRCODE_FEATURE_NOT_SUPPORTED,
                "feature view \"" + v.name + "\": join key column \"" + v.key_column +
                    "\" has a nondeterministic collation",
                "", "Training sets match keys by their bytes; use a deterministic collation for the key column.");
  std::vector<Relation> rels = reachable_relations(v);  // pruned by v.reach_lo/reach_hi
  if (rels.size() > kMaxSources) {
    for (Relation r : rels)
      if (r != v.table) pg_guard([&] { table_close(r, NoLock); });
    throw Error(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                "feature view \"" + v.name + "\": more than " + std::to_string(kMaxSources) + " partitions");
  }
  for (Relation r : rels) v.sources.push_back(r == v.table ? top : bind_source(v, features, r));
}

void close_view(ViewPlan& v) {
  pg_guard([&] {
    for (auto& s : v.sources)
      if (s.rel != v.table) table_close(s.rel, NoLock);
    if (v.table) table_close(v.table, NoLock);
  });
  v.sources.clear();
  v.table = nullptr;
}

namespace {

// Per entity row, the smallest event_ts the view's ttl allows (t - ttl, in UTC by
// fstore::add_interval_utc, so the session's TimeZone does not matter); empty without a ttl.
std::vector<int64_t> ttl_lower_bounds(const ViewPlan& v, const EntityRows& rows) {
  std::vector<int64_t> bounds;
  if (!v.ttl) return bounds;
  assign_prefaulted(bounds, rows.count, 0);
  for (size_t i = 0; i < rows.count; ++i)
    if (!rows.time_null[i]) bounds[i] = fstore::add_interval_utc(rows.times[i], *v.ttl, -1);
  return bounds;
}


// The source's btree index to read by: the first whose first column is the key, preferring one
// whose second column is the event time (`time_second`). InvalidOid when there is none. For a
// partition this finds its own indexes, among them the leaves of a partitioned index.
Oid key_index(Relation rel, AttrNumber key_att, AttrNumber ts_att, bool& time_second) {
  return pg_guard([&] {
    Oid found = InvalidOid;
    time_second = false;
    List* indexes = RelationGetIndexList(rel);
    ListCell* lc;
    foreach (lc, indexes) {
      Relation index = index_open(lfirst_oid(lc), AccessShareLock);
      bool fits = index->rd_rel->relam == BTREE_AM_OID && index->rd_index->indkey.values[0] == key_att &&
                  index->rd_index->indisvalid && index->rd_indpred == NIL && index->rd_indexprs == NIL;
      bool with_time = fits && index->rd_index->indnkeyatts >= 2 && index->rd_index->indkey.values[1] == ts_att &&
                       (index->rd_indoption[1] & INDOPTION_DESC) == 0;
      index_close(index, AccessShareLock);
      if (fits && (!OidIsValid(found) || (with_time && !time_second))) {
        found = lfirst_oid(lc);
        time_second = with_time;
      }
    }
    return found;
  });
}

// Chooses the scan path by estimated cost, in units of one row read sequentially: a row read
// through the index costs about ten (a random heap fetch), an index descent about twenty.
ScanPath choose_path(Relation rel, AttrNumber key_att, const EntityPlan& e, Oid index, bool time_second) {
  std::string setting = pg_guard([] {
    const char* value = GetConfigOption("fstore.training_set_scan", true, false);
    return std::string(value ? value : "auto");
  });
  if (setting == "seq" || !OidIsValid(index)) return ScanPath::Sequential;
  if (setting == "index") return ScanPath::Index;
  if (setting == "probe") return time_second ? ScanPath::Probe : ScanPath::Index;
  double table_rows = rel->rd_rel->reltuples;
  if (table_rows <= 0) return ScanPath::Sequential;  // never analyzed: no estimate
  // Distinct keys of the source from the planner's statistics (negative: a fraction of the rows;
  // 0: unknown), read from pg_statistic through the syscache as the planner reads them (a query on
  // pg_stats cost 14-18 ms of planning in a new session).
  double distinct = pg_guard([&] {
    HeapTuple stats = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(RelationGetRelid(rel)),
                                      Int16GetDatum(key_att), BoolGetDatum(false));
    if (!HeapTupleIsValid(stats)) return 0.0;
    double value = reinterpret_cast<Form_pg_statistic>(GETSTRUCT(stats))->stadistinct;
    ReleaseSysCache(stats);
    return value;
  });
  if (distinct < 0) distinct = -distinct * table_rows;
  if (distinct < 1) return ScanPath::Sequential;
  double keys = static_cast<double>(e.key_values.size());
  double sequential = table_rows;
  double per_key = table_rows * std::min(1.0, keys / distinct) * 10 + keys * 20;
  double per_row = time_second ? static_cast<double>(e.timeline->size()) * (20 + 10) : per_key + 1;
  if (per_row < per_key && per_row < sequential) return ScanPath::Probe;
  return per_key < sequential ? ScanPath::Index : ScanPath::Sequential;
}

}  // namespace

ViewMatch match_view(const ViewPlan& v, EntityPlan& e, const EntityRows& rows, Snapshot snapshot,
                     MemoryContext engine, double memory_left) {
  ViewMatch match;
  match.matcher = std::make_unique<pit::ViewMatcher>(*e.timeline);
  size_t width = v.features.size();
  bool capture = std::all_of(v.feature_byval.begin(), v.feature_byval.end(), [](bool b) { return b; });
  if (capture)
    pg_guard([&] {
      Size cells = Max(e.timeline->size() * width, (Size)1);
      alloc_cells(engine, cells, match.captured_values, match.captured_nulls);
    });
  // Each source's path first, before parallel mode begins. Sequential sources that are not temporary
  // (workers cannot see the leader's temporary buffers) are read in parallel when they are big.
  std::vector<ScanPath> paths;
  std::vector<Oid> indexes;
  std::vector<size_t> shared;
  BlockNumber pages = 0;
  for (size_t i = 0; i < v.sources.size(); ++i) {
    Relation rel = v.sources[i].rel;
    bool time_second = false;
    indexes.push_back(key_index(rel, v.sources[i].key_att, v.sources[i].ts_att, time_second));
    paths.push_back(choose_path(rel, v.sources[i].key_att, e, indexes.back(), time_second));
    if (paths.back() == ScanPath::Sequential && rel->rd_rel->relpersistence != RELPERSISTENCE_TEMP) {
      shared.push_back(i);
      pages += pg_guard([&] { return RelationGetNumberOfBlocks(rel); });
    }
  }
  int workers = shared.empty() ? 0 : parallel_workers_for(pages, e.timeline->size(), e.key_values.size(),
                                                          capture ? width : 0, memory_left);
  std::unique_ptr<ParallelRead> parallel;
  if (workers > 0) parallel = std::make_unique<ParallelRead>(v, e, shared, snapshot, workers, capture);
  auto reader = std::make_unique<SourceReader>(v, e, match, engine);
  size_t next_shared = 0;
  for (size_t i = 0; i < v.sources.size(); ++i) {
    if (parallel && next_shared < shared.size() && shared[next_shared] == i) {
      if (parallel->leader_takes_part())
        pg_guard([&] { reader->read(i, snapshot, ScanPath::Sequential, InvalidOid, parallel->scan_of(next_shared)); });
      ++next_shared;
      continue;
    }
    pg_guard([&] { reader->read(i, snapshot, paths[i], indexes[i]); });
  }
  if (parallel) {
    int launched = parallel->launched();
    parallel->finish(match);
    pg_guard([&] {
      elog(DEBUG1, "fstore training set: view \"%s\" read with %d of %d parallel workers", v.name.c_str(), launched,
           workers);
    });
  }
  match.winners = match.matcher->winners(rows.count, ttl_lower_bounds(v, rows));
  return match;
}

void fill_features(const ViewPlan& v, const ViewMatch& match, Snapshot snapshot, FeatureValues& out,
                   MemoryContext engine) {
  size_t width = v.features.size();
  if (match.captured_values) {
    for (size_t row = 0; row < match.winners.size(); ++row) {
      uint32_t pos = match.winners[row];
      if (pos == pit::kNoPosition) continue;
      for (size_t j = 0; j < width; ++j) {
        out.values[row * out.width + v.features[j]] = match.captured_values[pos * width + j];
        out.nulls[row * out.width + v.features[j]] = match.captured_nulls[pos * width + j];
      }
    }
    return;
  }
  std::vector<std::pair<uint64_t, uint32_t>> wanted;  // (row id, entity row)
  for (uint32_t row = 0; row < match.winners.size(); ++row)
    if (match.winners[row] != pit::kNoPosition) wanted.emplace_back(match.matcher->row_id_at(match.winners[row]), row);
  std::sort(wanted.begin(), wanted.end());  // by source, then physical order
  pg_guard([&] {
    TupleTableSlot* slot = nullptr;
    size_t slot_source = 0;
    MemoryContext old = MemoryContextSwitchTo(engine);
    size_t i = 0;
    while (i < wanted.size()) {
      if ((i % kInterruptEvery) == 0) CHECK_FOR_INTERRUPTS();
      size_t source = row_id_source(wanted[i].first);
      const ViewSource& s = v.sources[source];
      if (!slot || slot_source != source) {
        if (slot) ExecDropSingleTupleTableSlot(slot);
        slot = table_slot_create(s.rel, nullptr);
        slot_source = source;
      }
      ItemPointerData tid;
      row_id_to_tid(wanted[i].first, &tid);
      if (!table_tuple_fetch_row_version(s.rel, &tid, snapshot, slot))
        elog(ERROR, "fstore: row of feature view \"%s\" vanished during the join", v.name.c_str());
      slot_getallattrs(slot);
      size_t first_row = i;
      for (size_t j = 0; j < width; ++j) {
        int att = s.feature_atts[j] - 1;
        bool isnull = slot->tts_isnull[att];
        Datum value = 0;
        if (!isnull) {
          auto* a = TupleDescAttr(slot->tts_tupleDescriptor, att);
          value = a->attlen == -1 ? PointerGetDatum(PG_DETOAST_DATUM_COPY(slot->tts_values[att]))
                                  : datumCopy(slot->tts_values[att], a->attbyval, a->attlen);
        }
        // Every entity row won by this same feature row shares the copied value.
        for (size_t k = first_row; k < wanted.size() && wanted[k].first == wanted[first_row].first; ++k) {
          size_t cell = wanted[k].second * out.width + v.features[j];
          out.values[cell] = value;
          out.nulls[cell] = isnull;
        }
      }
      while (i < wanted.size() && wanted[i].first == wanted[first_row].first) ++i;
    }
    MemoryContextSwitchTo(old);
    if (slot) ExecDropSingleTupleTableSlot(slot);
  });
}

}  // namespace fstore::training
