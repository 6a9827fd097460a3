// fstore.create_training_set: point-in-time joins inside PostgreSQL (docs/architecture.md).
//
// 1. Resolve the feature references and read each view's registry row (SPI, a few rows).
// 2. Run the entity-rows query once through a cursor: every row goes into a tuplestore (which
//    spills to disk past work_mem) and its join keys and time into flat arrays.
// 3. Per view: one sequential scan through the table access method, offering each row to the
//    point-in-time matcher (common/pit_join.hpp); then fetch each winning row once, in TID order.
// 4. Create the target table and write entity rows plus features with table_multi_insert.
#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "names.hpp"
#include "pit_join.hpp"
#include "pg_boundary.hpp"
#include "settings.hpp"
#include "spi_query.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "catalog/pg_am_d.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"
}

namespace {

using fstore::Error;

// Reports how long a phase of the join took, at DEBUG1 (SET client_min_messages = debug1).
class PhaseTimer {
 public:
  PhaseTimer() : start_(std::chrono::steady_clock::now()) {}
  void report(const char* phase) {
    auto now = std::chrono::steady_clock::now();
    double ms = std::chrono::duration<double, std::milli>(now - start_).count();
    start_ = now;
    fstore::pg_guard([&] { elog(DEBUG1, "fstore training set: %s took %.1f ms", phase, ms); });
  }
 private:
  std::chrono::steady_clock::time_point start_;
};
using fstore::pg_guard;

constexpr int kFetchBatch = 10000;       // entity rows per cursor fetch
constexpr int kInsertBatch = 1000;       // output rows per table_multi_insert
constexpr int kInterruptEvery = 1 << 14; // rows between CHECK_FOR_INTERRUPTS

// How join-key values are compared: as integers (int2/int4/int8) or as bytes (text, varchar, uuid).
enum class KeyKind { Integer, Text, Uuid };

std::optional<KeyKind> key_kind(Oid type) {
  switch (type) {
    case INT2OID: case INT4OID: case INT8OID: return KeyKind::Integer;
    case TEXTOID: case VARCHAROID: return KeyKind::Text;
    case UUIDOID: return KeyKind::Uuid;
    default: return std::nullopt;
  }
}

// A join key Datum of `type` as a dictionary entry; interns or only looks up.
uint32_t key_id(fstore::pit::KeyDictionary& dict, Oid type, Datum value, bool intern) {
  switch (type) {
    case INT2OID: { int64_t v = DatumGetInt16(value); return intern ? dict.intern(v) : dict.find(v); }
    case INT4OID: { int64_t v = DatumGetInt32(value); return intern ? dict.intern(v) : dict.find(v); }
    case INT8OID: { int64_t v = DatumGetInt64(value); return intern ? dict.intern(v) : dict.find(v); }
    case UUIDOID: {
      std::string_view v(reinterpret_cast<const char*>(DatumGetUUIDP(value)->data), UUID_LEN);
      return intern ? dict.intern(v) : dict.find(v);
    }
    default: {  // text, varchar (detoasting allocates in the current, per-batch context)
      struct varlena* t = PG_DETOAST_DATUM_PACKED(value);
      std::string_view v(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
      return intern ? dict.intern(v) : dict.find(v);
    }
  }
}

// One requested feature: where it comes from and what its output column is called.
struct FeaturePlan {
  std::string view;
  std::string name;
  std::string output_name;
};

// One feature view taking part, with what the scan needs.
struct ViewPlan {
  std::string name;
  std::string entity;
  Oid relid = InvalidOid;
  std::string key_column, ts_column, created_column;  // created_column empty: none
  std::optional<std::string> ttl;                     // interval text
  std::vector<size_t> features;                       // indices into the FeaturePlan list
  // Filled when the table is opened:
  AttrNumber key_att = 0, ts_att = 0, created_att = 0;
  std::vector<AttrNumber> feature_atts;
  std::vector<Oid> feature_types;
  std::vector<int32> feature_typmods;
  std::vector<bool> feature_byval;
};

// One entity taking part: its key column among the entity rows and its timeline.
struct EntityPlan {
  std::string name;
  std::string join_key;
  Oid key_type = InvalidOid;
  int entity_att = 0;  // attribute number of the join key in the entity rows
  Oid entity_att_type = InvalidOid;
  fstore::pit::KeyDictionary dict;
  std::vector<uint32_t> key_ids;  // per entity row
  std::vector<Datum> key_values;  // per key id: the key, copied into the engine's context
  std::unique_ptr<fstore::pit::EntityTimeline> timeline;
};

// Feature values of all entity rows, row-major: values[row * width + column].
struct FeatureValues {
  size_t width = 0;
  Datum* values = nullptr;
  bool* nulls = nullptr;
};

// Reads text argument n, or nullopt when NULL.
std::optional<std::string> opt_text(FunctionCallInfo fcinfo, int n) {
  if (PG_ARGISNULL(n)) return std::nullopt;
  text* t = PG_GETARG_TEXT_PP(n);
  return std::string(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

// The feature references of the call: `features`, or those of `feature_service`.
std::vector<std::string> requested_refs(FunctionCallInfo fcinfo, const std::optional<std::string>& service) {
  std::vector<std::string> refs;
  if (!PG_ARGISNULL(2)) {
    ArrayType* array = PG_GETARG_ARRAYTYPE_P(2);
    Datum* elems = nullptr;
    bool* nulls = nullptr;
    int count = 0;
    pg_guard([&] { deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &count); });
    for (int i = 0; i < count; ++i) {
      if (nulls[i]) throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "feature references must not be NULL");
      text* t = DatumGetTextPP(elems[i]);
      refs.emplace_back(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
    }
  } else {
    auto rows = fstore::spi_query("SELECT unnest(features) FROM fstore.feature_services WHERE name = $1", {service});
    if (rows.empty())
      throw Error(ERRCODE_UNDEFINED_OBJECT, "feature service \"" + *service + "\" does not exist");
    for (auto& row : rows) refs.push_back(row[0].value_or(""));
  }
  if (refs.empty()) throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "no features requested");
  return refs;
}

// Resolves references into features (in request order) and the views they come from.
void plan_features(const std::vector<std::string>& refs, bool full_names, std::vector<FeaturePlan>& features,
                   std::vector<ViewPlan>& views) {
  std::map<std::string, size_t> view_index;
  std::map<std::string, std::string> output_owner;  // output column -> reference, for collisions
  for (const auto& ref : refs) {
    auto resolved = fstore::spi_query(
        "SELECT view_name, feature_name FROM fstore._resolve_feature_refs(ARRAY[$1]) ORDER BY ordinal", {ref});
    for (auto& row : resolved) {
      FeaturePlan f{*row[0], *row[1], full_names ? *row[0] + "__" + *row[1] : *row[1]};
      auto [it, fresh] = output_owner.emplace(f.output_name, f.view + ":" + f.name);
      if (!fresh)
        throw Error(ERRCODE_DUPLICATE_COLUMN,
                    "training set column \"" + f.output_name + "\" would hold both " + it->second + " and " +
                        f.view + ":" + f.name,
                    "", "Pass full_feature_names => true, or request each feature once.");
      auto vi = view_index.find(f.view);
      if (vi == view_index.end()) {
        vi = view_index.emplace(f.view, views.size()).first;
        views.push_back(ViewPlan{});
        views.back().name = f.view;
      }
      views[vi->second].features.push_back(features.size());
      features.push_back(std::move(f));
    }
  }
  if (features.empty()) throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "the requested views have no active features");
}

// Reads each view's registry row and collects the entities involved.
void plan_views(std::vector<ViewPlan>& views, std::vector<std::unique_ptr<EntityPlan>>& entities) {
  for (auto& v : views) {
    auto rows = fstore::spi_query(
        "SELECT entity, table_name::oid::text, join_key, timestamp_column, created_column, ttl::text, "
        "key_type::oid::text FROM fstore.feature_views WHERE name = $1", {v.name});
    if (rows.empty()) throw Error(ERRCODE_UNDEFINED_OBJECT, "feature view \"" + v.name + "\" does not exist");
    auto& r = rows[0];
    v.entity = *r[0];
    v.relid = static_cast<Oid>(std::stoul(*r[1]));
    v.key_column = *r[2];
    v.ts_column = *r[3];
    v.created_column = r[4].value_or("");
    v.ttl = r[5];
    auto known = std::find_if(entities.begin(), entities.end(), [&](auto& e) { return e->name == v.entity; });
    if (known == entities.end()) {
      auto e = std::make_unique<EntityPlan>();
      e->name = v.entity;
      e->join_key = v.key_column;
      e->key_type = static_cast<Oid>(std::stoul(*r[6]));
      entities.push_back(std::move(e));
    }
  }
}

// The SELECT that produces the entity rows: `entity_rows` itself when it is a query, else
// `SELECT * FROM <entity_rows as a (qualified) table name>`.
std::string entity_rows_query(const std::string& entity_rows) {
  bool is_query = false;
  try {
    List* parsed = pg_guard([&] { return raw_parser(entity_rows.c_str(), RAW_PARSE_DEFAULT); });
    is_query = list_length(parsed) == 1 && IsA(linitial_node(RawStmt, parsed)->stmt, SelectStmt);
  } catch (const fstore::PgError&) {
    is_query = false;  // not SQL: a table name, checked below
  }
  if (is_query) return "SELECT * FROM (" + entity_rows + ") AS fstore_entity_rows";
  std::string qualified = pg_guard([&] {
    List* names = stringToQualifiedNameList(entity_rows.c_str());
    RangeVar* rv = makeRangeVarFromNameList(names);
    Oid relid = RangeVarGetRelid(rv, AccessShareLock, true);
    if (!OidIsValid(relid))
      ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                      errmsg("entity rows \"%s\" are neither a SELECT nor an existing table", entity_rows.c_str())));
    return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
  });
  return "SELECT * FROM " + qualified;
}

