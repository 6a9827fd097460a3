// The sync worker's state and steps, shared by sync_worker.cpp (the thread, batches, the queue)
// and sync_resync.cpp (Redis writes, whole-view resyncs, reconcile, full rebuilds). Private to
// server/sync.
#pragma once

#include "sync/async_writer.hpp"
#include "sync/cluster_link.hpp"
#include "sync/redis_link.hpp"
#include "sync/sync_views.hpp"
#include "sync/sync_worker.hpp"

#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

namespace fstore::sync {

using Clock = std::chrono::steady_clock;

// Thrown when the marker shows that another worker took over (higher epoch) or changed it under us.
struct LostLeadership : std::runtime_error { using std::runtime_error::runtime_error; };
// Thrown when Redis lost data (marker missing, in the wrong state, or behind PostgreSQL).
struct NeedRebuild : std::runtime_error { using std::runtime_error::runtime_error; };
// Thrown when the WATCHed marker changed between check and EXEC: retry from a fresh look.
struct RetryBatch : std::runtime_error { using std::runtime_error::runtime_error; };

// A notification receiver that raises a flag.
class FlagReceiver : public pqxx::notification_receiver {
 public:
  FlagReceiver(pqxx::connection_base& c, const std::string& channel, std::atomic<bool>& flag)
      : pqxx::notification_receiver(c, channel), flag_(flag) {}
  void operator()(const std::string&, int) override { flag_ = true; }
 private:
  std::atomic<bool>& flag_;
};

int64_t unix_ms();

// The transaction's now() (one "now" per batch: PostgreSQL keeps it for the whole transaction) in
// PostgreSQL microseconds.
int64_t tx_now_us(pqxx::transaction_base& tx);

struct SyncWorker::Impl {
  explicit Impl(SyncOptions o);

  SyncOptions options;
  RedisLink redis;                       // the one Redis (unused on a cluster)
  std::unique_ptr<ClusterLink> cluster;  // redis+cluster:// URLs: the masters (sync_cluster.cpp)
  AsyncWriter writer;  // the only user of `redis` / `cluster` while a batch's chunks are being written

  // Cluster state (sync_cluster.cpp): per slot, whether it is being rebuilt and the last seq this
  // leader wrote to its marker; during a slot rebuild, the slots a resync writes.
  std::vector<char> slot_rebuilding;
  std::vector<int64_t> slot_seq;
  const std::vector<char>* only_slots = nullptr;
  std::string script_sha;

  // PostgreSQL session (lock, LISTEN and work on one connection: if it dies, all go together).
  std::unique_ptr<pqxx::connection> pg;
  std::unique_ptr<FlagReceiver> changes_rx, registry_rx;
  std::atomic<bool> changes_flag{false}, registry_flag{false};
  int leader_pid = 0;
  bool has_state_columns = false;  // fstore.sync_views has state and reason (0.1.1)

  // Leader state.
  bool leader = false;
  int64_t epoch = 0;
  int64_t applied_seq = 0;
  std::map<std::string, ViewInfo> views;
  std::map<std::string, std::string> broken;  // views that cannot be synced -> why
  std::string write_state = "ready";          // "rebuilding" while a full rebuild runs
  bool need_reconcile = true;
  bool need_marker_check = true;
  Clock::time_point last_marker_check{};
  Clock::time_point last_stats{};
  Clock::time_point last_broken_retry{};
  std::optional<double> next_due_in;  // seconds until the next future-due queue row

  // Thread control and status.
  std::thread thread;
  std::atomic<bool> stopping{false};
  mutable std::mutex mu;
  std::condition_variable cv;
  SyncStatus st;
  Clock::time_point oldest_pending_at{};  // steady-clock time of the oldest pending change
  bool have_pending = false;

  // ---- status (sync_worker.cpp) ----
  template <class F> void update(F&& f) { std::lock_guard<std::mutex> g(mu); f(st); }
  void note_error(bool pg_side, const std::string& what);
  void set_pending(int64_t depth, double oldest_age);
  void publish_broken();
  void interruptible_sleep(int ms);

  // ---- PostgreSQL session and registry (sync_worker.cpp) ----
  void drop_pg();
  void ensure_pg();
  bool try_become_leader();
  const ViewInfo* find_view(pqxx::transaction_base& tx, const std::string& name);
  void store_signature(pqxx::transaction_base& tx, const ViewInfo& v);
  void mark_broken(pqxx::transaction_base& tx, const std::string& view, const std::string& reason);
  void mark_broken_now(const std::string& view, const std::string& reason);
  void forget_signature(pqxx::transaction_base& tx, const std::string& view);

  // ---- batches (sync_worker.cpp) ----
  size_t process_batch();
  void sync_view_keys(pqxx::transaction_base& tx, const ViewInfo& v, const std::vector<std::string>& keys,
                      const std::vector<std::string>& due_keys, int64_t seq, int64_t now_us);
  struct QueueStats { int64_t depth = 0; double oldest_age = 0; std::optional<double> next_due_in; };
  QueueStats queue_stats();
  void leader_tick();
  void follower_tick();
  void run();

  // ---- Redis writes and resyncs (sync_resync.cpp) ----
  void write_fenced(std::vector<Command>& cmds, int64_t seq, const std::string& new_state, const std::string& expect);
  void submit_write(std::vector<Command> cmds, int64_t seq);
  size_t sync_keys(pqxx::transaction_base& tx, const ViewInfo& v, const std::vector<std::string>& keys, int64_t seq,
                   int64_t now_us);
  size_t sync_many_keys(pqxx::transaction_base& tx, const ViewInfo& v, std::unordered_set<std::string>& keys,
                        int64_t seq, int64_t now_us);
  void requeue_future(pqxx::transaction_base& tx, const ViewInfo& v, const std::vector<std::string>* keys);
  size_t delete_stale_keys(const std::string& view, const ViewInfo* v);
  bool resync_view(const ViewInfo& v, bool reset);
  void reconcile();
  void full_rebuild(const std::string& why);
  void check_marker();
  void scan_keys(const std::string& pattern, const std::function<void(const std::vector<std::string>&)>& page);
  bool skip_key(const std::string& redis_key) const;  // outside only_slots during a slot rebuild
  void redis_connect();
  void redis_close();

  // ---- Redis Cluster (sync_cluster.cpp) ----
  struct SlotGroup {
    int slot;
    int64_t seq;
    std::string state, expect;
    std::vector<Command> cmds;
  };
  void cluster_connect();
  void cluster_scripts(std::vector<SlotGroup>& groups);
  void cluster_write(const std::vector<Command>& cmds, int64_t seq);
  void cluster_set_markers(const std::set<int>& slots, const std::string& state, const std::string& expect, int64_t seq);
  std::vector<Reply> cluster_markers();
  void cluster_check_markers();
  std::string cluster_state();
  void rebuild_slots(const std::set<int>& slots, const std::string& why);
};

}  // namespace fstore::sync
