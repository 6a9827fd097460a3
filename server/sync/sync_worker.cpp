// The sync worker (issue 5). How it cannot lose a change, in short (details: docs/sync.md):
//  - Triggers put one row per statement into fstore.change_queue (keys touched) and NOTIFY.
//  - The leader (holder of a session advisory lock) LISTENs first, then, in one transaction:
//    deletes a batch of queue rows, re-reads each key's winning row, writes them to Redis in
//    MULTI/EXEC together with the marker, and commits only after EXEC succeeded. Any failure rolls
//    the transaction back and the rows come back.
//  - The marker (hash fstore:v1:@marker: epoch, seq, state) fences old leaders (WATCH + epoch) and
//    tells a Redis that lost data (missing marker, or seq behind PostgreSQL's) -> full rebuild.
//  - A view that cannot be read (column dropped or retyped, any PostgreSQL error on its table) is
//    marked broken and skipped; the others go on; it is retried every broken_retry_ms.
// This file: the thread, the PostgreSQL session, batches and the queue. Redis writes, resyncs,
// reconcile and rebuilds: sync_resync.cpp.
#include "sync/sync_impl.hpp"

#include "sync/sync_util.hpp"

#include <algorithm>
#include <cstdio>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace fstore::sync {

namespace {

// From this many keys of one view in one batch on, read the view's winners in one ordered pass.
constexpr size_t kBigKeySet = 100000;

// The advisory lock that elects the one syncing worker per database ("fstore:sync" in ASCII).
constexpr const char* kLockSql = "SELECT pg_catalog.pg_try_advisory_lock(7310593858020254579)";

// Seconds between two PostgreSQL microsecond times, never failing on an infinity.
double seconds_between(int64_t later_us, int64_t earlier_us) {
  return (static_cast<double>(later_us) - static_cast<double>(earlier_us)) / 1e6;
}

// What one batch asks for, per view.
struct Pending {
  bool whole = false;
  std::unordered_set<std::string> keys;
  std::unordered_set<std::string> due_keys;  // from rows that were due later: may need re-queueing
};

}  // namespace

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

int64_t tx_now_us(pqxx::transaction_base& tx) {
  return tx.exec("SELECT " + micros_sql("pg_catalog.now()"))[0][0].as<int64_t>();
}

SyncWorker::Impl::Impl(SyncOptions o) : options(std::move(o)), redis(redis_link_endpoint(options.redis_url)) {
  if (options.batch_size < 1) options.batch_size = 1;
  if (options.chunk_keys < 1) options.chunk_keys = 1;
  if (options.poll_interval_ms < 10) options.poll_interval_ms = 10;
  if (options.broken_retry_ms < 10) options.broken_retry_ms = 10;
  server::RedisEndpoint endpoint = server::parse_redis_url(options.redis_url);
  if (endpoint.cluster) {
    cluster = std::make_unique<ClusterLink>(endpoint);
    slot_rebuilding.assign(server::kClusterSlots, 0);
    slot_seq.assign(server::kClusterSlots, 0);
  }
}

// ---- status helpers ---------------------------------------------------------------------------

void SyncWorker::Impl::note_error(bool pg_side, const std::string& what) {
  std::fprintf(stderr, "fstore-sync: %s\n", what.c_str());
  update([&](SyncStatus& s) {
    (pg_side ? s.pg_errors : s.redis_errors)++;
    s.last_error = what;
    s.caught_up = false;
  });
}

void SyncWorker::Impl::set_pending(int64_t depth, double oldest_age) {
  std::lock_guard<std::mutex> g(mu);
  st.queue_depth = depth;
  have_pending = depth > 0;
  oldest_pending_at = Clock::now() - std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(std::max(0.0, oldest_age)));
}

// Copies the broken views into the status (for /ready and /metrics).
void SyncWorker::Impl::publish_broken() {
  std::vector<std::pair<std::string, std::string>> list(broken.begin(), broken.end());
  update([&](SyncStatus& s) { s.broken_views = std::move(list); });
}