// The entity rows as read: kept rows, their times, and their tuple descriptor.
struct EntityRows {
  Tuplestorestate* store = nullptr;
  TupleDesc desc = nullptr;
  std::vector<int64_t> times;
  std::vector<bool> time_null;
  size_t count = 0;
};

// Finds the entity-row columns the join needs; raises clear errors when missing or mistyped.
void bind_entity_columns(TupleDesc desc, std::vector<std::unique_ptr<EntityPlan>>& entities, int& ts_att) {
  auto find = [&](const std::string& name) -> int {
    for (int i = 0; i < desc->natts; ++i)
      if (name == NameStr(TupleDescAttr(desc, i)->attname)) return i + 1;
    return 0;
  };
  ts_att = find("event_timestamp");
  if (!ts_att)
    throw Error(ERRCODE_UNDEFINED_COLUMN, "entity rows have no column \"event_timestamp\"",
                "", "Select the label time AS event_timestamp (timestamptz).");
  if (TupleDescAttr(desc, ts_att - 1)->atttypid != TIMESTAMPTZOID)
    throw Error(ERRCODE_DATATYPE_MISMATCH, "entity rows column \"event_timestamp\" must be timestamptz",
                "", "Cast it: event_timestamp::timestamptz.");
  for (auto& e : entities) {
    e->entity_att = find(e->join_key);
    if (!e->entity_att)
      throw Error(ERRCODE_UNDEFINED_COLUMN,
                  "entity rows have no column \"" + e->join_key + "\", the join key of entity \"" + e->name + "\"");
    e->entity_att_type = TupleDescAttr(desc, e->entity_att - 1)->atttypid;
    if (key_kind(e->entity_att_type) != key_kind(e->key_type))
      throw Error(ERRCODE_DATATYPE_MISMATCH,
                  "entity rows column \"" + e->join_key + "\" cannot be compared with the key of entity \"" +
                      e->name + "\"");
  }
}

