// A parallel sequential read of a feature view: PostgreSQL's parallel workers (a ParallelContext of
// dynamic background workers) and the leader share one parallel table scan per source; each worker
// matches its blocks against its own copy of the entity's keys and timeline, shipped in dynamic
// shared memory, and leaves its candidates there; the leader merges them by the point-in-time
// rule, so the answer is the one a single scan gives (row ids do not depend on who read the row).
//
// PostgreSQL's machinery gives the rest: the workers run in the leader's transaction, snapshot,
// user and settings; an error in a worker reaches the leader with its SQLSTATE; a cancel or an
// error of the leader stops the workers; max_parallel_workers caps what is launched, and with no
// worker launched the leader reads everything itself.
#pragma once

#include <vector>

#include "training_set.hpp"

extern "C" {
#include "access/parallel.h"
#include "access/relscan.h"
}

namespace fstore::training {

// How many workers should read `pages` heap pages for a join of `positions` entity rows over
// `keys` distinct keys and `width` captured features: PostgreSQL's rule for a parallel sequential
// scan (one worker from min_parallel_table_scan_size, one more each time the table triples, at
// most max_parallel_workers_per_gather), less any that would take the call past `memory_left`
// bytes. 0 inside parallel mode (a nested call) and outside the postmaster.
int parallel_workers_for(BlockNumber pages, size_t positions, size_t keys, size_t width, double memory_left);

// The bytes one worker of such a join needs (its copies, its matcher, its results in shared memory).
double parallel_worker_bytes(size_t positions, size_t keys, size_t width);

class ParallelRead {
 public:
  // Enters parallel mode, puts the entity's keys and timeline and one parallel scan of each of
  // `sources` (indices into v.sources) in shared memory and launches up to `workers` workers.
  // `capture`: the workers also keep their candidates' feature values (all passed by value).
  ParallelRead(const ViewPlan& v, const EntityPlan& e, const std::vector<size_t>& sources, Snapshot snapshot,
               int workers, bool capture);
  ParallelRead(const ParallelRead&) = delete;
  ParallelRead& operator=(const ParallelRead&) = delete;

  // The shared scan of sources[k], for the leader's part.
  ParallelTableScanDesc scan_of(size_t k) const { return scans_[k]; }
  // Whether the leader reads blocks too: always when no worker started, else by
  // parallel_leader_participation.
  bool leader_takes_part() const;
  int launched() const;
  // Waits for the workers (raising a worker's error here, with its SQLSTATE), merges their
  // candidates into `match`, and leaves parallel mode.
  void finish(ViewMatch& match);

 private:
  ParallelContext* pcxt_ = nullptr;
  std::vector<ParallelTableScanDesc> scans_;
  size_t positions_ = 0;
  size_t width_ = 0;
  bool capture_ = false;
};

}  // namespace fstore::training