void SyncWorker::Impl::interruptible_sleep(int ms) {
  std::unique_lock<std::mutex> lk(mu);
  cv.wait_for(lk, std::chrono::milliseconds(ms), [&] { return stopping.load(); });
}

// ---- PostgreSQL session -----------------------------------------------------------------------

void SyncWorker::Impl::drop_pg() {
  registry_rx.reset();
  changes_rx.reset();
  pg.reset();
  leader = false;
  epoch = 0;
  update([](SyncStatus& s) { s.pg_connected = false; s.leader = false; s.leader_epoch = 0; s.caught_up = false; });
}

// Connects unless connected. The session's settings make every rule independent of the server's
// and the role's defaults: times are computed in UTC (and mostly in C++), names resolve in
// pg_catalog first.
void SyncWorker::Impl::ensure_pg() {
  if (pg && pg->is_open()) return;
  drop_pg();
  pg = std::make_unique<pqxx::connection>(options.pg_url);
  pg->inhibit_reactivation(true);  // never reconnect silently: the lock and LISTEN would be gone
  pqxx::nontransaction nt(*pg);
  nt.exec("SET application_name = " + pg->quote(options.application_name) +
          "; SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'; "
          "SET search_path = pg_catalog, pg_temp");
  has_state_columns = nt.exec("SELECT pg_catalog.count(*) = 2 FROM pg_catalog.pg_attribute "
                              "WHERE attrelid = 'fstore.sync_views'::pg_catalog.regclass "
                              "AND attname IN ('state', 'reason') AND attnum > 0 AND NOT attisdropped")[0][0]
                          .as<bool>();
  update([](SyncStatus& s) { s.pg_connected = true; });
}

// Takes the advisory lock if free; on success LISTENs (before anything is drained) and bumps
// the epoch that fences the previous leader's Redis writes.
bool SyncWorker::Impl::try_become_leader() {
  {
    pqxx::nontransaction nt(*pg);
    if (!nt.exec(kLockSql)[0][0].as<bool>()) return false;
  }
  changes_rx = std::make_unique<FlagReceiver>(*pg, "fstore_changes", changes_flag);
  registry_rx = std::make_unique<FlagReceiver>(*pg, "fstore_registry", registry_flag);
  pqxx::work tx(*pg);
  auto r = tx.exec("UPDATE fstore.sync_state SET epoch = epoch + 1, leader_pid = pg_catalog.pg_backend_pid(), "
                   "leader_since = pg_catalog.now() RETURNING epoch, applied_seq");
  tx.commit();
  epoch = r[0][0].as<int64_t>();
  applied_seq = r[0][1].as<int64_t>();
  leader = true;
  leader_pid = pg->backendpid();
  need_reconcile = true;
  need_marker_check = true;
  broken.clear();
  std::fprintf(stderr, "fstore-sync: leader (epoch %lld, backend %d)\n", static_cast<long long>(epoch), leader_pid);
  update([&](SyncStatus& s) { s.leader = true; s.leader_epoch = static_cast<uint64_t>(epoch); s.caught_up = false; });
  return true;
}

// ---- registry ---------------------------------------------------------------------------------

const ViewInfo* SyncWorker::Impl::find_view(pqxx::transaction_base& tx, const std::string& name) {
  auto it = views.find(name);
  if (it != views.end()) return &it->second;
  views = load_views(tx);  // a view we do not know yet: the registry changed under us
  need_reconcile = true;
  it = views.find(name);
  return it == views.end() ? nullptr : &it->second;
}

