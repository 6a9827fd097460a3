// The sync worker: keeps Redis equal to PostgreSQL's point-in-time winners (see docs/sync.md).
// One runs inside every fstore-server; a PostgreSQL advisory lock makes exactly one of them active.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace fstore::sync {

// A snapshot of the worker's state, for /ready and /metrics.
struct SyncStatus {
  bool leader = false;          // holds the advisory lock and is syncing
  bool pg_connected = false;    // its PostgreSQL connection is up
  bool redis_connected = false; // its Redis connection is up
  bool caught_up = false;       // leader: queue drained and Redis marker present; follower: leader seen caught up
  int64_t queue_depth = 0;      // rows in fstore.change_queue at the last look (due changes only)
  double lag_seconds = 0;       // age of the oldest queued change at the last look (0 when caught up)
  uint64_t batches_applied = 0;
  uint64_t keys_written = 0;
  uint64_t rebuilds = 0;        // full rebuilds of Redis from PostgreSQL
  uint64_t pg_errors = 0;
  uint64_t redis_errors = 0;
  std::string last_error;       // empty when healthy
  bool rebuilding = false;      // a full rebuild of Redis is running (leader) or was seen (follower)
  uint64_t view_resyncs = 0;    // single-view resyncs (TRUNCATE, new or changed views)
  uint64_t leader_epoch = 0;    // fencing epoch while leader, 0 otherwise
  // Views that cannot be synced now (view name, reason: a dropped or retyped column, a PostgreSQL
  // error on the table). They are skipped and retried; the other views stay in sync.
  std::vector<std::pair<std::string, std::string>> broken_views;
};

struct SyncOptions {
  std::string pg_url;
  std::string redis_url;
  int batch_size = 5000;          // queue rows taken per transaction
  int poll_interval_ms = 1000;    // wake up at least this often even without NOTIFY
  int chunk_keys = 10000;         // entity keys per Redis MULTI/EXEC
  int takeover_interval_ms = 500; // how often a follower tries to take the advisory lock
  int max_backoff_ms = 2000;      // reconnect backoff ceiling
  int broken_retry_ms = 30000;    // how often views that cannot be synced are tried again
  std::string application_name = "fstore-sync";  // of the worker's PostgreSQL session
};

class SyncWorker {
 public:
  explicit SyncWorker(SyncOptions options);
  ~SyncWorker();
  SyncWorker(const SyncWorker&) = delete;
  SyncWorker& operator=(const SyncWorker&) = delete;

  void start();                  // starts the background thread; returns at once
  void stop();                   // asks the thread to finish its batch and joins it
  SyncStatus status() const;     // thread-safe snapshot

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fstore::sync
