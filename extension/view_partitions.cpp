// Partition pruning by event time (extension/view_partitions.hpp).
#include "view_partitions.hpp"

#include <algorithm>
#include <limits>
#include <string>

extern "C" {
#include "access/table.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class_d.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type_d.h"
#include "commands/defrem.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
}

namespace fstore::training {

using fstore::Error;
using fstore::pg_guard;

namespace {

constexpr int64_t kMinTime = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxTime = std::numeric_limits<int64_t>::max();

// Whether partitioned `rel` is partitioned BY RANGE on exactly the column `ts_column`, a
// timestamptz compared in its default btree ordering: then its bounds are event times.
bool ranges_by_time(Relation rel, const std::string& ts_column) {
  PartitionKey key = RelationGetPartitionKey(rel);
  if (key->strategy != PARTITION_STRATEGY_RANGE || key->partnatts != 1 || key->partattrs[0] == 0 ||
      key->parttypid[0] != TIMESTAMPTZOID)
    return false;
  if (ts_column != NameStr(TupleDescAttr(RelationGetDescr(rel), key->partattrs[0] - 1)->attname)) return false;
  Oid opclass = GetDefaultOpClass(TIMESTAMPTZOID, BTREE_AM_OID);
  return OidIsValid(opclass) && key->partopfamily[0] == get_opclass_family(opclass);
}

// Range bound number `k` of `bi` as an event time; MINVALUE and MAXVALUE as the extremes, with
// `unbounded` set for MAXVALUE (it lies above every time, 'infinity' included).
int64_t range_bound(PartitionBoundInfo bi, int k, bool& unbounded) {
  unbounded = false;
  if (k < 0) return kMinTime;
  switch (bi->kind[k][0]) {
    case PARTITION_RANGE_DATUM_MINVALUE: return kMinTime;
    case PARTITION_RANGE_DATUM_MAXVALUE: unbounded = true; return kMaxTime;
    default: return DatumGetTimestampTz(bi->datums[k][0]);
  }
}

// The partitions of `rel` (indexes into `pd`) that can hold an event time in [lo, hi]: for a
// range on the event time those whose [lower, upper) meets it, then the default partition;
// otherwise every partition. Runs inside pg_guard (catalog lookups).
void reachable_parts(Relation rel, PartitionDesc pd, const ViewPlan& v, std::vector<int>& parts) {
  PartitionBoundInfo bi = pd->boundinfo;
  if (pd->nparts == 0 || !bi) return;
  if (!ranges_by_time(rel, v.ts_column)) {
    for (int p = 0; p < pd->nparts; ++p) parts.push_back(p);
    return;
  }
  // indexes[i] is the partition whose upper bound is datums[i]; its lower bound is datums[i - 1].
  for (int i = 0; i < bi->ndatums; ++i) {
    int part = bi->indexes[i];
    if (part < 0) continue;  // a gap between partitions
    bool lower_max = false, upper_max = false;
    int64_t lower = range_bound(bi, i - 1, lower_max), upper = range_bound(bi, i, upper_max);
    if (lower <= v.reach_hi && (upper_max || upper > v.reach_lo)) parts.push_back(part);
  }
  if (partition_bound_has_default(bi)) parts.push_back(bi->default_index);
}

// Appends to `out` the reachable leaves under partitioned `rel` (open and locked), descending
// into partitioned partitions; closes what it opened itself when it refuses one.
void collect_leaves(Relation rel, const ViewPlan& v, std::vector<Relation>& out) {
  std::vector<int> parts;
  PartitionDesc pd = pg_guard([&] {
    PartitionDesc d = RelationGetPartitionDesc(rel, true);
    return d;
  });
  pg_guard([&] { reachable_parts(rel, pd, v, parts); });
  for (int p : parts) {
    Oid oid = pd->oids[p];
    Relation child = pg_guard([&] { return table_open(oid, AccessShareLock); });
    char kind = child->rd_rel->relkind;
    if (kind == RELKIND_RELATION || kind == RELKIND_MATVIEW) {
      out.push_back(child);
      continue;
    }
    if (kind == RELKIND_PARTITIONED_TABLE) {
      collect_leaves(child, v, out);
      pg_guard([&] { table_close(child, NoLock); });
      continue;
    }
    std::string name = RelationGetRelationName(child);
    pg_guard([&] { table_close(child, NoLock); });
    throw Error(ERRCODE_FEATURE_NOT_SUPPORTED,
                "feature view \"" + v.name + "\": partition \"" + name + "\" is not a plain table",
                "Training sets read tables and their partitions directly; foreign partitions are not supported.");
  }
}

// Every inheritance child of `v.table` with storage (and the table itself), locked and open.
void collect_children(const ViewPlan& v, std::vector<Relation>& out) {
  List* members = pg_guard([&] { return find_all_inheritors(v.relid, AccessShareLock, nullptr); });
  ListCell* lc;
  foreach (lc, members) {
    Oid member = lfirst_oid(lc);
    if (member == v.relid) {
      out.push_back(v.table);
      continue;
    }
    Relation rel = pg_guard([&] { return table_open(member, NoLock); });  // locked above
    char kind = rel->rd_rel->relkind;
    if (kind == RELKIND_RELATION || kind == RELKIND_MATVIEW) {
      out.push_back(rel);
      continue;
    }
    std::string name = RelationGetRelationName(rel);
    pg_guard([&] { table_close(rel, NoLock); });
    throw Error(ERRCODE_FEATURE_NOT_SUPPORTED,
                "feature view \"" + v.name + "\": inheritance child \"" + name + "\" is not a plain table",
                "Training sets read tables and their children directly; foreign tables are not supported.");
  }
}

}  // namespace

void set_training_reach(ViewPlan& v, const EntityRows& rows) {
  int64_t lo = kMaxTime, hi = kMinTime;
  for (size_t i = 0; i < rows.count; ++i) {
    if (rows.time_null[i]) continue;
    int64_t t = rows.times[i];
    hi = std::max(hi, t);
    lo = std::min(lo, v.ttl ? fstore::add_interval_utc(t, *v.ttl, -1) : kMinTime);
  }
  v.reach_lo = lo;
  v.reach_hi = hi;
}

std::vector<Relation> reachable_relations(const ViewPlan& v) {
  std::vector<Relation> out;
  try {
    if (v.table->rd_rel->relkind == RELKIND_PARTITIONED_TABLE) {
      if (v.reach_lo <= v.reach_hi) collect_leaves(v.table, v, out);
    } else if (v.table->rd_rel->relhassubclass) {
      collect_children(v, out);
    } else {
      out.push_back(v.table);
    }
  } catch (const Error&) {
    for (Relation r : out)
      if (r != v.table) pg_guard([&] { table_close(r, NoLock); });
    throw;
  }
  return out;
}

}  // namespace fstore::training