void SyncWorker::Impl::store_signature(pqxx::transaction_base& tx, const ViewInfo& v) {
  const std::string state = has_state_columns ? ", state, reason" : "";
  const std::string values = has_state_columns ? ", 'ok', NULL" : "";
  const std::string set = has_state_columns ? ", state = excluded.state, reason = excluded.reason" : "";
  tx.exec_params("INSERT INTO fstore.sync_views (view_name, signature, last_sync_at" + state +
                     ") VALUES ($1, $2, pg_catalog.now()" + values + ") ON CONFLICT (view_name) DO UPDATE SET "
                     "signature = excluded.signature, last_sync_at = excluded.last_sync_at" + set,
                 v.name, v.signature);
  if (broken.erase(v.name)) {
    std::fprintf(stderr, "fstore-sync: view %s recovered\n", v.name.c_str());
    publish_broken();
  }
}

// Marks a view broken in `tx`: its signature is forgotten (so that it is resynced whole once it can
// be read again) and, where fstore.sync_views has them, state 'error' and the reason are stored.
void SyncWorker::Impl::mark_broken(pqxx::transaction_base& tx, const std::string& view, const std::string& reason) {
  std::string why = reason;
  while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
  if (has_state_columns)
    tx.exec_params("INSERT INTO fstore.sync_views (view_name, signature, state, reason) VALUES ($1, NULL, 'error', $2) "
                   "ON CONFLICT (view_name) DO UPDATE SET signature = NULL, state = 'error', reason = excluded.reason",
                   view, why);
  else
    forget_signature(tx, view);
  auto it = broken.find(view);
  if (it == broken.end() || it->second != why)
    std::fprintf(stderr, "fstore-sync: view %s cannot be synced (skipped until it can): %s\n", view.c_str(), why.c_str());
  broken[view] = why;
  publish_broken();
}

// The same in a transaction of its own (after the one that failed was rolled back).
void SyncWorker::Impl::mark_broken_now(const std::string& view, const std::string& reason) {
  pqxx::work tx(*pg);
  mark_broken(tx, view, reason);
  tx.commit();
}

// Makes the next reconcile resync the view whole.
void SyncWorker::Impl::forget_signature(pqxx::transaction_base& tx, const std::string& view) {
  tx.exec_params("INSERT INTO fstore.sync_views (view_name, signature) VALUES ($1, NULL) "
                 "ON CONFLICT (view_name) DO UPDATE SET signature = NULL",
                 view);
}

// ---- batches ----------------------------------------------------------------------------------

