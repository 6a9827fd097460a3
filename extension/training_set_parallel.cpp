// ParallelRead (extension/training_set_parallel.hpp): the shared-memory layout, the leader's side
// and the workers' entry point.
//
// Shared memory (keys of the table of contents):
//   kHeader    the view, the entity's key type, counts
//   kSources   per source read in parallel: relation, index among the view's sources, columns,
//              offset of its parallel scan in kScans
//   kFeatures  the feature columns of each source (AttrNumber, source-major)
//   kScans     the parallel table scans, one after the other
//   kKeys      the entity's keys in id order: offsets, then bytes (integers as 8 bytes)
//   kOffsets   the timeline's first position per key; kTimes: its time per position
//   kResults   per planned worker: the best candidate per position, then (capture) the values
#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include <unistd.h>

#include "training_set_parallel.hpp"
#include "training_set_reader.hpp"

extern "C" {
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "miscadmin.h"
#include "optimizer/cost.h"
#include "optimizer/paths.h"
#include "optimizer/optimizer.h"
#include "storage/shm_toc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/uuid.h"

PGDLLEXPORT void fstore_training_set_worker(dsm_segment* seg, shm_toc* toc);
}

namespace fstore::training {

using fstore::pg_guard;

namespace {

constexpr uint64 kHeader = 1, kSources = 2, kFeatures = 3, kScans = 4, kKeys = 5, kOffsets = 6, kTimes = 7,
                 kResults = 8;

struct SharedHeader {
  char view[NAMEDATALEN];
  Oid key_type;  // the type of the entity's key values (as the entity rows hold them)
  uint32 key_count;
  uint32 source_count;
  uint32 width;
  uint32 planned_workers;  // kResults has room for this many
  uint64 positions;
  bool capture;
};

struct SharedSource {
  Oid relid;
  uint32 index;  // among the view's sources: it goes into the row ids
  AttrNumber key_att, ts_att, created_att;
  Size scan_offset;
};

// Where one worker's results are: the best candidate per position, and (capture) the values.
struct WorkerResults {
  pit::Version* versions;
  Datum* values;
  bool* nulls;
};

Size results_stride(size_t positions, size_t width, bool capture) {
  Size bytes = MAXALIGN(positions * sizeof(pit::Version));
  if (capture) bytes += MAXALIGN(positions * width * sizeof(Datum)) + MAXALIGN(positions * width * sizeof(bool));
  return bytes;
}

WorkerResults results_of(char* base, int worker, size_t positions, size_t width, bool capture) {
  char* at = base + results_stride(positions, width, capture) * worker;
  WorkerResults r{reinterpret_cast<pit::Version*>(at), nullptr, nullptr};
  if (capture) {
    r.values = reinterpret_cast<Datum*>(at + MAXALIGN(positions * sizeof(pit::Version)));
    r.nulls = reinterpret_cast<bool*>(reinterpret_cast<char*>(r.values) + MAXALIGN(positions * width * sizeof(Datum)));
  }
  return r;
}

// The bytes of key `id` as the dictionary interns them: an integer as its 8 bytes, a uuid as its
// 16, text as its (detoasted) bytes.
std::string_view key_bytes(const EntityPlan& e, uint32_t id, int64_t& integer_scratch) {
  Datum value = e.key_values[id];
  switch (e.entity_att_type) {
    case INT2OID: integer_scratch = DatumGetInt16(value); break;
    case INT4OID: integer_scratch = DatumGetInt32(value); break;
    case INT8OID: integer_scratch = DatumGetInt64(value); break;
    case UUIDOID: return {reinterpret_cast<const char*>(DatumGetUUIDP(value)->data), UUID_LEN};
    default: {
      struct varlena* t = PG_DETOAST_DATUM_PACKED(value);
      return {VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)};
    }
  }
  return {reinterpret_cast<const char*>(&integer_scratch), sizeof(int64_t)};
}

// Test hook: fstore.debug_training_set_worker_error, a SQLSTATE a worker raises after its read.
void raise_debug_error() {
  const char* code = GetConfigOption("fstore.debug_training_set_worker_error", true, false);
  if (!code || strlen(code) != 5) return;
  ereport(ERROR, (errcode(MAKE_SQLSTATE(code[0], code[1], code[2], code[3], code[4])),
                  errmsg("fstore: error raised in training-set worker %d (fstore.debug_training_set_worker_error)",
                         ParallelWorkerNumber)));
}

// A worker: rebuilds the dictionary and the timeline, reads its part of every shared scan into its
// own matcher (values straight into its results), then writes its candidates out.
void worker_main(void* arg) {
  auto* toc = static_cast<shm_toc*>(arg);
  auto lookup = [&](uint64 key) { return pg_guard([&] { return shm_toc_lookup(toc, key, false); }); };
  auto* h = static_cast<SharedHeader*>(lookup(kHeader));
  auto* shared_sources = static_cast<SharedSource*>(lookup(kSources));
  auto* feature_atts = static_cast<AttrNumber*>(lookup(kFeatures));
  char* scans = static_cast<char*>(lookup(kScans));
  auto* key_offsets = static_cast<uint64*>(lookup(kKeys));
  const char* key_data = reinterpret_cast<const char*>(key_offsets + h->key_count + 1);
  auto* offsets = static_cast<uint32_t*>(lookup(kOffsets));
  auto* times = static_cast<int64_t*>(lookup(kTimes));
  WorkerResults out = results_of(static_cast<char*>(lookup(kResults)), ParallelWorkerNumber, h->positions, h->width,
                                 h->capture);
  // This worker's part of shared memory (common/prefault.hpp): the timeline and its own results.
  fstore::prefault(times, h->positions * sizeof(int64_t));
  fstore::prefault(out.versions, results_stride(h->positions, h->width, h->capture));

  EntityPlan e;
  e.entity_att_type = h->key_type;
  bool integer = key_kind(h->key_type) == KeyKind::Integer;
  for (uint32_t id = 0; id < h->key_count; ++id) {
    std::string_view bytes(key_data + key_offsets[id], key_offsets[id + 1] - key_offsets[id]);
    if (integer) {
      int64_t k;
      memcpy(&k, bytes.data(), sizeof k);
      e.dict.intern(k);
    } else {
      e.dict.intern(bytes);
    }
  }
  e.dict.freeze();
  std::vector<int64_t> sorted_times;
  reserve_prefaulted(sorted_times, h->positions);
  sorted_times.assign(times, times + h->positions);
  e.timeline = std::make_unique<pit::EntityTimeline>(std::vector<uint32_t>(offsets, offsets + h->key_count + 1),
                                                     std::move(sorted_times));
  ViewPlan v;
  v.name = h->view;
  v.features.resize(h->width);
  uint32 last = 0;
  for (uint32 k = 0; k < h->source_count; ++k) last = std::max(last, shared_sources[k].index);
  v.sources.resize(last + 1);
  for (uint32 k = 0; k < h->source_count; ++k) {
    const SharedSource& s = shared_sources[k];
    ViewSource& src = v.sources[s.index];
    src.rel = pg_guard([&] { return table_open(s.relid, AccessShareLock); });
    src.key_att = s.key_att;
    src.ts_att = s.ts_att;
    src.created_att = s.created_att;
    src.feature_atts.assign(feature_atts + k * h->width, feature_atts + (k + 1) * h->width);
  }
  ViewMatch match;
  match.matcher = std::make_unique<pit::ViewMatcher>(*e.timeline);
  match.captured_values = out.values;
  match.captured_nulls = out.nulls;
  MemoryContext engine = pg_guard([] {
    return AllocSetContextCreate(CurrentMemoryContext, "fstore training-set worker", ALLOCSET_DEFAULT_SIZES);
  });
  SourceReader reader(v, e, match, engine);
  for (uint32 k = 0; k < h->source_count; ++k)
    pg_guard([&] {
      reader.read(shared_sources[k].index, nullptr, ScanPath::Sequential, InvalidOid,
                  reinterpret_cast<ParallelTableScanDesc>(scans + shared_sources[k].scan_offset));
    });
  pg_guard([] { raise_debug_error(); });
  for (size_t pos = 0; pos < h->positions; ++pos) out.versions[pos] = match.matcher->best_at(static_cast<uint32_t>(pos));
  pg_guard([&] {
    for (uint32 k = 0; k < h->source_count; ++k) table_close(v.sources[shared_sources[k].index].rel, NoLock);
    MemoryContextDelete(engine);
  });
}

}  // namespace

