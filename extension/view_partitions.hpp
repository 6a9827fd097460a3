// Partition pruning for the training-set engine and the statistics (0.2.0, API.md "Partitioned
// history"): which leaf relations of a view's table can hold rows with an event time in
// [ViewPlan::reach_lo, ViewPlan::reach_hi], so that a scan (sequential, by index, or one per
// relation in parallel) opens and reads only those.
//
// Pruning uses the partition bounds PostgreSQL keeps for a table partitioned BY RANGE on the
// view's event-time column (timestamptz in its default ordering), at every level of the tree; a
// table partitioned otherwise (LIST, HASH, an expression, another column) keeps all its
// partitions, as does a plain table with inheritance children. A default partition is always
// kept: it can hold any time (late and far-future rows).
#pragma once

#include <vector>

#include "training_set.hpp"

namespace fstore::training {

// Sets v.reach_lo/reach_hi to what a training set can reach in view `v`: rows at or before the
// latest entity row's time and, with a ttl, not before the earliest entity row's time minus the
// ttl (fstore::add_interval_utc, as the matcher bounds them). Entity rows with a NULL time match
// nothing; without any time the reach is empty (reach_lo > reach_hi).
void set_training_reach(ViewPlan& v, const EntityRows& rows);

// The relations with storage of `v.table` whose rows can have an event time in v's reach: the
// table itself when it is neither partitioned nor has inheritance children; otherwise its leaf
// partitions in bound order (a default partition after the ranges of its level), or all its
// inheritance children. Every returned relation other than `v.table` is open and locked
// (AccessShareLock); pruned partitions are neither, as in PostgreSQL's planner. The caller closes
// them with table_close(rel, NoLock). 0A000 for a reachable partition that is not a plain table.
std::vector<Relation> reachable_relations(const ViewPlan& v);

}  // namespace fstore::training