// Runs the entity-rows query once, keeping every row in a tuplestore and its keys and time aside.
EntityRows read_entity_rows(const std::string& query, std::vector<std::unique_ptr<EntityPlan>>& entities,
                            const std::vector<FeaturePlan>& features, MemoryContext engine) {
  EntityRows rows;
  Portal portal = pg_guard([&] {
    SPIPlanPtr plan = SPI_prepare(query.c_str(), 0, nullptr);
    if (!plan) elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
    Portal p = SPI_cursor_open(nullptr, plan, nullptr, nullptr, false);
    MemoryContext old = MemoryContextSwitchTo(engine);
    rows.desc = CreateTupleDescCopy(p->tupDesc);
    rows.store = tuplestore_begin_heap(false, false, work_mem);
    MemoryContextSwitchTo(old);
    return p;
  });
  int ts_att = 0;
  bind_entity_columns(rows.desc, entities, ts_att);
  for (int i = 0; i < rows.desc->natts; ++i)
    for (auto& f : features)
      if (f.output_name == NameStr(TupleDescAttr(rows.desc, i)->attname))
        throw Error(ERRCODE_DUPLICATE_COLUMN,
                    "feature column \"" + f.output_name + "\" collides with a column of the entity rows",
                    "", "Pass full_feature_names => true or rename the entity-rows column.");

  MemoryContext batch_cxt = pg_guard([&] {
    return AllocSetContextCreate(engine, "fstore entity-row keys", ALLOCSET_DEFAULT_SIZES);
  });
  for (;;) {
    uint64 fetched = 0;
    pg_guard([&] {
      CHECK_FOR_INTERRUPTS();
      SPI_cursor_fetch(portal, true, kFetchBatch);
      fetched = SPI_processed;
      MemoryContext old = MemoryContextSwitchTo(batch_cxt);
      for (uint64 r = 0; r < fetched; ++r) {
        HeapTuple tuple = SPI_tuptable->vals[r];
        bool isnull;
        Datum t = heap_getattr(tuple, ts_att, SPI_tuptable->tupdesc, &isnull);
        rows.times.push_back(isnull ? 0 : DatumGetTimestampTz(t));
        rows.time_null.push_back(isnull);
        for (auto& e : entities) {
          Datum k = heap_getattr(tuple, e->entity_att, SPI_tuptable->tupdesc, &isnull);
          // A NULL key or time matches nothing: that row's features stay NULL.
          bool usable = !isnull && !rows.time_null.back();
          uint32_t id = usable ? key_id(e->dict, e->entity_att_type, k, true) : fstore::pit::kNoKey;
          if (id != fstore::pit::kNoKey && id == e->key_values.size()) {  // a new key: keep it for index probes
            auto* a = TupleDescAttr(SPI_tuptable->tupdesc, e->entity_att - 1);
            MemoryContext batch = MemoryContextSwitchTo(engine);
            e->key_values.push_back(datumCopy(k, a->attbyval, a->attlen));
            MemoryContextSwitchTo(batch);
          }
          e->key_ids.push_back(id);
        }
        tuplestore_puttuple(rows.store, tuple);
      }
      MemoryContextSwitchTo(old);
      MemoryContextReset(batch_cxt);
      SPI_freetuptable(SPI_tuptable);
    });
    rows.count += fetched;
    if (fetched < static_cast<uint64>(kFetchBatch)) break;
  }
  pg_guard([&] { SPI_cursor_close(portal); });
  return rows;
}