double parallel_worker_bytes(size_t positions, size_t keys, size_t width) {
  // Per position: the timeline's time (8), the matcher's candidate (32), its results (24 + 9 per
  // value); per key: the timeline offset (4), its bytes and offset in shared memory (16), the
  // dictionary's slots (up to 64).
  return static_cast<double>(positions) * (8 + 32 + 24 + 9.0 * width) + static_cast<double>(keys) * (4 + 16 + 64);
}

int parallel_workers_for(BlockNumber pages, size_t positions, size_t keys, size_t width, double memory_left) {
  return pg_guard([&] {
    if (max_parallel_workers_per_gather <= 0 || IsInParallelMode() || !IsUnderPostmaster) return 0;
    double threshold = Max(min_parallel_table_scan_size, 1);
    if (pages < threshold) return 0;
    int workers = 1;
    for (double t = threshold * 3; pages >= t && workers < max_parallel_workers_per_gather; t *= 3) ++workers;
    // A scanning leader already uses one core: more scanners than cores only take turns (measured on
    // 2 cores: 1 worker scans 10M rows in 2.1 s, 2 workers in 2.4 s; docs/benchmarks.md).
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (parallel_leader_participation && cores > 1) workers = std::min<long>(workers, cores - 1);
    // The entity's keys and timeline are shared once; each worker adds its own part.
    double shared = static_cast<double>(positions) * 8 + static_cast<double>(keys) * 20;
    while (workers > 0 && shared + workers * parallel_worker_bytes(positions, keys, width) > memory_left) --workers;
    return workers;
  });
}