// One batch: consume up to batch_size due queue rows, write their keys' winners at the batch's one
// "now" (the transaction's), commit. Queue rows due at 'infinity' are dropped: such a row never
// wins. A whole-view row (TRUNCATE) forgets the view's signature: reconcile then resyncs it in
// pages. Each view's keys are read in a savepoint: a view that fails is marked broken, its changes
// dropped (it is resynced whole when it recovers), and the batch goes on. Returns rows consumed.
size_t SyncWorker::Impl::process_batch() {
  pqxx::work tx(*pg);
  const int64_t now_us = tx_now_us(tx);
  pqxx::result r = tx.exec_params(
      "WITH d AS (DELETE FROM fstore.change_queue q WHERE q.id IN ("
      "  SELECT id FROM fstore.change_queue WHERE due_at IS NULL OR due_at <= pg_catalog.now() "
      "    OR due_at = 'infinity'::timestamptz "
      "  ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) "
      "RETURNING q.view_name, q.keys, q.due_at, q.queued_at) "
      "SELECT view_name, keys::text, due_at IS NOT NULL, due_at = 'infinity'::timestamptz, " +
          micros_sql("GREATEST(due_at, queued_at)") + " FROM d",
      options.batch_size);
  if (r.empty()) {
    tx.commit();
    return 0;
  }
  double oldest = 0;
  std::map<std::string, Pending> work;
  for (const auto& row : r) {
    if (!row[3].is_null() && row[3].as<bool>()) continue;  // due at 'infinity': never
    Pending& p = work[row[0].as<std::string>()];
    if (!row[4].is_null()) oldest = std::max(oldest, seconds_between(now_us, row[4].as<int64_t>()));
    if (row[1].is_null()) { p.whole = true; continue; }
    auto keys = parse_pg_text_array(std::string_view(row[1].c_str(), row[1].size()));
    const bool due = row[2].as<bool>();
    for (auto& k : keys) {
      if (due) p.due_keys.insert(k);
      p.keys.insert(std::move(k));
    }
  }
  {
    std::lock_guard<std::mutex> g(mu);
    st.caught_up = false;
    if (!have_pending) {
      have_pending = true;
      oldest_pending_at = Clock::now() - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(oldest));
    }
  }
  const int64_t seq = applied_seq + 1;
  DrainGuard guard{writer};
  std::vector<std::string> touched, counts;
  for (auto& [name, p] : work) {
    const ViewInfo* v = find_view(tx, name);
    if (!v) continue;  // view dropped or offline: its keys go in reconcile()
    if (!v->problem.empty() || broken.count(name)) {
      if (!broken.count(name)) mark_broken(tx, name, v->problem);
      continue;  // resynced whole once it recovers
    }
    if (p.whole) {
      forget_signature(tx, name);
      need_reconcile = true;
      continue;
    }
    std::vector<std::string> keys(p.keys.begin(), p.keys.end());
    std::vector<std::string> due(p.due_keys.begin(), p.due_keys.end());
    std::string error;
    tx.exec("SAVEPOINT fstore_sync_view");
    try {
      auto fresh = lock_and_check_view(tx, *v);
      if (!fresh) {
        need_reconcile = true;  // gone or offline since we loaded it: reconcile deletes its keys
      } else if (!fresh->problem.empty()) {
        error = fresh->problem;
      } else {
        if (fresh->signature != v->signature) need_reconcile = true;
        sync_view_keys(tx, *fresh, keys, due, seq, now_us);
        writer.drain();
      }
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::sql_error& e) {
      error = e.what();
    }
    if (!error.empty()) {
      writer.drain_quietly();
      tx.exec("ROLLBACK TO SAVEPOINT fstore_sync_view");
      mark_broken(tx, name, error);
      continue;
    }
    tx.exec("RELEASE SAVEPOINT fstore_sync_view");
    touched.push_back(name);
    counts.push_back(std::to_string(keys.size()));
  }
  writer.drain();  // every chunk acknowledged by Redis before PostgreSQL forgets the changes
  // The seq moves only with a marker that carries it (nothing written: the marker is not touched).
  if (!touched.empty()) {
    tx.exec_params("UPDATE fstore.sync_state SET applied_seq = $1, last_sync_at = pg_catalog.now()", seq);
    tx.exec_params("INSERT INTO fstore.sync_views AS s (view_name, last_sync_at, keys_synced) "
                   "SELECT v, pg_catalog.now(), n FROM unnest($1::text[], $2::bigint[]) AS u(v, n) "
                   "ON CONFLICT (view_name) DO UPDATE SET last_sync_at = excluded.last_sync_at, "
                   "keys_synced = s.keys_synced + excluded.keys_synced",
                   to_pg_text_array(touched), to_pg_text_array(counts));
  }
  tx.commit();
  if (!touched.empty()) applied_seq = seq;
  update([&](SyncStatus& s) { s.batches_applied++; });
  return r.size();
}