// Opens a view's table for reading after checking the caller may read it; binds its columns.
Relation open_view(ViewPlan& v, const std::vector<FeaturePlan>& features) {
  Relation rel = pg_guard([&] {
    Relation r = try_table_open(v.relid, AccessShareLock);
    if (!r)  // a registered table dropped behind fstore's back
      ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                      errmsg("feature view \"%s\": its table no longer exists", v.name.c_str()),
                      errhint("Drop the view with fstore.drop_feature_view and register it again.")));
    AclResult acl = pg_class_aclcheck(v.relid, GetUserId(), ACL_SELECT);
    if (acl != ACLCHECK_OK) aclcheck_error(acl, OBJECT_TABLE, RelationGetRelationName(r));
    if (check_enable_rls(v.relid, InvalidOid, true) == RLS_ENABLED)
      ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                      errmsg("feature view \"%s\": tables with row-level security are not supported in training sets",
                             v.name.c_str())));
    return r;
  });
  TupleDesc desc = RelationGetDescr(rel);
  auto find = [&](const std::string& name, Oid want) -> AttrNumber {
    for (int i = 0; i < desc->natts; ++i) {
      auto* a = TupleDescAttr(desc, i);
      if (!a->attisdropped && name == NameStr(a->attname)) {
        if (OidIsValid(want) && a->atttypid != want)
          throw Error(ERRCODE_DATATYPE_MISMATCH, "feature view \"" + v.name + "\": column \"" + name + "\" has an unexpected type");
        return static_cast<AttrNumber>(i + 1);
      }
    }
    throw Error(ERRCODE_UNDEFINED_COLUMN, "feature view \"" + v.name + "\": its table has no column \"" + name + "\"");
  };
  v.key_att = find(v.key_column, InvalidOid);
  v.ts_att = find(v.ts_column, TIMESTAMPTZOID);
  v.created_att = v.created_column.empty() ? 0 : find(v.created_column, TIMESTAMPTZOID);
  for (size_t fi : v.features) {
    AttrNumber att = find(features[fi].name, InvalidOid);
    v.feature_atts.push_back(att);
    v.feature_types.push_back(TupleDescAttr(desc, att - 1)->atttypid);
    v.feature_typmods.push_back(TupleDescAttr(desc, att - 1)->atttypmod);
    v.feature_byval.push_back(TupleDescAttr(desc, att - 1)->attbyval);
  }
  return rel;
}

// Per entity row, the smallest event_ts the view's ttl allows (t - ttl); empty without a ttl.
std::vector<int64_t> ttl_lower_bounds(const ViewPlan& v, const EntityRows& rows) {
  std::vector<int64_t> bounds;
  if (!v.ttl) return bounds;
  bounds.resize(rows.count, 0);
  pg_guard([&] {
    Datum ttl = DirectFunctionCall3(interval_in, CStringGetDatum(v.ttl->c_str()), ObjectIdGetDatum(InvalidOid),
                                    Int32GetDatum(-1));
    for (size_t i = 0; i < rows.count; ++i)
      if (!rows.time_null[i])
        bounds[i] = DatumGetTimestampTz(
            DirectFunctionCall2(timestamptz_mi_interval, TimestampTzGetDatum(rows.times[i]), ttl));
  });
  return bounds;
}

uint64_t tid_to_row_id(ItemPointer tid) {
  return (static_cast<uint64_t>(ItemPointerGetBlockNumberNoCheck(tid)) << 16) | ItemPointerGetOffsetNumberNoCheck(tid);
}

void row_id_to_tid(uint64_t row_id, ItemPointer tid) {
  ItemPointerSet(tid, static_cast<BlockNumber>(row_id >> 16), static_cast<OffsetNumber>(row_id & 0xFFFF));
}

// What the scan of one view leaves behind.
struct ViewMatch {
  std::unique_ptr<fstore::pit::ViewMatcher> matcher;
  std::vector<uint32_t> winners;     // per entity row: winning timeline position, or kNoPosition
  // When every requested feature is passed by value (numbers, booleans, timestamps), the scan keeps
  // the values of each position's candidate here, so no winning row has to be fetched again.
  Datum* captured_values = nullptr;  // [position * features + j]
  bool* captured_nulls = nullptr;
};

// How a view is read: the whole table in physical order; its (key, ...) btree index probed once per
// distinct key of the entity rows (that key's whole history); or, with a (key, event time, ...)
// index, probed once per entity row backwards from its time (the newest rows at or before it).
// `fstore.training_set_scan` = auto | seq | index | probe.
enum class ScanPath { Sequential, Index, Probe };

// The view's btree index to read by: the first whose first column is the key, preferring one whose
// second column is the event time (`time_second`). InvalidOid when there is none.
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
ScanPath choose_path(Relation rel, const ViewPlan& v, const EntityPlan& e, Oid index, bool time_second) {
  std::string setting = pg_guard([] {
    const char* value = GetConfigOption("fstore.training_set_scan", true, false);
    return std::string(value ? value : "auto");
  });
  if (setting == "seq" || !OidIsValid(index)) return ScanPath::Sequential;
  if (setting == "index") return ScanPath::Index;
  if (setting == "probe") return time_second ? ScanPath::Probe : ScanPath::Index;
  double table_rows = rel->rd_rel->reltuples;
  if (table_rows <= 0) return ScanPath::Sequential;  // never analyzed: no estimate
  // Distinct keys of the view from the planner's statistics (negative: a fraction of the rows).
  auto stats = fstore::spi_query(
      "SELECT n_distinct::text FROM pg_catalog.pg_stats s JOIN pg_catalog.pg_class c ON c.relname = s.tablename "
      "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname "
      "WHERE c.oid = $1::oid AND s.attname = $2", {std::to_string(v.relid), v.key_column});
  if (stats.empty() || !stats[0][0]) return ScanPath::Sequential;
  double distinct = std::stod(*stats[0][0]);
  if (distinct < 0) distinct = -distinct * table_rows;
  if (distinct < 1) return ScanPath::Sequential;
  double keys = static_cast<double>(e.key_values.size());
  double sequential = table_rows;
  double per_key = table_rows * std::min(1.0, keys / distinct) * 10 + keys * 20;
  double per_row = time_second ? static_cast<double>(e.timeline->size()) * (20 + 10) : per_key + 1;
  if (per_row < per_key && per_row < sequential) return ScanPath::Probe;
  return per_key < sequential ? ScanPath::Index : ScanPath::Sequential;
}

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