ParallelRead::ParallelRead(const ViewPlan& v, const EntityPlan& e, const std::vector<size_t>& sources,
                           Snapshot snapshot, int workers, bool capture)
    : positions_(e.timeline->size()), width_(v.features.size()), capture_(capture) {
  // The keys' bytes, gathered once (text is detoasted here, in the caller's context).
  std::vector<std::string> key_store(e.key_values.size());
  Size key_bytes_total = 0;
  pg_guard([&] {
    for (uint32_t id = 0; id < e.key_values.size(); ++id) {
      int64_t scratch;
      key_store[id].assign(key_bytes(e, id, scratch));
    }
  });
  for (const auto& k : key_store) key_bytes_total += k.size();
  const auto& offsets = e.timeline->offsets();
  const auto& times = e.timeline->sorted_times();
  std::vector<Size> scan_sizes;
  pg_guard([&] {
    for (size_t i : sources) scan_sizes.push_back(table_parallelscan_estimate(v.sources[i].rel, snapshot));
  });
  Size scans_total = 0;
  for (Size s : scan_sizes) scans_total += MAXALIGN(s);

  pg_guard([&] {
    EnterParallelMode();
    pcxt_ = CreateParallelContext("fstore", "fstore_training_set_worker", workers);
    Size sizes[] = {sizeof(SharedHeader),
                    sources.size() * sizeof(SharedSource),
                    Max(sources.size() * width_ * sizeof(AttrNumber), 1),
                    scans_total,
                    (key_store.size() + 1) * sizeof(uint64) + key_bytes_total,
                    offsets.size() * sizeof(uint32_t),
                    Max(times.size() * sizeof(int64_t), 1),
                    results_stride(positions_, width_, capture_) * workers};
    for (Size s : sizes) shm_toc_estimate_chunk(&pcxt_->estimator, s);
    shm_toc_estimate_keys(&pcxt_->estimator, lengthof(sizes));
    InitializeParallelDSM(pcxt_);
    // The leader writes the timeline here and later reads every worker's results: all of it.
    if (pcxt_->seg) fstore::prefault(dsm_segment_address(pcxt_->seg), dsm_segment_map_length(pcxt_->seg));
    void* chunks[lengthof(sizes)];
    for (size_t i = 0; i < lengthof(sizes); ++i) {
      chunks[i] = shm_toc_allocate(pcxt_->toc, sizes[i]);
      shm_toc_insert(pcxt_->toc, kHeader + i, chunks[i]);
    }
    auto* h = static_cast<SharedHeader*>(chunks[0]);
    memset(h, 0, sizeof *h);
    strlcpy(h->view, v.name.c_str(), sizeof h->view);
    h->key_type = e.entity_att_type;
    h->key_count = static_cast<uint32>(key_store.size());
    h->source_count = static_cast<uint32>(sources.size());
    h->width = static_cast<uint32>(width_);
    h->planned_workers = static_cast<uint32>(workers);
    h->positions = positions_;
    h->capture = capture_;
    auto* shared_sources = static_cast<SharedSource*>(chunks[1]);
    auto* feature_atts = static_cast<AttrNumber*>(chunks[2]);
    char* scans = static_cast<char*>(chunks[3]);
    Size scan_offset = 0;
    for (size_t k = 0; k < sources.size(); ++k) {
      const ViewSource& s = v.sources[sources[k]];
      shared_sources[k] = SharedSource{RelationGetRelid(s.rel), static_cast<uint32>(sources[k]), s.key_att, s.ts_att,
                                       s.created_att, scan_offset};
      std::copy(s.feature_atts.begin(), s.feature_atts.end(), feature_atts + k * width_);
      auto* scan = reinterpret_cast<ParallelTableScanDesc>(scans + scan_offset);
      table_parallelscan_initialize(s.rel, scan, snapshot);
      scans_.push_back(scan);
      scan_offset += MAXALIGN(scan_sizes[k]);
    }
    auto* key_offsets = static_cast<uint64*>(chunks[4]);
    char* key_data = reinterpret_cast<char*>(key_offsets + key_store.size() + 1);
    uint64 at = 0;
    for (size_t id = 0; id < key_store.size(); ++id) {
      key_offsets[id] = at;
      memcpy(key_data + at, key_store[id].data(), key_store[id].size());
      at += key_store[id].size();
    }
    key_offsets[key_store.size()] = at;
    memcpy(chunks[5], offsets.data(), offsets.size() * sizeof(uint32_t));
    if (!times.empty()) memcpy(chunks[6], times.data(), times.size() * sizeof(int64_t));
    LaunchParallelWorkers(pcxt_);
  });
}

