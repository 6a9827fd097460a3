// The training-set engine's shared plan (extension/training_set*.cpp): what create_training_set
// resolved from the registry, the entity rows it read, and what each view's scan leaves behind.
//
//   training_set.cpp       the SQL function: plan, run, create and fill the target table
//   training_set_rows.cpp  the entity rows: query, columns, keys and times
//   training_set_scan.cpp  one view: open its table (or its leaf partitions), choose paths, match, fetch
//   training_set_reader.cpp  one source of a view into the matcher, by its path
//   training_set_parallel.cpp  a view's big sequential sources read with parallel workers
//   view_partitions.cpp    which leaf partitions a view's reach of event times needs
//   training_set_transform.cpp  transformations: fit or load a state, rewrite the feature columns
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// Library headers (nlohmann, through transform.hpp) before PostgreSQL's.
#include "transform.hpp"
#include "pit_join.hpp"
#include "prefault.hpp"
#include "pg_boundary.hpp"
#include "time_rule.hpp"

extern "C" {
#include "access/tupdesc.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "utils/tuplestore.h"
}

namespace fstore::training {

constexpr int kInterruptEvery = 1 << 14;  // rows between CHECK_FOR_INTERRUPTS

// How join-key values are compared: as integers (int2/int4/int8) or as bytes (text, varchar, uuid).
enum class KeyKind { Integer, Text, Uuid };

// The key kind of a type; nullopt for types that cannot be join keys.
std::optional<KeyKind> key_kind(Oid type);

// A join key Datum of `type` as a dictionary entry; interns or only looks up.
uint32_t key_id(pit::KeyDictionary& dict, Oid type, Datum value, bool intern);

// One requested feature: where it comes from, what its output column is called and its type.
struct FeaturePlan {
  std::string view;
  std::string name;
  std::string output_name;  // already cut to NAMEDATALEN - 1 bytes, as CREATE TABLE would
  Oid type = InvalidOid;    // filled when the view's table is opened
  int32 typmod = -1;
};

// One relation holding rows of a view: its table, or one leaf partition (or inheritance child) of
// it, with the view's columns bound by name (partitions may order their columns differently).
struct ViewSource {
  Relation rel = nullptr;
  AttrNumber key_att = 0, ts_att = 0, created_att = 0;  // created_att 0: no created column
  std::vector<AttrNumber> feature_atts;                 // parallel to ViewPlan::features
};

// One feature view taking part, with what the scan needs.
struct ViewPlan {
  std::string name;
  std::string entity;
  Oid relid = InvalidOid;
  std::string key_column, ts_column, created_column;  // created_column empty: none
  std::optional<Interval> ttl;
  Oid entity_key_type = InvalidOid;  // the entity's key type: the table's key must compare with it
  std::vector<size_t> features;  // indices into the FeaturePlan list, in request order
  // The event times the caller needs, both ends included (everything by default): open_view opens
  // only the partitions that can hold them (extension/view_partitions.hpp).
  int64_t reach_lo = INT64_MIN, reach_hi = INT64_MAX;
  // Filled when the table is opened:
  Relation table = nullptr;          // the registered table (perhaps partitioned): checks, locks
  std::vector<ViewSource> sources;   // where the rows are; at most 65,535 (row ids carry the index)
  std::vector<bool> feature_byval;   // parallel to features
};

// One entity taking part: its key column among the entity rows and its timeline.
struct EntityPlan {
  std::string name;
  std::string join_key;
  Oid key_type = InvalidOid;
  int entity_att = 0;  // attribute number of the join key in the entity rows
  Oid entity_att_type = InvalidOid;
  pit::KeyDictionary dict;
  std::vector<uint32_t> key_ids;  // per entity row
  std::vector<Datum> key_values;  // per key id: the key, copied into the engine's context
  std::unique_ptr<pit::EntityTimeline> timeline;
};

// The entity rows as read: kept rows, their times, and their tuple descriptor.
struct EntityRows {
  Tuplestorestate* store = nullptr;
  TupleDesc desc = nullptr;
  std::vector<int64_t> times;
  std::vector<bool> time_null;
  size_t count = 0;
};

// Feature values of all entity rows, row-major: values[row * width + feature index].
struct FeatureValues {
  size_t width = 0;
  Datum* values = nullptr;
  bool* nulls = nullptr;
};

// Allocates `cells` values and null flags in `cxt` (huge allocations allowed), both prefaulted
// (common/prefault.hpp); runs PostgreSQL code, so call it inside pg_guard.
void alloc_cells(MemoryContext cxt, Size cells, Datum*& values, bool*& nulls);

// What the scan of one view leaves behind.
struct ViewMatch {
  std::unique_ptr<pit::ViewMatcher> matcher;
  std::vector<uint32_t> winners;     // per entity row: winning timeline position, or kNoPosition
  // When every requested feature is passed by value (numbers, booleans, timestamps), the scan keeps
  // the values of each position's candidate here, so no winning row has to be fetched again.
  Datum* captured_values = nullptr;  // [position * features + j]
  bool* captured_nulls = nullptr;
};

// The SELECT that produces the entity rows: `entity_rows` itself when it is a query, else
// `SELECT * FROM <entity_rows as a (qualified) table name>`.
std::string entity_rows_query(const std::string& entity_rows);

// Runs the entity-rows query once, keeping every row in a tuplestore and its keys and time aside.
EntityRows read_entity_rows(const std::string& query, std::vector<std::unique_ptr<EntityPlan>>& entities,
                            const std::vector<FeaturePlan>& features, MemoryContext engine);

// Fills a view's registry fields (entity, table, columns, ttl) from fstore.feature_views by its
// name; 42704 when there is no such view.
void read_view_registry(ViewPlan& v);

// Opens a view's table (and the leaf partitions that can hold its reach) for reading after the permission and RLS checks
// PostgreSQL applies to a SELECT on it; binds its columns and the features' types.
void open_view(ViewPlan& v, std::vector<FeaturePlan>& features);

// Closes what open_view opened (locks are kept to the end of the transaction).
void close_view(ViewPlan& v);

// Reads one view (by the path fstore.training_set_scan and the statistics choose; a big
// sequential read with parallel workers that fit in `memory_left` bytes), offering every row to
// the matcher; returns the winners per entity row.
ViewMatch match_view(const ViewPlan& v, EntityPlan& e, const EntityRows& rows, Snapshot snapshot,
                     MemoryContext engine, double memory_left);

// Puts the winners' feature values into `out`, each feature in its own (request order) column.
void fill_features(const ViewPlan& v, const ViewMatch& match, Snapshot snapshot, FeatureValues& out,
                   MemoryContext engine);

// The transformations of one call (create_training_set's `transform`): none, fit now, or apply
// a stored version.
struct TransformPlan {
  enum class Mode { None, Fit, Apply };
  Mode mode = Mode::None;
  std::string service;
  std::string specs_text;                              // Fit: the service's specs as fitted
  std::map<std::string, transform::Spec> specs;        // Fit: by feature reference
  std::map<std::string, transform::State> states;      // Apply (and Fit, once fitted)
  int version = 0;                                     // Apply: the stored version; Fit: the new one
};

// Resolves `transform` for `service` before any data is read: 22023 without a service or with a
// bad argument, 42704 for a version that does not exist, 22023 for a stale one.
TransformPlan plan_transforms(const std::optional<std::string>& service, const std::optional<std::string>& transform);

// After the join: fits and stores the version (Fit), then replaces each transformed feature's
// column with its output columns in `features` and `values` (both rewritten).
void apply_transforms(TransformPlan& plan, const std::string& entity_rows, size_t rows, bool full_names,
                      std::vector<FeaturePlan>& features, FeatureValues& values, MemoryContext engine);

}  // namespace fstore::training