// Reads one view (by either path), offering every row to the matcher; returns the winners per
// entity row.
ViewMatch match_view(Relation rel, const ViewPlan& v, EntityPlan& e, const EntityRows& rows, Snapshot snapshot,
                     MemoryContext engine) {
  namespace pit = fstore::pit;
  ViewMatch match;
  match.matcher = std::make_unique<pit::ViewMatcher>(*e.timeline);
  pit::ViewMatcher& matcher = *match.matcher;
  size_t width = v.feature_atts.size();
  bool capture = std::all_of(v.feature_byval.begin(), v.feature_byval.end(), [](bool b) { return b; });
  AttrNumber last_att = std::max({v.key_att, v.ts_att, v.created_att});
  if (capture) last_att = std::max(last_att, *std::max_element(v.feature_atts.begin(), v.feature_atts.end()));
  Oid key_type = TupleDescAttr(RelationGetDescr(rel), v.key_att - 1)->atttypid;
  bool time_second = false;
  Oid index = key_index(rel, v.key_att, v.ts_att, time_second);
  ScanPath path = choose_path(rel, v, e, index, time_second);
  // Integer keys of a sequential scan are resolved by the matcher, with prefetching; otherwise the
  // key id is known (index probe) or resolved here while the tuple is at hand (text, uuid).
  bool resolve_in_matcher = path == ScanPath::Sequential && key_kind(key_type) == KeyKind::Integer;

  int64_t raw_keys[pit::kBatch];
  uint32_t key_ids[pit::kBatch];
  uint32_t placed[pit::kBatch];
  pit::Version versions[pit::kBatch];
  std::vector<Datum> batch_values(capture ? pit::kBatch * width : 0);
  std::vector<char> batch_nulls(batch_values.size());
  size_t batched = 0;
  auto flush = [&] {
    if (resolve_in_matcher) matcher.offer_batch(e.dict, raw_keys, versions, batched, placed);
    else matcher.offer_batch(key_ids, versions, batched, placed);
    if (capture)
      for (size_t i = 0; i < batched; ++i)
        if (placed[i] != pit::kNoPosition)
          for (size_t j = 0; j < width; ++j) {
            match.captured_values[placed[i] * width + j] = batch_values[i * width + j];
            match.captured_nulls[placed[i] * width + j] = batch_nulls[i * width + j];
          }
    batched = 0;
  };
  // Adds the row in `slot` to the batch; `known_id` is the key id when the path already knows it.
  auto take = [&](TupleTableSlot* slot, uint32_t known_id) {
    slot_getsomeattrs(slot, last_att);
    if (slot->tts_isnull[v.key_att - 1] || slot->tts_isnull[v.ts_att - 1]) return;
    Datum key = slot->tts_values[v.key_att - 1];
    if (known_id != pit::kNoKey) {
      key_ids[batched] = known_id;
    } else if (resolve_in_matcher) {
      raw_keys[batched] = key_type == INT8OID ? DatumGetInt64(key)
                          : key_type == INT4OID ? DatumGetInt32(key) : DatumGetInt16(key);
    } else {
      key_ids[batched] = key_id(e.dict, key_type, key, false);
      if (key_ids[batched] == pit::kNoKey) return;
    }
    pit::Version& version = versions[batched];
    version = {DatumGetTimestampTz(slot->tts_values[v.ts_att - 1]), 0, tid_to_row_id(&slot->tts_tid)};
    if (v.created_att && !slot->tts_isnull[v.created_att - 1])
      version.created_ts = DatumGetTimestampTz(slot->tts_values[v.created_att - 1]);
    if (capture)
      for (size_t j = 0; j < width; ++j) {
        batch_values[batched * width + j] = slot->tts_values[v.feature_atts[j] - 1];
        batch_nulls[batched * width + j] = slot->tts_isnull[v.feature_atts[j] - 1];
      }
    if (++batched == pit::kBatch) flush();
  };

  pg_guard([&] {
    if (capture) {
      Size cells = Max(e.timeline->size() * width, (Size)1);
      match.captured_values = static_cast<Datum*>(MemoryContextAllocHuge(engine, cells * sizeof(Datum)));
      match.captured_nulls = static_cast<bool*>(MemoryContextAllocHuge(engine, cells * sizeof(bool)));
    }
    // Scans live in the caller's context; only the per-row work (detoasted text keys) goes into
    // row_cxt, which is reset every kInterruptEvery rows.
    MemoryContext row_cxt = AllocSetContextCreate(engine, "fstore view rows", ALLOCSET_DEFAULT_SIZES);
    TupleTableSlot* slot = table_slot_create(rel, nullptr);
    uint64 n = 0;
    auto take_row = [&](uint32_t known_id) {
      if ((++n % kInterruptEvery) == 0) {
        CHECK_FOR_INTERRUPTS();
        MemoryContextReset(row_cxt);
      }
      MemoryContext outer = MemoryContextSwitchTo(row_cxt);
      take(slot, known_id);
      MemoryContextSwitchTo(outer);
    };
    if (path == ScanPath::Sequential) {
      TableScanDesc scan = table_beginscan(rel, snapshot, 0, nullptr);
      while (table_scan_getnextslot(scan, ForwardScanDirection, slot)) take_row(pit::kNoKey);
      table_endscan(scan);
    } else {
      Relation index_rel = index_open(index, AccessShareLock);
      auto opcode = [&](int column, StrategyNumber strategy) {
        Oid type = index_rel->rd_opcintype[column];
        return get_opcode(get_opfamily_member(index_rel->rd_opfamily[column], type, type, strategy));
      };
      RegProcedure key_eq = opcode(0, BTEqualStrategyNumber);
      if (path == ScanPath::Index) {  // each key's whole history
        IndexScanDesc scan = index_beginscan(rel, index_rel, snapshot, 1, 0);
        for (uint32_t id = 0; id < e.key_values.size(); ++id) {
          Datum probe;
          if (!probe_datum(e, key_type, id, probe)) continue;
          ScanKeyData skey;
          ScanKeyInit(&skey, 1, BTEqualStrategyNumber, key_eq, probe);
          index_rescan(scan, &skey, 1, nullptr, 0);
          while (index_getnext_slot(scan, ForwardScanDirection, slot)) take_row(id);
        }
        index_endscan(scan);
      } else {  // per entity row: backwards from (key, t), the rows of the newest event time <= t
        RegProcedure time_le = opcode(1, BTLessEqualStrategyNumber);
        IndexScanDesc scan = index_beginscan(rel, index_rel, snapshot, 2, 0);
        const pit::EntityTimeline& timeline = *e.timeline;
        for (uint32_t id = 0; id < e.key_values.size(); ++id) {
          Datum probe;
          if (!probe_datum(e, key_type, id, probe)) continue;
          for (size_t pos = timeline.begin_of(id); pos < timeline.end_of(id); ++pos) {
            int64_t t = timeline.time_at(pos);
            if (pos > timeline.begin_of(id) && timeline.time_at(pos - 1) == t) continue;  // same probe
            ScanKeyData skeys[2];
            ScanKeyInit(&skeys[0], 1, BTEqualStrategyNumber, key_eq, probe);
            ScanKeyInit(&skeys[1], 2, BTLessEqualStrategyNumber, time_le, TimestampTzGetDatum(t));
            index_rescan(scan, skeys, 2, nullptr, 0);
            bool first = true;
            int64_t newest = 0;
            while (index_getnext_slot(scan, BackwardScanDirection, slot)) {
              slot_getsomeattrs(slot, v.ts_att);
              if (slot->tts_isnull[v.ts_att - 1]) continue;
              int64_t event = DatumGetTimestampTz(slot->tts_values[v.ts_att - 1]);
              if (!first && event != newest) break;  // past the ties of the newest event time
              first = false;
              newest = event;
              take_row(id);
            }
          }
        }
        index_endscan(scan);
      }
      index_close(index_rel, NoLock);
    }
    if (batched) flush();
    ExecDropSingleTupleTableSlot(slot);
    MemoryContextDelete(row_cxt);
    elog(DEBUG1, "fstore training set: view \"%s\" read %s, " UINT64_FORMAT " rows", v.name.c_str(),
         path == ScanPath::Index   ? "through its key index, key by key"
         : path == ScanPath::Probe ? "through its key index, one probe per entity row"
                                   : "sequentially",
         n);
  });
  match.winners = matcher.winners(rows.count, ttl_lower_bounds(v, rows));
  return match;
}