// The keys of one view in one batch: winners written (in chunks, or in one ordered pass for very
// many keys), and keys that were due later queued again for their next future row.
void SyncWorker::Impl::sync_view_keys(pqxx::transaction_base& tx, const ViewInfo& v,
                                      const std::vector<std::string>& keys, const std::vector<std::string>& due_keys,
                                      int64_t seq, int64_t now_us) {
  if (keys.size() >= kBigKeySet) {
    std::unordered_set<std::string> set(keys.begin(), keys.end());
    sync_many_keys(tx, v, set, seq, now_us);
  } else {
    std::vector<std::string> sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    const size_t chunk = static_cast<size_t>(options.chunk_keys);
    for (size_t i = 0; i < sorted.size(); i += chunk) {
      std::vector<std::string> part(sorted.begin() + i, sorted.begin() + std::min(sorted.size(), i + chunk));
      sync_keys(tx, v, part, seq, now_us);
      update([&](SyncStatus& s) { s.keys_written += part.size(); });
    }
  }
  if (!due_keys.empty()) requeue_future(tx, v, &due_keys);
}

// Queue depth, lag and the next due time (outside any transaction). Times are read as
// microseconds and compared in C++: a change due at 'infinity' is never due and never fails.
SyncWorker::Impl::QueueStats SyncWorker::Impl::queue_stats() {
  pqxx::nontransaction nt(*pg);
  auto r = nt.exec(
      "SELECT pg_catalog.count(*) FILTER (WHERE due_at IS NULL OR due_at <= pg_catalog.now()), " +
      micros_sql("pg_catalog.min(GREATEST(due_at, queued_at)) "
                 "FILTER (WHERE due_at IS NULL OR due_at <= pg_catalog.now())") + ", " +
      micros_sql("pg_catalog.min(due_at) FILTER (WHERE due_at > pg_catalog.now() AND due_at < 'infinity')") + ", " +
      micros_sql("pg_catalog.clock_timestamp()") + " FROM fstore.change_queue");
  QueueStats q;
  q.depth = r[0][0].as<int64_t>();
  const int64_t now_us = r[0][3].as<int64_t>();
  if (!r[0][1].is_null()) q.oldest_age = std::max(0.0, seconds_between(now_us, r[0][1].as<int64_t>()));
  if (!r[0][2].is_null()) q.next_due_in = seconds_between(r[0][2].as<int64_t>(), now_us);
  return q;
}

void SyncWorker::Impl::leader_tick() {
  if (pg->backendpid() != leader_pid) throw LostLeadership("PostgreSQL session changed");
  pg->get_notifs();
  if (registry_flag.exchange(false)) need_reconcile = true;
  changes_flag = false;
  if (!broken.empty() && Clock::now() - last_broken_retry > std::chrono::milliseconds(options.broken_retry_ms)) {
    need_reconcile = true;  // broken views are retried now and then: they recover once fixed
    last_broken_retry = Clock::now();
  }
  if (need_marker_check || Clock::now() - last_marker_check > std::chrono::milliseconds(options.poll_interval_ms))
    check_marker();
  if (need_reconcile) reconcile();
  // Drain: batches until the queue has nothing due.
  while (!stopping) {
    size_t n = process_batch();
    pg->get_notifs();
    if (registry_flag.exchange(false)) need_reconcile = true;
    if (need_reconcile) reconcile();
    if (n == 0) break;
    if (Clock::now() - last_stats > std::chrono::milliseconds(250)) {
      auto q = queue_stats();
      last_stats = Clock::now();
      set_pending(q.depth, q.oldest_age);
    }
  }
  auto q = queue_stats();
  last_stats = Clock::now();
  next_due_in = q.next_due_in;
  set_pending(q.depth, q.oldest_age);
  update([&](SyncStatus& s) {
    s.caught_up = (q.depth == 0);
    s.last_error.clear();
    s.redis_connected = true;
    s.rebuilding = false;
  });
  // Wait for a NOTIFY, the poll interval, the next due row, or stop().
  auto deadline = Clock::now() + std::chrono::milliseconds(options.poll_interval_ms);
  if (next_due_in && *next_due_in >= 0)
    deadline = std::min(deadline, Clock::now() + std::chrono::microseconds(static_cast<int64_t>(*next_due_in * 1e6) + 1000));
  while (!stopping && Clock::now() < deadline && q.depth == 0) {
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()).count();
    left = std::max<int64_t>(0, std::min<int64_t>(left, 100000));
    pg->await_notification(0, static_cast<long>(left));
    if (changes_flag.exchange(false)) break;
    if (registry_flag.exchange(false)) { need_reconcile = true; break; }
  }
}

