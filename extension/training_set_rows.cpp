// The entity rows of a training set: the query that produces them, the columns the join needs,
// and one pass through a cursor keeping every row (in a tuplestore) and its keys and time.
#include <string>
#include <vector>

#include "training_set.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

namespace fstore::training {

using fstore::Error;
using fstore::pg_guard;

namespace {

constexpr int kFetchBatch = 10000;  // entity rows per cursor fetch

}  // namespace

// The key kind of a type; nullopt for types that cannot be join keys.
std::optional<KeyKind> key_kind(Oid type) {
  switch (type) {
    case INT2OID: case INT4OID: case INT8OID: return KeyKind::Integer;
    case TEXTOID: case VARCHAROID: return KeyKind::Text;
    case UUIDOID: return KeyKind::Uuid;
    default: return std::nullopt;
  }
}

// A join key Datum of `type` as a dictionary entry; interns or only looks up.
uint32_t key_id(pit::KeyDictionary& dict, Oid type, Datum value, bool intern) {
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

namespace {

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
    auto* att = TupleDescAttr(desc, e->entity_att - 1);
    e->entity_att_type = att->atttypid;
    if (!key_kind(e->key_type))
      throw Error(ERRCODE_FEATURE_NOT_SUPPORTED, "entity \"" + e->name + "\" has a join key type training sets cannot compare",
                  "", "Join keys are bigint, integer, smallint, text, varchar or uuid.");
    if (key_kind(e->entity_att_type) != key_kind(e->key_type))
      throw Error(ERRCODE_DATATYPE_MISMATCH,
                  "entity rows column \"" + e->join_key + "\" cannot be compared with the key of entity \"" +
                      e->name + "\"");
    // Keys are matched by their bytes: right for every deterministic collation, not for one that
    // makes different strings equal.
    if (OidIsValid(att->attcollation) && !pg_guard([&] { return get_collation_isdeterministic(att->attcollation); }))
      throw Error(ERRCODE_FEATURE_NOT_SUPPORTED,
                  "entity rows column \"" + e->join_key + "\" has a nondeterministic collation",
                  "", "Use a deterministic collation for the join key, e.g. " + e->join_key + " COLLATE \"default\".");
  }
}

}  // namespace

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
        push_back_prefaulted(rows.times, isnull ? 0 : DatumGetTimestampTz(t));
        rows.time_null.push_back(isnull);
        for (auto& e : entities) {
          Datum k = heap_getattr(tuple, e->entity_att, SPI_tuptable->tupdesc, &isnull);
          // A NULL key or time matches nothing: that row's features stay NULL.
          bool usable = !isnull && !rows.time_null.back();
          uint32_t id = usable ? key_id(e->dict, e->entity_att_type, k, true) : fstore::pit::kNoKey;
          if (id != fstore::pit::kNoKey && id == e->key_values.size()) {  // a new key: keep it for index probes
            auto* a = TupleDescAttr(SPI_tuptable->tupdesc, e->entity_att - 1);
            MemoryContext batch = MemoryContextSwitchTo(engine);
            push_back_prefaulted(e->key_values, datumCopy(k, a->attbyval, a->attlen));
            MemoryContextSwitchTo(batch);
          }
          push_back_prefaulted(e->key_ids, id);
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

}  // namespace fstore::training