// Puts the winners' feature values into `out` from column `first_column` on: copied from what the
// scan captured, or else fetched, each winning row once and in physical order.
void fill_features(Relation rel, const ViewPlan& v, const ViewMatch& match, Snapshot snapshot, FeatureValues& out,
                   size_t first_column, MemoryContext engine) {
  namespace pit = fstore::pit;
  size_t width = v.feature_atts.size();
  if (match.captured_values) {
    for (size_t row = 0; row < match.winners.size(); ++row) {
      uint32_t pos = match.winners[row];
      if (pos == pit::kNoPosition) continue;
      for (size_t j = 0; j < width; ++j) {
        out.values[row * out.width + first_column + j] = match.captured_values[pos * width + j];
        out.nulls[row * out.width + first_column + j] = match.captured_nulls[pos * width + j];
      }
    }
    return;
  }
  std::vector<std::pair<uint64_t, uint32_t>> wanted;  // (row id, entity row)
  for (uint32_t row = 0; row < match.winners.size(); ++row)
    if (match.winners[row] != pit::kNoPosition) wanted.emplace_back(match.matcher->row_id_at(match.winners[row]), row);
  std::sort(wanted.begin(), wanted.end());
  pg_guard([&] {
    TupleTableSlot* slot = table_slot_create(rel, nullptr);
    MemoryContext old = MemoryContextSwitchTo(engine);
    size_t i = 0;
    while (i < wanted.size()) {
      if ((i % kInterruptEvery) == 0) CHECK_FOR_INTERRUPTS();
      ItemPointerData tid;
      row_id_to_tid(wanted[i].first, &tid);
      if (!table_tuple_fetch_row_version(rel, &tid, snapshot, slot))
        elog(ERROR, "fstore: row of feature view \"%s\" vanished during the join", v.name.c_str());
      slot_getallattrs(slot);
      size_t first_row = i;
      for (size_t j = 0; j < width; ++j) {
        int att = v.feature_atts[j] - 1;
        bool isnull = slot->tts_isnull[att];
        Datum value = 0;
        if (!isnull) {
          auto* a = TupleDescAttr(slot->tts_tupleDescriptor, att);
          value = a->attlen == -1 ? PointerGetDatum(PG_DETOAST_DATUM_COPY(slot->tts_values[att]))
                                  : datumCopy(slot->tts_values[att], a->attbyval, a->attlen);
        }
        // Every entity row won by this same feature row shares the copied value.
        for (size_t k = first_row; k < wanted.size() && wanted[k].first == wanted[first_row].first; ++k) {
          size_t cell = wanted[k].second * out.width + first_column + j;
          out.values[cell] = value;
          out.nulls[cell] = isnull;
        }
      }
      while (i < wanted.size() && wanted[i].first == wanted[first_row].first) ++i;
    }
    MemoryContextSwitchTo(old);
    ExecDropSingleTupleTableSlot(slot);
  });
}