int ParallelRead::launched() const { return pcxt_->nworkers_launched; }

bool ParallelRead::leader_takes_part() const { return launched() == 0 || parallel_leader_participation; }

void ParallelRead::finish(ViewMatch& match) {
  pg_guard([&] { WaitForParallelWorkersToFinish(pcxt_); });
  char* results = static_cast<char*>(pg_guard([&] { return shm_toc_lookup(pcxt_->toc, kResults, false); }));
  for (int w = 0; w < launched(); ++w) {
    WorkerResults r = results_of(results, w, positions_, width_, capture_);
    for (size_t pos = 0; pos < positions_; ++pos) {
      if (!match.matcher->merge_at(static_cast<uint32_t>(pos), r.versions[pos]) || !capture_) continue;
      std::copy(r.values + pos * width_, r.values + (pos + 1) * width_, match.captured_values + pos * width_);
      std::copy(r.nulls + pos * width_, r.nulls + (pos + 1) * width_, match.captured_nulls + pos * width_);
    }
    pg_guard([] { CHECK_FOR_INTERRUPTS(); });
  }
  pg_guard([&] {
    DestroyParallelContext(pcxt_);
    ExitParallelMode();
  });
  pcxt_ = nullptr;
}

}  // namespace fstore::training

// The workers' entry point, found by name through CreateParallelContext.
void fstore_training_set_worker(dsm_segment* seg, shm_toc* toc) { fstore::run_cpp_body(fstore::training::worker_main, toc); }
