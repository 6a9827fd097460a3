// fstore.create_training_set: point-in-time joins inside PostgreSQL (docs/architecture.md).
//
// 1. Resolve the feature references and read each view's registry row (SPI, a few rows).
// 2. Run the entity-rows query once through a cursor: every row goes into a tuplestore (which
//    spills to disk past work_mem) and its join keys and time into flat arrays.
// 3. Per view: read its table, or each leaf partition of a partitioned table, by the cheapest path
//    (sequential, key index, per-row probe), offering each row to the point-in-time matcher
//    (common/pit_join.hpp); then fetch each winning row once, in TID order.
// 4. Create the target table (entity-row columns, then the features in request order) and write
//    entity rows plus features with table_multi_insert.
#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "names.hpp"
#include "settings.hpp"
#include "spi_query.hpp"
#include "view_partitions.hpp"
#include "training_set.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
}

namespace {

using fstore::Error;
using namespace fstore::training;

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

constexpr int kInsertBatch = 1000;  // output rows per table_multi_insert

// A column name as CREATE TABLE keeps it: cut to NAMEDATALEN - 1 bytes on a character boundary.
std::string column_name(const std::string& name) {
  if (name.size() < NAMEDATALEN) return name;
  int len = pg_guard([&] { return pg_mbcliplen(name.c_str(), static_cast<int>(name.size()), NAMEDATALEN - 1); });
  return name.substr(0, static_cast<size_t>(len));
}

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

// Resolves references into features (in request order) and the views they come from. Two features
// with one output column name are refused (42710) before any data is read.
void plan_features(const std::vector<std::string>& refs, bool full_names, std::vector<FeaturePlan>& features,
                   std::vector<ViewPlan>& views) {
  std::map<std::string, size_t> view_index;
  std::map<std::string, std::string> output_owner;  // output column -> reference, for collisions
  for (const auto& ref : refs) {
    auto resolved = fstore::spi_query(
        "SELECT view_name, feature_name FROM fstore._resolve_feature_refs(ARRAY[$1]) ORDER BY ordinal", {ref});
    for (auto& row : resolved) {
      FeaturePlan f{*row[0], *row[1], column_name(full_names ? *row[0] + "__" + *row[1] : *row[1])};
      auto [it, fresh] = output_owner.emplace(f.output_name, f.view + ":" + f.name);
      if (!fresh)
        throw Error(ERRCODE_DUPLICATE_OBJECT,
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

}  // namespace

namespace fstore::training {

void read_view_registry(ViewPlan& v) {
  auto rows = fstore::spi_query(
      "SELECT entity, table_name::oid::text, join_key, timestamp_column, created_column, key_type::oid::text, "
      // The ttl as PostgreSQL stores it (months, days, microseconds), whatever IntervalStyle says.
      "(extract(year FROM ttl) * 12 + extract(month FROM ttl))::int4::text, extract(day FROM ttl)::int4::text, "
      "(extract(hour FROM ttl) * 3600000000 + extract(minute FROM ttl) * 60000000 "
      "+ extract(microseconds FROM ttl))::int8::text FROM fstore.feature_views WHERE name = $1", {v.name});
  if (rows.empty()) throw Error(ERRCODE_UNDEFINED_OBJECT, "feature view \"" + v.name + "\" does not exist");
  auto& r = rows[0];
  v.entity = *r[0];
  v.relid = static_cast<Oid>(std::stoul(*r[1]));
  v.key_column = *r[2];
  v.ts_column = *r[3];
  v.created_column = r[4].value_or("");
  v.entity_key_type = static_cast<Oid>(std::stoul(*r[5]));
  if (r[6]) v.ttl = fstore::Interval{std::stoi(*r[6]), std::stoi(*r[7]), std::stoll(*r[8])};
}

void alloc_cells(MemoryContext cxt, Size cells, Datum*& values, bool*& nulls) {
  values = static_cast<Datum*>(MemoryContextAllocHuge(cxt, cells * sizeof(Datum)));
  nulls = static_cast<bool*>(MemoryContextAllocHuge(cxt, cells * sizeof(bool)));
  fstore::prefault(values, cells * sizeof(Datum));
  fstore::prefault(nulls, cells * sizeof(bool));
}

}  // namespace fstore::training

namespace {

// Reads each view's registry row and collects the entities involved.
void plan_views(std::vector<ViewPlan>& views, std::vector<std::unique_ptr<EntityPlan>>& entities) {
  for (auto& v : views) {
    read_view_registry(v);
    auto known = std::find_if(entities.begin(), entities.end(), [&](auto& e) { return e->name == v.entity; });
    if (known == entities.end()) {
      auto e = std::make_unique<EntityPlan>();
      e->name = v.entity;
      e->join_key = v.key_column;
      e->key_type = v.entity_key_type;
      entities.push_back(std::move(e));
    }
  }
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

// CREATE TABLE target (entity-row columns..., feature columns in request order); returns its OID.
Oid create_target(const std::string& target, const EntityRows& rows, const std::vector<FeaturePlan>& features) {
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
  for (const auto& f : features) ddl += ", " + fstore::quote_ident(f.output_name) + " " + type_of(f.type, f.typmod);
  ddl += ")";
  fstore::spi_exec(ddl);
  return pg_guard([&] { return RangeVarGetRelid(rv, NoLock, false); });
}

// Writes every entity row with its features, in input order, into the target table. The table is
// new, so inserts skip the free-space map and always append: a smaller row never lands in an
// earlier page, and a scan of the result returns the entity rows' order.
void write_target(Oid target, EntityRows& rows, const FeatureValues& values) {
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
      for (size_t c = 0; c < values.width; ++c) {
        size_t cell = row * values.width + c;
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
// Returns the bytes left under the limit (for parallel workers).
double check_memory(size_t entity_rows, const std::vector<ViewPlan>& views, size_t feature_count) {
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
  return limit - bytes;
}

}  // namespace

// create_training_set(target, entity_rows, features, feature_service, full_feature_names, transform)
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

  PhaseTimer timer;
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
  TransformPlan transforms = plan_transforms(service, PG_NARGS() > 5 ? opt_text(fcinfo, 5) : std::nullopt);

  timer.report("planning (registry, references, transforms)");
  EntityRows rows = read_entity_rows(entity_rows_query(*entity_rows), entities, features, engine);
  timer.report("reading entity rows");
  for (auto& e : entities) {
    e->dict.freeze();  // every key is in: dense integer keys get a direct table
    e->timeline = std::make_unique<fstore::pit::EntityTimeline>(e->key_ids, rows.times, e->dict.size());
  }
  timer.report("sorting entity rows");

  double memory_left = check_memory(rows.count, views, features.size());

  FeatureValues values;
  values.width = features.size();
  pg_guard([&] {
    Size cells = Max(rows.count * values.width, (Size)1);
    alloc_cells(engine, cells, values.values, values.nulls);
    memset(values.nulls, 1, cells * sizeof(bool));
  });

  Snapshot snapshot = pg_guard([] { return RegisterSnapshot(GetActiveSnapshot()); });
  for (auto& v : views) {
    EntityPlan& e = **std::find_if(entities.begin(), entities.end(), [&](auto& p) { return p->name == v.entity; });
    set_training_reach(v, rows);  // only the partitions these entity rows can reach
    open_view(v, features);
    ViewMatch match = match_view(v, e, rows, snapshot, engine, memory_left);
    timer.report("scanning and matching a view");
    fill_features(v, match, snapshot, values, engine);
    timer.report("filling in the features");
    close_view(v);
  }
  pg_guard([&] { UnregisterSnapshot(snapshot); });

  apply_transforms(transforms, *entity_rows, rows.count, full_names, features, values, engine);
  if (transforms.mode != TransformPlan::Mode::None) timer.report("transforming");

  Oid target_oid = create_target(*target, rows, features);
  write_target(target_oid, rows, values);
  timer.report("writing the target table");

  pg_guard([&] {
    tuplestore_end(rows.store);
    SPI_finish();
    MemoryContextDelete(engine);
  });
  PG_RETURN_INT64(static_cast<int64>(rows.count));
}