// The target name parsed as a (possibly qualified, quoted) relation name; raises 42P07 when a
// relation of that name exists, 42601/42602 when the name is malformed.
RangeVar* target_range_var(const std::string& target) {
  return pg_guard([&] {
    RangeVar* rv = makeRangeVarFromNameList(stringToQualifiedNameList(target.c_str()));
    if (OidIsValid(RangeVarGetRelid(rv, NoLock, true)))
      ereport(ERROR, (errcode(ERRCODE_DUPLICATE_TABLE), errmsg("relation \"%s\" already exists", target.c_str())));
    return rv;
  });
}

// CREATE TABLE target (entity-row columns..., feature columns...); returns its OID.
Oid create_target(const std::string& target, const EntityRows& rows, const std::vector<FeaturePlan>& features,
                  const std::vector<ViewPlan>& views) {
  RangeVar* rv = target_range_var(target);
  std::string qualified = pg_guard([&] {
    return rv->schemaname ? quote_qualified_identifier(rv->schemaname, rv->relname)
                          : pstrdup(quote_identifier(rv->relname));
  });
  std::string ddl = "CREATE TABLE " + qualified + " (";
  auto type_of = [](Oid type, int32 typmod) {
    return std::string(pg_guard([&] { return format_type_with_typemod(type, typmod); }));
  };
  for (int i = 0; i < rows.desc->natts; ++i) {
    auto* a = TupleDescAttr(rows.desc, i);
    ddl += (i ? ", " : "") + fstore::quote_ident(NameStr(a->attname)) + " " + type_of(a->atttypid, a->atttypmod);
  }
  for (const auto& v : views)
    for (size_t j = 0; j < v.features.size(); ++j)
      ddl += ", " + fstore::quote_ident(features[v.features[j]].output_name) + " " +
             type_of(v.feature_types[j], v.feature_typmods[j]);
  ddl += ")";
  fstore::spi_exec(ddl);
  return pg_guard([&] { return RangeVarGetRelid(rv, NoLock, false); });
}

// Writes every entity row with its features, in input order, into the target table. The table is
// new, so inserts skip the free-space map and always append: a smaller row never lands in an
// earlier page, and a scan of the result returns the entity rows' order.
void write_target(Oid target, EntityRows& rows, const FeatureValues& values,
                  const std::vector<size_t>& output_columns) {
  pg_guard([&] {
    Relation rel = table_open(target, RowExclusiveLock);
    TupleTableSlot* in = MakeSingleTupleTableSlot(rows.desc, &TTSOpsMinimalTuple);
    TupleTableSlot* batch[kInsertBatch];
    for (int i = 0; i < kInsertBatch; ++i) batch[i] = table_slot_create(rel, nullptr);
    BulkInsertState bistate = GetBulkInsertState();
    CommandId cid = GetCurrentCommandId(true);
    int natts = rows.desc->natts;
    int filled = 0;
    tuplestore_rescan(rows.store);
    for (size_t row = 0; tuplestore_gettupleslot(rows.store, true, false, in); ++row) {
      if ((row % kInterruptEvery) == 0) CHECK_FOR_INTERRUPTS();
      slot_getallattrs(in);
      TupleTableSlot* out = batch[filled];
      ExecClearTuple(out);
      for (int a = 0; a < natts; ++a) {
        out->tts_values[a] = in->tts_values[a];
        out->tts_isnull[a] = in->tts_isnull[a];
      }
      for (size_t c = 0; c < output_columns.size(); ++c) {
        size_t cell = row * values.width + output_columns[c];
        out->tts_values[natts + c] = values.values[cell];
        out->tts_isnull[natts + c] = values.nulls[cell];
      }
      ExecStoreVirtualTuple(out);
      ExecMaterializeSlot(out);  // the tuplestore may reuse its read buffer
      if (++filled == kInsertBatch) {
        table_multi_insert(rel, batch, filled, cid, TABLE_INSERT_SKIP_FSM, bistate);
        filled = 0;
      }
    }
    if (filled) table_multi_insert(rel, batch, filled, cid, TABLE_INSERT_SKIP_FSM, bistate);
    FreeBulkInsertState(bistate);
    table_finish_bulk_insert(rel, TABLE_INSERT_SKIP_FSM);
    for (int i = 0; i < kInsertBatch; ++i) ExecDropSingleTupleTableSlot(batch[i]);
    ExecDropSingleTupleTableSlot(in);
    table_close(rel, NoLock);
  });
}

