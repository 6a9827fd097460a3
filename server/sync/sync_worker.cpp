// The sync worker (issue 5). How it cannot lose a change, in short (details: docs/sync.md):
//  - Triggers put one row per statement into fstore.change_queue (keys touched) and NOTIFY.
//  - The leader (holder of a session advisory lock) LISTENs first, then, in one transaction:
//    deletes a batch of queue rows, re-reads each key's winning row, writes them to Redis in
//    MULTI/EXEC together with the marker, and commits only after EXEC succeeded. Any failure rolls
//    the transaction back and the rows come back.
//  - The marker (hash fstore:v1:@marker: epoch, seq, state) fences old leaders (WATCH + epoch) and
//    tells a Redis that lost data (missing marker, or seq behind PostgreSQL's) -> full rebuild.
#include "sync/sync_worker.hpp"

#include "sync/redis_link.hpp"
#include "sync/sync_util.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace fstore::sync {

namespace {

using Clock = std::chrono::steady_clock;

// The advisory lock that elects the one syncing worker per database ("fstore:sync" in ASCII).
// From this many keys of one view in one batch on, read the view's winners in one ordered pass.
constexpr size_t kBigKeySet = 100000;

constexpr const char* kLockSql = "SELECT pg_catalog.pg_try_advisory_lock(7310593858020254579)";

// Thrown when the marker shows that another worker took over (higher epoch) or changed it under us.
struct LostLeadership : std::runtime_error { using std::runtime_error::runtime_error; };
// Thrown when Redis lost data (marker missing, in the wrong state, or behind PostgreSQL).
struct NeedRebuild : std::runtime_error { using std::runtime_error::runtime_error; };
// Thrown when the WATCHed marker changed between check and EXEC: retry from a fresh look.
struct RetryBatch : std::runtime_error { using std::runtime_error::runtime_error; };

std::string quote_ident(const std::string& s) {
  std::string out = "\"";
  for (char c : s) { if (c == '"') out.push_back('"'); out.push_back(c); }
  out.push_back('"');
  return out;
}

std::string quote_literal(const std::string& s) {
  std::string out = "'";
  for (char c : s) { if (c == '\'') out.push_back('\''); out.push_back(c); }
  out.push_back('\'');
  return out;
}

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

// One online feature view as the worker needs it, with its SQL prepared once.
struct ViewInfo {
  std::string name;
  std::string table;        // schema-qualified, quoted
  std::string key_col, key_type, ts_col, created_col, ttl;
  std::vector<std::string> features;  // non-archived, in position order
  std::string signature;    // what Redis was built with; a change resyncs the view
  std::string select_sql;   // SELECT DISTINCT ON (key) winners ... WHERE <time filter>
  std::string order_sql;    // ORDER BY key, ts DESC, created DESC, ctid DESC
  std::string alive_sql;    // time filter for "has a winner now"