// A follower: watches the queue, the marker and the views the leader marked broken, so /ready can
// say whether Redis is current.
void SyncWorker::Impl::follower_tick() {
  auto q = queue_stats();
  set_pending(q.depth, q.oldest_age);
  std::vector<std::pair<std::string, std::string>> bad;
  if (has_state_columns) {
    pqxx::nontransaction nt(*pg);
    for (const auto& row : nt.exec("SELECT view_name, COALESCE(reason, '') FROM fstore.sync_views "
                                   "WHERE state = 'error' ORDER BY view_name"))
      bad.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
  }
  std::string state = cluster ? cluster_state() : reply_text(redis.command({"HGET", kMarkerKey, "state"}).get());
  update([&](SyncStatus& s) {
    s.redis_connected = true;
    s.rebuilding = state == "rebuilding";
    s.caught_up = q.depth == 0 && state == "ready";
    s.last_error.clear();
    s.broken_views = std::move(bad);
  });
}

// ---- the thread -------------------------------------------------------------------------------

void SyncWorker::Impl::run() {
  int backoff_ms = 50;
  while (!stopping) {
    try {
      ensure_pg();
      redis_connect();
      update([](SyncStatus& s) { s.redis_connected = true; });
      if (!leader && !try_become_leader()) {
        follower_tick();
        interruptible_sleep(options.takeover_interval_ms);
      } else {
        leader_tick();
      }
      backoff_ms = 50;
      continue;
    } catch (const NeedRebuild& e) {
      // A write found the marker missing or stale: check again (and rebuild) right away.
      need_marker_check = true;
      std::fprintf(stderr, "fstore-sync: %s\n", e.what());
      continue;
    } catch (const RetryBatch& e) {
      need_marker_check = true;
      std::fprintf(stderr, "fstore-sync: %s\n", e.what());
      continue;
    } catch (const LostLeadership& e) {
      note_error(true, std::string("lost leadership: ") + e.what());
      drop_pg();  // closing the session releases the lock for good measure
    } catch (const RedisError& e) {
      redis_close();
      need_marker_check = true;
      update([](SyncStatus& s) { s.redis_connected = false; });
      note_error(false, e.what());
    } catch (const pqxx::broken_connection& e) {
      drop_pg();
      note_error(true, std::string("postgres connection: ") + e.what());
    } catch (const pqxx::sql_error& e) {
      note_error(true, std::string("postgres: ") + e.what() + " [" + e.query().substr(0, 200) + "]");
      need_reconcile = true;
      need_marker_check = true;
      if (!pg || !pg->is_open()) drop_pg();
    } catch (const std::exception& e) {
      note_error(true, e.what());
      drop_pg();
    }
    interruptible_sleep(backoff_ms);
    backoff_ms = std::min(options.max_backoff_ms, backoff_ms * 2);
  }
  try { drop_pg(); } catch (...) {}
  redis_close();
}

SyncWorker::SyncWorker(SyncOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

SyncWorker::~SyncWorker() { stop(); }

void SyncWorker::start() {
  if (impl_->thread.joinable()) return;
  impl_->stopping = false;
  impl_->thread = std::thread([this] { impl_->run(); });
}

void SyncWorker::stop() {
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

SyncStatus SyncWorker::status() const {
  std::lock_guard<std::mutex> g(impl_->mu);
  SyncStatus s = impl_->st;
  if (s.caught_up || !impl_->have_pending) s.lag_seconds = 0;
  else s.lag_seconds = std::chrono::duration<double>(Clock::now() - impl_->oldest_pending_at).count();
  return s;
}

}  // namespace fstore::sync