// Refuses (54000) a call whose join state and result values would exceed
// fstore.training_set_memory_limit: per entity row about 20 bytes of timeline, per view 36 bytes
// of candidates and winners plus 9 bytes per captured value, and 9 bytes per result value (more
// for text, which is not estimated).
void check_memory(size_t entity_rows, const std::vector<ViewPlan>& views, size_t feature_count) {
  double bytes = entity_rows * (20.0 + 9.0 * feature_count);
  for (const auto& v : views) bytes += entity_rows * (36.0 + 9.0 * v.features.size());
  double limit = static_cast<double>(fstore::training_set_memory_limit_kb) * 1024.0;
  if (bytes > limit)
    throw Error(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                "training set needs about " + std::to_string(static_cast<long>(bytes / (1024 * 1024))) +
                    " MB of memory, more than fstore.training_set_memory_limit (" +
                    std::to_string(fstore::training_set_memory_limit_kb / 1024) + " MB)",
                std::to_string(entity_rows) + " entity rows, " + std::to_string(feature_count) + " features.",
                "Build it in parts (split the entity rows), or raise fstore.training_set_memory_limit.");
}

}  // namespace

// create_training_set(target, entity_rows, features, feature_service, full_feature_names)
FSTORE_FUNCTION(fstore_create_training_set) {
  auto target = opt_text(fcinfo, 0);
  auto entity_rows = opt_text(fcinfo, 1);
  auto service = opt_text(fcinfo, 3);
  bool full_names = !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);
  if (!target || target->empty()) throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "target must name a new table");
  if (!entity_rows || entity_rows->empty())
    throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "entity_rows must be a table name or a SELECT");
  if (PG_ARGISNULL(2) == !service)
    throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "pass either features or feature_service, not both or neither");

  MemoryContext engine = pg_guard([] {
    return AllocSetContextCreate(CurrentMemoryContext, "fstore training set", ALLOCSET_DEFAULT_SIZES);
  });
  pg_guard([] { if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed"); });

  std::vector<FeaturePlan> features;
  std::vector<ViewPlan> views;
  std::vector<std::unique_ptr<EntityPlan>> entities;
  plan_features(requested_refs(fcinfo, service), full_names, features, views);
  plan_views(views, entities);
  target_range_var(*target);  // refuse an existing target before doing any heavy work

  PhaseTimer timer;
  EntityRows rows = read_entity_rows(entity_rows_query(*entity_rows), entities, features, engine);
  timer.report("reading entity rows");
  for (auto& e : entities) e->timeline = std::make_unique<fstore::pit::EntityTimeline>(e->key_ids, rows.times, e->dict.size());
  timer.report("sorting entity rows");

  check_memory(rows.count, views, features.size());

  FeatureValues values;
  values.width = features.size();
  pg_guard([&] {
    Size cells = Max(rows.count * values.width, (Size)1);
    values.values = static_cast<Datum*>(MemoryContextAllocHuge(engine, cells * sizeof(Datum)));
    values.nulls = static_cast<bool*>(MemoryContextAllocHuge(engine, cells * sizeof(bool)));
    memset(values.nulls, 1, cells * sizeof(bool));
  });

  Snapshot snapshot = pg_guard([] { return RegisterSnapshot(GetActiveSnapshot()); });
  std::vector<size_t> output_columns;  // output order: views in order, their features in order
  size_t column = 0;
  for (auto& v : views) {
    EntityPlan& e = **std::find_if(entities.begin(), entities.end(), [&](auto& p) { return p->name == v.entity; });
    Relation rel = open_view(v, features);
    ViewMatch match = match_view(rel, v, e, rows, snapshot, engine);
    timer.report("scanning and matching a view");
    fill_features(rel, v, match, snapshot, values, column, engine);
    timer.report("filling in the features");
    pg_guard([&] { table_close(rel, NoLock); });
    for (size_t j = 0; j < v.features.size(); ++j) output_columns.push_back(column + j);
    column += v.features.size();
  }
  pg_guard([&] { UnregisterSnapshot(snapshot); });

  Oid target_oid = create_target(*target, rows, features, views);
  write_target(target_oid, rows, values, output_columns);
  timer.report("writing the target table");

  pg_guard([&] {
    tuplestore_end(rows.store);
    SPI_finish();
    MemoryContextDelete(engine);
  });
  PG_RETURN_INT64(static_cast<int64>(rows.count));
}