  // Winners of the keys in $1 (a text[] literal).
  std::string keyed_sql() const {
    return select_sql + " AND t." + quote_ident(key_col) + " = ANY($1::" + key_type + "[])" + order_sql;
  }
  std::string all_sql() const { return select_sql + order_sql; }
};

// A notification receiver that raises a flag.
class FlagReceiver : public pqxx::notification_receiver {
 public:
  FlagReceiver(pqxx::connection_base& c, const std::string& channel, std::atomic<bool>& flag)
      : pqxx::notification_receiver(c, channel), flag_(flag) {}
  void operator()(const std::string&, int) override { flag_ = true; }
 private:
  std::atomic<bool>& flag_;
};

// What one batch asks for, per view.
struct Pending {
  bool whole = false;
  std::unordered_set<std::string> keys;
  std::unordered_set<std::string> due_keys;  // from rows that were due later: may need re-queueing
};

// Runs Redis writes on a second thread so that PostgreSQL reads the next chunk while Redis applies
// the previous one. At most one job waits while one runs. The first failure is kept and rethrown
// by the next submit() or by drain(); later jobs are dropped.
class AsyncWriter {
 public:
  AsyncWriter() : thread_([this] { loop(); }) {}
  ~AsyncWriter() {
    { std::lock_guard<std::mutex> g(mu_); quit_ = true; }
    cv_.notify_all();
    thread_.join();
  }
  void submit(std::function<void()> job) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return !pending_ || error_; });
    rethrow_locked();
    pending_ = std::move(job);
    cv_.notify_all();
  }
  // Waits until every submitted job ran; rethrows the first failure (and forgets it).
  void drain() {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return !pending_ && !running_; });
    rethrow_locked();
  }
  // Waits without throwing (cleanup paths).
  void drain_quietly() noexcept {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return !pending_ && !running_; });
    error_ = nullptr;
  }

 private:
  void rethrow_locked() {
    if (error_) {
      auto e = error_;
      error_ = nullptr;
      pending_ = nullptr;
      std::rethrow_exception(e);
    }
  }
  void loop() {
    std::unique_lock<std::mutex> lk(mu_);
    while (true) {
      cv_.wait(lk, [&] { return quit_ || pending_; });
      if (!pending_) return;
      auto job = std::move(pending_);
      pending_ = nullptr;
      if (error_) { cv_.notify_all(); continue; }  // after a failure, skip the rest of the batch
      running_ = true;
      lk.unlock();
      std::exception_ptr err;
      try { job(); } catch (...) { err = std::current_exception(); }
      lk.lock();
      running_ = false;
      if (err && !error_) error_ = err;
      cv_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> pending_;
  bool running_ = false;
  bool quit_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

// Drains the writer when a scope ends, also by an exception, so nobody else touches Redis while
// the writer still does.
struct DrainGuard {
  AsyncWriter& w;
  ~DrainGuard() { w.drain_quietly(); }
};

}  // namespace

struct SyncWorker::Impl {
  explicit Impl(SyncOptions o) : options(std::move(o)), redis(parse_redis_url(options.redis_url)) {
    if (options.batch_size < 1) options.batch_size = 1;
    if (options.chunk_keys < 1) options.chunk_keys = 1;
    if (options.poll_interval_ms < 10) options.poll_interval_ms = 10;
  }

  SyncOptions options;
  RedisLink redis;
  AsyncWriter writer;  // the only user of `redis` while a batch's chunks are being written

  // PostgreSQL session (lock, LISTEN and work on one connection: if it dies, all go together).
  std::unique_ptr<pqxx::connection> pg;
  std::unique_ptr<FlagReceiver> changes_rx, registry_rx;
  std::atomic<bool> changes_flag{false}, registry_flag{false};
  int leader_pid = 0;

  // Leader state.
  bool leader = false;
  int64_t epoch = 0;
  int64_t applied_seq = 0;
  std::map<std::string, ViewInfo> views;
  bool need_reconcile = true;
  bool need_marker_check = true;
  Clock::time_point last_marker_check{};
  Clock::time_point last_stats{};
  std::optional<double> next_due_in;  // seconds until the next future-due queue row

  // Thread control and status.
  std::thread thread;
  std::atomic<bool> stopping{false};
  mutable std::mutex mu;
  std::condition_variable cv;
  SyncStatus st;
  Clock::time_point oldest_pending_at{};  // steady-clock time of the oldest pending change
  bool have_pending = false;

  // ---- status helpers -------------------------------------------------------------------------

  template <class F> void update(F&& f) { std::lock_guard<std::mutex> g(mu); f(st); }

  void note_error(bool pg_side, const std::string& what) {
    std::fprintf(stderr, "fstore-sync: %s\n", what.c_str());
    update([&](SyncStatus& s) {
      (pg_side ? s.pg_errors : s.redis_errors)++;
      s.last_error = what;
      s.caught_up = false;
    });
  }

  void set_pending(int64_t depth, double oldest_age) {
    std::lock_guard<std::mutex> g(mu);
    st.queue_depth = depth;
    have_pending = depth > 0;
    oldest_pending_at = Clock::now() - std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(oldest_age));
  }

  void interruptible_sleep(int ms) {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_for(lk, std::chrono::milliseconds(ms), [&] { return stopping.load(); });
  }

  // ---- PostgreSQL session ---------------------------------------------------------------------

  void drop_pg() {
    registry_rx.reset();
    changes_rx.reset();
    pg.reset();
    leader = false;
    epoch = 0;
    update([](SyncStatus& s) { s.pg_connected = false; s.leader = false; s.leader_epoch = 0; s.caught_up = false; });
  }

  void ensure_pg() {
    if (pg && pg->is_open()) return;
    drop_pg();
    pg = std::make_unique<pqxx::connection>(options.pg_url);
    pg->inhibit_reactivation(true);  // never reconnect silently: the lock and LISTEN would be gone
    pqxx::nontransaction nt(*pg);
    nt.exec("SET application_name = " + pg->quote(options.application_name));
    update([](SyncStatus& s) { s.pg_connected = true; });
  }

  // Takes the advisory lock if free; on success LISTENs (before anything is drained) and bumps
  // the epoch that fences the previous leader's Redis writes.
  bool try_become_leader() {
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
    std::fprintf(stderr, "fstore-sync: leader (epoch %lld, backend %d)\n", static_cast<long long>(epoch), leader_pid);
    update([&](SyncStatus& s) { s.leader = true; s.leader_epoch = static_cast<uint64_t>(epoch); s.caught_up = false; });
    return true;
  }

  // ---- registry --------------------------------------------------------------------------------

  void load_registry(pqxx::transaction_base& tx) {
    auto r = tx.exec(
        "SELECT v.name, pg_catalog.format('%I.%I', n.nspname, c.relname), v.join_key, "
        "       pg_catalog.format_type(v.key_type, NULL), v.timestamp_column, v.created_column, v.ttl::text, "
        "       c.relkind::text, c.oid::text, "
        "       (SELECT pg_catalog.array_to_json(pg_catalog.array_agg(f.name ORDER BY f.position, f.name))::text "
        "          FROM fstore.features f WHERE f.view = v.name AND f.status <> 'archived') "
        "  FROM fstore.feature_views v JOIN pg_catalog.pg_class c ON c.oid = v.table_name "
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE v.online");
    std::map<std::string, ViewInfo> loaded;
    for (const auto& row : r) {
      ViewInfo v;
      v.name = row[0].as<std::string>();
      v.table = row[1].as<std::string>();
      v.key_col = row[2].as<std::string>();
      v.key_type = row[3].as<std::string>();
      v.ts_col = row[4].as<std::string>();
      v.created_col = row[5].is_null() ? "" : row[5].as<std::string>();
      v.ttl = row[6].is_null() ? "" : row[6].as<std::string>();
      std::string relkind = row[7].as<std::string>();
      std::string features_json = row[9].is_null() ? "[]" : row[9].as<std::string>();
      // The feature list is a JSON array of names (names match ^[A-Za-z_][A-Za-z0-9_]*$).
      for (const auto& name : parse_json_names(features_json)) v.features.push_back(name);
      build_sql(v, relkind);
      v.signature = row[8].as<std::string>() + "|" + v.key_col + "|" + v.key_type + "|" + v.ts_col + "|" +
                    v.created_col + "|" + v.ttl + "|" + features_json;
      loaded.emplace(v.name, std::move(v));
    }
    views = std::move(loaded);
  }

  static std::vector<std::string> parse_json_names(const std::string& json) {
    // ["a","b"] with names that need no escapes beyond \" and \\ (validated by the registry).
    std::vector<std::string> out;
    size_t i = 0;
    while ((i = json.find('"', i)) != std::string::npos) {
      std::string s;
      ++i;
      while (i < json.size() && json[i] != '"') {
        if (json[i] == '\\' && i + 1 < json.size()) ++i;
        s.push_back(json[i++]);
      }
      ++i;
      out.push_back(std::move(s));
    }
    return out;
  }

  static void build_sql(ViewInfo& v, const std::string& relkind) {
    const std::string k = "t." + quote_ident(v.key_col);
    const std::string ts = "t." + quote_ident(v.ts_col);
    auto us = [](const std::string& col) {
      // float8 epoch seconds hold microseconds exactly enough to round back (|t| < year 2255).
      return "(pg_catalog.round(pg_catalog.date_part('epoch', (" + col + ")::timestamptz) * 1000000)::int8)::text";
    };
    std::string sel = "SELECT DISTINCT ON (" + k + ") (" + k + ")::text, " + us(ts) + ", " +
                      (v.created_col.empty() ? us(ts) : us("t." + quote_ident(v.created_col))) + ", ";
    if (v.ttl.empty()) sel += "NULL::text";
    else sel += "((extract(epoch FROM (" + ts + ")::timestamptz + " + quote_literal(v.ttl) +
                "::interval) * 1000)::int8)::text";
    for (const auto& f : v.features)
      sel += ", COALESCE(pg_catalog.to_jsonb(t." + quote_ident(f) + ")::text, 'null')";
    v.alive_sql = ts + " <= pg_catalog.statement_timestamp()";
    if (!v.ttl.empty())
      v.alive_sql += " AND " + ts + " >= pg_catalog.statement_timestamp() - " + quote_literal(v.ttl) + "::interval";
    v.select_sql = sel + " FROM " + v.table + " t WHERE " + v.alive_sql;
    v.order_sql = " ORDER BY " + k + ", " + ts + " DESC";
    if (!v.created_col.empty()) v.order_sql += ", t." + quote_ident(v.created_col) + " DESC";
    if (relkind == "r" || relkind == "p" || relkind == "m") v.order_sql += ", t.ctid DESC";
  }

  const ViewInfo* find_view(pqxx::transaction_base& tx, const std::string& name) {
    auto it = views.find(name);
    if (it != views.end()) return &it->second;
    load_registry(tx);  // a view we do not know yet: the registry changed under us
    need_reconcile = true;
    it = views.find(name);
    return it == views.end() ? nullptr : &it->second;
  }

  // ---- Redis writes ---------------------------------------------------------------------------

  // Writes `cmds` to Redis in one MULTI/EXEC with the marker (state `new_state`, seq `seq`).
  // Fencing: WATCH the marker and check it first. `expect`: "ready" (normal writes: the marker
  // must be ready and not behind PostgreSQL), "rebuilding" (rebuild writes), "" (any).
  void write_fenced(std::vector<Command>& cmds, int64_t seq, const std::string& new_state, const std::string& expect) {
    auto check = redis.pipeline({{"WATCH", kMarkerKey}, {"HMGET", kMarkerKey, "epoch", "seq", "state"}});
    if (check[0]->type == REDIS_REPLY_ERROR) throw RedisError("redis: WATCH: " + reply_text(check[0].get()));
    const redisReply* hm = check[1].get();
    if (hm->type != REDIS_REPLY_ARRAY || hm->elements != 3) {
      redis.command({"UNWATCH"});
      throw RedisError("redis: HMGET marker: " + reply_text(hm));
    }
    auto field = [&](size_t i) -> std::optional<std::string> {
      const redisReply* e = hm->element[i];
      if (e->type == REDIS_REPLY_NIL) return std::nullopt;
      return reply_text(e);
    };
    auto m_epoch = field(0), m_seq = field(1), m_state = field(2);
    if (m_epoch && std::stoll(*m_epoch) > epoch) {
      redis.command({"UNWATCH"});
      throw LostLeadership("marker epoch " + *m_epoch + " is newer than ours (" + std::to_string(epoch) + ")");
    }
    if (!expect.empty()) {
      if (!m_state) { redis.command({"UNWATCH"}); throw NeedRebuild("marker missing"); }
      if (*m_state != expect) { redis.command({"UNWATCH"}); throw NeedRebuild("marker state " + *m_state); }
      if (expect == "ready" && m_seq && std::stoll(*m_seq) < applied_seq) {
        redis.command({"UNWATCH"});
        throw NeedRebuild("marker seq " + *m_seq + " behind applied " + std::to_string(applied_seq));
      }
      if (expect == "rebuilding" && (!m_epoch || std::stoll(*m_epoch) != epoch)) {
        redis.command({"UNWATCH"});
        throw NeedRebuild("rebuild marker not ours");
      }
    }
    cmds.insert(cmds.begin(), Command{"MULTI"});
    cmds.push_back({"HSET", kMarkerKey, "epoch", std::to_string(epoch), "seq", std::to_string(seq), "state",
                    new_state, "at", std::to_string(unix_ms())});
    cmds.push_back({"EXEC"});
    auto replies = redis.pipeline(cmds);
    for (size_t i = 0; i + 1 < replies.size(); ++i)
      if (replies[i]->type == REDIS_REPLY_ERROR) {
        // EXEC then answers EXECABORT; the transaction did nothing.
        throw RedisError("redis: " + cmds[i].front() + ": " + reply_text(replies[i].get()));
      }
    const redisReply* exec = replies.back().get();
    if (exec->type == REDIS_REPLY_NIL) throw RetryBatch("marker changed during the write (WATCH)");
    if (exec->type != REDIS_REPLY_ARRAY) throw RedisError("redis: EXEC: " + reply_text(exec));
    for (size_t i = 0; i < exec->elements; ++i)
      if (exec->element[i]->type == REDIS_REPLY_ERROR)
        throw RedisError("redis: in EXEC: " + reply_text(exec->element[i]));
  }

  // Hands a chunk to the writer thread (fenced MULTI/EXEC with the marker).
  void submit_write(std::vector<Command> cmds, int64_t seq, std::string state, std::string expect) {
    auto shared = std::make_shared<std::vector<Command>>(std::move(cmds));
    writer.submit([this, shared, seq, state, expect] { write_fenced(*shared, seq, state, expect); });
  }

  // Appends the commands that make Redis hold winner row `row` (columns of ViewInfo::select_sql).
  static void add_winner(std::vector<Command>& cmds, const ViewInfo& v, const pqxx::row& row, bool reset,
                         int64_t now_ms) {
    std::string key = entity_redis_key(v.name, row[0].as<std::string>());
    if (!row[3].is_null() && row[3].as<int64_t>() <= now_ms) {  // expired since the query: gone
      cmds.push_back({"DEL", key});
      return;
    }
    if (reset) cmds.push_back({"DEL", key});
    Command h;
    h.reserve(6 + 2 * v.features.size());
    h.push_back("HSET");
    h.push_back(key);
    h.push_back("@event_ts");
    h.push_back(row[1].as<std::string>());
    h.push_back("@created_ts");
    h.push_back(row[2].as<std::string>());
    for (size_t i = 0; i < v.features.size(); ++i) {
      h.push_back(v.features[i]);
      h.emplace_back(row[static_cast<pqxx::row::size_type>(4 + i)].c_str(), row[static_cast<pqxx::row::size_type>(4 + i)].size());
    }
    cmds.push_back(std::move(h));
    if (!row[3].is_null()) cmds.push_back({"PEXPIREAT", key, row[3].as<std::string>()});
  }

  // Re-reads the winners of `keys` of view `v` and writes them (absent winner: DEL).
  size_t sync_keys(pqxx::transaction_base& tx, const ViewInfo& v, const std::vector<std::string>& keys, int64_t seq) {
    std::vector<std::string> valid;
    std::vector<Command> cmds;
    valid.reserve(keys.size());
    for (const auto& k : keys) {
      if (valid_key_text(v.key_type, k)) valid.push_back(k);
      else cmds.push_back({"DEL", entity_redis_key(v.name, k)});
    }
    pqxx::result r = tx.exec_params(v.keyed_sql(), to_pg_text_array(valid));
    std::unordered_set<std::string> found;
    found.reserve(r.size() * 2);
    int64_t now_ms = unix_ms();
    for (const auto& row : r) {
      found.insert(row[0].as<std::string>());
      add_winner(cmds, v, row, false, now_ms);
    }
    for (const auto& k : valid)
      if (!found.count(k)) cmds.push_back({"DEL", entity_redis_key(v.name, k)});
    submit_write(std::move(cmds), seq, "ready", "ready");
    return keys.size();
  }

  // Keys of `keys` that still have rows with a future event time: queue them again for then.
  void requeue_future(pqxx::transaction_base& tx, const ViewInfo& v, const std::vector<std::string>& keys) {
    std::vector<std::string> valid;
    for (const auto& k : keys) if (valid_key_text(v.key_type, k)) valid.push_back(k);
    if (valid.empty()) return;
    const std::string k = "t." + quote_ident(v.key_col), ts = "t." + quote_ident(v.ts_col);
    tx.exec_params(
        "INSERT INTO fstore.change_queue (view_name, keys, due_at) "
        "SELECT $2, pg_catalog.array_agg(s.k), pg_catalog.min(s.t) FROM ("
        "SELECT (" + k + ")::text AS k, pg_catalog.min((" + ts + ")::timestamptz) AS t FROM " + v.table +
        " t WHERE " + k + " = ANY($1::" + v.key_type + "[]) AND " + ts +
        " > pg_catalog.statement_timestamp() GROUP BY 1) s HAVING pg_catalog.count(*) > 0",
        to_pg_text_array(valid), v.name);
  }

  // Deletes the Redis keys of view `view` (all of them when `v` is null, i.e. the view is gone;
  // otherwise those whose entity has no winner in PostgreSQL any more).
  // Returns how many keys of the view it saw.
  size_t delete_stale_keys(pqxx::transaction_base* tx, const std::string& view, const ViewInfo* v, int64_t seq,
                         const std::string& state) {
    writer.drain();
    size_t seen = 0;
    std::string cursor = "0";
    const std::string prefix = std::string(kKeyPrefix) + view + ":";
    do {
      auto r = redis.command({"SCAN", cursor, "MATCH", prefix + "*", "COUNT", "2000"});
      if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw RedisError("redis: SCAN: unexpected reply");
      cursor = reply_text(r->element[0]);
      std::vector<Command> cmds;
      std::vector<std::string> candidates;
      const redisReply* keys = r->element[1];
      seen += keys->elements;
      for (size_t i = 0; i < keys->elements; ++i) {
        std::string key = reply_text(keys->element[i]);
        std::string entity = key.substr(prefix.size());
        if (!v || !valid_key_text(v->key_type, entity)) cmds.push_back({"DEL", key});
        else candidates.push_back(entity);
      }
      if (v && tx && !candidates.empty()) {
        auto gone = tx->exec_params("SELECT k FROM pg_catalog.unnest($1::text[]) AS k WHERE NOT EXISTS (SELECT 1 FROM " +
                                    v->table + " t WHERE t." + quote_ident(v->key_col) + " = k::" + v->key_type +
                                    " AND " + v->alive_sql + ")",
                                    to_pg_text_array(candidates));
        for (const auto& row : gone) cmds.push_back({"DEL", entity_redis_key(view, row[0].as<std::string>())});
      }
      if (!cmds.empty()) write_fenced(cmds, seq, state, state);
    } while (cursor != "0");
    return seen;
  }

  // Many keys of one view (a big COPY): one ordered pass over the view's winners beats thousands
  // of index probes. Writes the winners of `keys`, DELs the keys that have none.
  size_t sync_many_keys(pqxx::transaction_base& tx, const ViewInfo& v, std::unordered_set<std::string>& keys,
                        int64_t seq) {
    DrainGuard guard{writer};
    tx.exec("DECLARE fstore_sync_cur NO SCROLL CURSOR FOR " + v.all_sql());
    const std::string fetch = "FETCH FORWARD " + std::to_string(options.chunk_keys) + " FROM fstore_sync_cur";
    size_t total = keys.size();
    while (true) {
      pqxx::result r = tx.exec(fetch);
      if (r.empty()) break;
      std::vector<Command> cmds;
      int64_t now_ms = unix_ms();
      for (const auto& row : r) {
        auto it = keys.find(row[0].as<std::string>());
        if (it == keys.end()) continue;
        keys.erase(it);
        add_winner(cmds, v, row, false, now_ms);
      }
      if (!cmds.empty()) submit_write(std::move(cmds), seq, "ready", "ready");
    }
    tx.exec("CLOSE fstore_sync_cur");
    std::vector<Command> dels;
    for (const auto& k : keys) {
      dels.push_back({"DEL", entity_redis_key(v.name, k)});
      if (dels.size() >= static_cast<size_t>(options.chunk_keys)) {
        submit_write(std::move(dels), seq, "ready", "ready");
        dels.clear();
      }
    }
    if (!dels.empty()) submit_write(std::move(dels), seq, "ready", "ready");
    writer.drain();
    update([&](SyncStatus& s) { s.keys_written += total; });
    return total;
  }

  // Writes every winner of view `v` (DEL + HSET: stale fields go too).
  size_t write_all_winners(pqxx::transaction_base& tx, const ViewInfo& v, int64_t seq, const std::string& state,
                           bool reset) {
    DrainGuard guard{writer};
    size_t n = 0;
    tx.exec("DECLARE fstore_sync_cur NO SCROLL CURSOR FOR " + v.all_sql());
    const std::string fetch = "FETCH FORWARD " + std::to_string(options.chunk_keys) + " FROM fstore_sync_cur";
    while (true) {
      pqxx::result r = tx.exec(fetch);
      if (r.empty()) break;
      std::vector<Command> cmds;
      cmds.reserve(r.size() * 3);
      int64_t now_ms = unix_ms();
      for (const auto& row : r) add_winner(cmds, v, row, reset, now_ms);
      submit_write(std::move(cmds), seq, state, state);
      n += r.size();
      update([&](SyncStatus& s) { s.keys_written += r.size(); });
    }
    writer.drain();
    tx.exec("CLOSE fstore_sync_cur");
    return n;
  }

  // Makes Redis equal PostgreSQL for one whole view.
  // reset: DEL each key before writing it (its fields may be stale: the view's features changed).
  size_t resync_view(pqxx::transaction_base& tx, const ViewInfo& v, int64_t seq, const std::string& state, bool reset) {
    size_t existing = delete_stale_keys(&tx, v.name, &v, seq, state);
    size_t n = write_all_winners(tx, v, seq, state, reset && existing > 0);
    if (state == "ready") update([](SyncStatus& s) { s.view_resyncs++; });
    return n;
  }

  void store_signature(pqxx::transaction_base& tx, const ViewInfo& v) {
    tx.exec_params("INSERT INTO fstore.sync_views (view_name, signature, last_sync_at) VALUES ($1, $2, pg_catalog.now()) "
                   "ON CONFLICT (view_name) DO UPDATE SET signature = excluded.signature, last_sync_at = excluded.last_sync_at",
                   v.name, v.signature);
  }

  // ---- leader work ----------------------------------------------------------------------------

  // Brings Redis in line with registry changes: new or changed views are resynced, dropped views'
  // keys deleted. Crash-safe: the signatures live in PostgreSQL, stored after Redis was written.
  void reconcile() {
    pqxx::work tx(*pg);
    load_registry(tx);
    auto stored = tx.exec("SELECT view_name, signature FROM fstore.sync_views");
    std::map<std::string, std::string> sigs;
    for (const auto& row : stored) sigs[row[0].as<std::string>()] = row[1].is_null() ? "" : row[1].as<std::string>();
    for (const auto& [name, v] : views) {
      auto it = sigs.find(name);
      if (it != sigs.end() && it->second == v.signature) continue;
      std::fprintf(stderr, "fstore-sync: resyncing view %s (%s)\n", name.c_str(),
                   it == sigs.end() ? "new" : "definition changed");
      resync_view(tx, v, applied_seq, "ready", it != sigs.end());
      store_signature(tx, v);
    }
    for (const auto& [name, sig] : sigs) {
      if (views.count(name)) continue;
      std::fprintf(stderr, "fstore-sync: view %s is gone; deleting its keys\n", name.c_str());
      delete_stale_keys(nullptr, name, nullptr, applied_seq, "ready");
      tx.exec_params("DELETE FROM fstore.sync_views WHERE view_name = $1", name);
    }
    tx.commit();
    need_reconcile = false;
  }

  // Rebuilds Redis from PostgreSQL in batches while readers go on. The marker says "rebuilding"
  // until the end, so a worker that dies midway leaves a marker that makes the next one start over.
  void full_rebuild(const std::string& why) {
    std::fprintf(stderr, "fstore-sync: full rebuild of Redis (%s)\n", why.c_str());
    update([](SyncStatus& s) { s.rebuilding = true; s.caught_up = false; });
    std::vector<Command> none;
    write_fenced(none, applied_seq, "rebuilding", "");
    pqxx::work tx(*pg);
    load_registry(tx);
    // Keys of views that are no longer online, then every view: stale keys out, winners in.
    std::string cursor = "0";
    std::set<std::string> foreign_views;
    do {
      auto r = redis.command({"SCAN", cursor, "MATCH", std::string(kKeyPrefix) + "*", "COUNT", "5000"});
      if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw RedisError("redis: SCAN: unexpected reply");
      cursor = reply_text(r->element[0]);
      for (size_t i = 0; i < r->element[1]->elements; ++i) {
        std::string key = reply_text(r->element[1]->element[i]);
        if (key == kMarkerKey) continue;
        auto colon = key.find(':', std::strlen(kKeyPrefix));
        std::string view = key.substr(std::strlen(kKeyPrefix), colon == std::string::npos ? std::string::npos
                                                                                          : colon - std::strlen(kKeyPrefix));
        if (!views.count(view)) foreign_views.insert(view);
      }
    } while (cursor != "0");
    for (const auto& view : foreign_views) delete_stale_keys(nullptr, view, nullptr, applied_seq, "rebuilding");
    for (const auto& [name, v] : views) {
      resync_view(tx, v, applied_seq, "rebuilding", true);
      store_signature(tx, v);
    }
    tx.exec("DELETE FROM fstore.sync_views WHERE view_name <> ALL (SELECT name FROM fstore.feature_views WHERE online)");
    std::vector<Command> done;
    write_fenced(done, applied_seq, "ready", "rebuilding");
    tx.commit();
    need_reconcile = false;
    std::fprintf(stderr, "fstore-sync: rebuild done\n");
    update([](SyncStatus& s) { s.rebuilding = false; s.rebuilds++; });
  }

  // Looks at the marker: missing, not ready or behind PostgreSQL -> full rebuild.
  void check_marker() {
    auto r = redis.command({"HMGET", kMarkerKey, "epoch", "seq", "state"});
    last_marker_check = Clock::now();
    need_marker_check = false;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) throw RedisError("redis: HMGET marker: unexpected reply");
    auto field = [&](size_t i) -> std::optional<std::string> {
      if (r->element[i]->type == REDIS_REPLY_NIL) return std::nullopt;
      return reply_text(r->element[i]);
    };
    auto m_epoch = field(0), m_seq = field(1), m_state = field(2);
    if (m_epoch && std::stoll(*m_epoch) > epoch) throw LostLeadership("marker epoch " + *m_epoch + " is newer than ours");
    if (!m_state) return full_rebuild("marker missing");
    if (*m_state != "ready") return full_rebuild("marker state " + *m_state);
    if (m_seq && std::stoll(*m_seq) < applied_seq)
      return full_rebuild("Redis is behind PostgreSQL (marker seq " + *m_seq + " < " + std::to_string(applied_seq) + ")");
  }

  // One batch: consume up to batch_size due queue rows, write their keys' winners, commit.
  // Returns the number of queue rows consumed.
  size_t process_batch() {
    pqxx::work tx(*pg);
    pqxx::result r = tx.exec_params(
        "WITH d AS (DELETE FROM fstore.change_queue q WHERE q.id IN ("
        "  SELECT id FROM fstore.change_queue WHERE due_at IS NULL OR due_at <= pg_catalog.now() "
        "  ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) "
        "RETURNING q.view_name, q.keys, q.due_at, q.queued_at) "
        "SELECT view_name, keys::text, due_at IS NOT NULL, "
        "  extract(epoch FROM pg_catalog.clock_timestamp() - COALESCE(due_at, queued_at))::float8 FROM d",
        options.batch_size);
    if (r.empty()) {
      tx.commit();
      return 0;
    }
    double oldest = 0;
    std::map<std::string, Pending> work;
    for (const auto& row : r) {
      Pending& p = work[row[0].as<std::string>()];
      oldest = std::max(oldest, row[3].as<double>());
      if (row[1].is_null()) { p.whole = true; continue; }
      auto keys = parse_pg_text_array(std::string_view(row[1].c_str(), row[1].size()));
      bool due = row[2].as<bool>();
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
    std::vector<std::string> touched;
    std::vector<std::string> counts;
    size_t total_keys = 0;
    for (auto& [name, p] : work) {
      const ViewInfo* v = find_view(tx, name);
      if (!v) continue;  // view dropped or offline: its keys go in reconcile()
      size_t n = 0;
      if (p.whole) {
        n = resync_view(tx, *v, seq, "ready", false);
      } else if (p.keys.size() >= kBigKeySet) {
        n = sync_many_keys(tx, *v, p.keys, seq);
      } else {
        std::vector<std::string> keys(p.keys.begin(), p.keys.end());
        std::sort(keys.begin(), keys.end());
        for (size_t i = 0; i < keys.size(); i += static_cast<size_t>(options.chunk_keys)) {
          std::vector<std::string> chunk(keys.begin() + i,
                                         keys.begin() + std::min(keys.size(), i + options.chunk_keys));
          n += sync_keys(tx, *v, chunk, seq);
          update([&](SyncStatus& s) { s.keys_written += chunk.size(); });
        }
      }
      if (!p.due_keys.empty()) requeue_future(tx, *v, std::vector<std::string>(p.due_keys.begin(), p.due_keys.end()));
      touched.push_back(name);
      counts.push_back(std::to_string(n));
      total_keys += n;
    }
    writer.drain();  // every chunk acknowledged by Redis before PostgreSQL forgets the changes
    tx.exec_params("UPDATE fstore.sync_state SET applied_seq = $1, last_sync_at = pg_catalog.now()", seq);
    if (!touched.empty())
      tx.exec_params("INSERT INTO fstore.sync_views AS s (view_name, last_sync_at, keys_synced) "
                     "SELECT v, pg_catalog.now(), n FROM unnest($1::text[], $2::bigint[]) AS u(v, n) "
                     "ON CONFLICT (view_name) DO UPDATE SET last_sync_at = excluded.last_sync_at, "
                     "keys_synced = s.keys_synced + excluded.keys_synced",
                     to_pg_text_array(touched), to_pg_text_array(counts));
    tx.commit();
    applied_seq = seq;
    update([&](SyncStatus& s) { s.batches_applied++; });
    (void)total_keys;
    return r.size();
  }

  // Queue depth, lag and the next due time (outside any transaction).
  struct QueueStats { int64_t depth = 0; double oldest_age = 0; std::optional<double> next_due_in; };
  QueueStats queue_stats() {
    pqxx::nontransaction nt(*pg);
    auto r = nt.exec(
        "SELECT pg_catalog.count(*) FILTER (WHERE due_at IS NULL OR due_at <= pg_catalog.now()), "
        "  COALESCE(extract(epoch FROM pg_catalog.clock_timestamp() - pg_catalog.min(COALESCE(due_at, queued_at)) "
        "    FILTER (WHERE due_at IS NULL OR due_at <= pg_catalog.now())), 0)::float8, "
        "  extract(epoch FROM pg_catalog.min(due_at) FILTER (WHERE due_at > pg_catalog.now()) "
        "    - pg_catalog.clock_timestamp())::float8 "
        "FROM fstore.change_queue");
    QueueStats q;
    q.depth = r[0][0].as<int64_t>();
    q.oldest_age = r[0][1].as<double>();
    if (!r[0][2].is_null()) q.next_due_in = r[0][2].as<double>();
    return q;
  }

  void leader_tick() {
    if (pg->backendpid() != leader_pid) throw LostLeadership("PostgreSQL session changed");
    pg->get_notifs();
    if (registry_flag.exchange(false)) need_reconcile = true;
    changes_flag = false;
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

  // A follower: watches the queue and the marker so /ready can say whether Redis is current.
  void follower_tick() {
    auto q = queue_stats();
    set_pending(q.depth, q.oldest_age);
    auto r = redis.command({"HGET", kMarkerKey, "state"});
    std::string state = reply_text(r.get());
    update([&](SyncStatus& s) {
      s.redis_connected = true;
      s.rebuilding = state == "rebuilding";
      s.caught_up = q.depth == 0 && state == "ready";
      s.last_error.clear();
    });
  }

  // ---- the thread -----------------------------------------------------------------------------

  void run() {
    int backoff_ms = 50;
    while (!stopping) {
      try {
        ensure_pg();
        redis.ensure_connected();
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
        redis.close();
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
    redis.close();
  }
};

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
