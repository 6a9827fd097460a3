// Redis writes of the sync worker: fenced MULTI/EXEC with the marker, the winners of keys, and
// whole-view resyncs in pages of keys, each page its own short transaction (reconcile, TRUNCATE,
// full rebuilds), with the queue still consumed between pages. See docs/sync.md.
#include "sync/sync_impl.hpp"
#include "sync/sync_util.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

namespace fstore::sync {

namespace {
// Marker fields of an HMGET epoch seq state reply.
std::optional<std::string> marker_field(const redisReply* hm, size_t i) {
  const redisReply* e = hm->element[i];
  if (e->type == REDIS_REPLY_NIL) return std::nullopt;
  return reply_text(e);
}

// Resets write_state to "ready" when a full rebuild ends, also by an exception.
struct WriteStateGuard {
  std::string& state;
  ~WriteStateGuard() { state = "ready"; }
};
}  // namespace

// Writes `cmds` to Redis in one MULTI/EXEC with the marker (state `new_state`, seq `seq`).
// Fencing: WATCH the marker and check it first. `expect`: "ready" (normal writes: the marker
// must be ready and not behind PostgreSQL), "rebuilding" (rebuild writes), "" (any).
void SyncWorker::Impl::write_fenced(std::vector<Command>& cmds, int64_t seq, const std::string& new_state,
                                    const std::string& expect) {
  if (cluster) return cluster_write(cmds, seq);  // per-slot markers, one script per slot
  auto check = redis.pipeline({{"WATCH", kMarkerKey}, {"HMGET", kMarkerKey, "epoch", "seq", "state"}});
  if (check[0]->type == REDIS_REPLY_ERROR) throw RedisError("redis: WATCH: " + reply_text(check[0].get()));
  const redisReply* hm = check[1].get();
  if (hm->type != REDIS_REPLY_ARRAY || hm->elements != 3) {
    redis.command({"UNWATCH"});
    throw RedisError("redis: HMGET marker: " + reply_text(hm));
  }
  auto m_epoch = marker_field(hm, 0), m_seq = marker_field(hm, 1), m_state = marker_field(hm, 2);
  auto refuse = [&](auto error) { redis.command({"UNWATCH"}); throw error; };
  if (m_epoch && std::stoll(*m_epoch) > epoch)
    refuse(LostLeadership("marker epoch " + *m_epoch + " is newer than ours (" + std::to_string(epoch) + ")"));
  if (!expect.empty()) {
    if (!m_state) refuse(NeedRebuild("marker missing"));
    if (*m_state != expect) refuse(NeedRebuild("marker state " + *m_state));
    if (expect == "ready" && m_seq && std::stoll(*m_seq) < applied_seq)
      refuse(NeedRebuild("marker seq " + *m_seq + " behind applied " + std::to_string(applied_seq)));
    if (expect == "rebuilding" && (!m_epoch || std::stoll(*m_epoch) != epoch)) refuse(NeedRebuild("rebuild marker not ours"));
  }
  cmds.insert(cmds.begin(), Command{"MULTI"});
  cmds.push_back({"HSET", kMarkerKey, "epoch", std::to_string(epoch), "seq", std::to_string(seq), "state", new_state,
                  "at", std::to_string(unix_ms())});
  cmds.push_back({"EXEC"});
  auto replies = redis.pipeline(cmds);
  for (size_t i = 0; i + 1 < replies.size(); ++i)
    if (replies[i]->type == REDIS_REPLY_ERROR)  // EXEC then answers EXECABORT; the transaction did nothing
      throw RedisError("redis: " + cmds[i].front() + ": " + reply_text(replies[i].get()));
  const redisReply* exec = replies.back().get();
  if (exec->type == REDIS_REPLY_NIL) throw RetryBatch("marker changed during the write (WATCH)");
  if (exec->type != REDIS_REPLY_ARRAY) throw RedisError("redis: EXEC: " + reply_text(exec));
  for (size_t i = 0; i < exec->elements; ++i)
    if (exec->element[i]->type == REDIS_REPLY_ERROR) throw RedisError("redis: in EXEC: " + reply_text(exec->element[i]));
}

// Hands a chunk to the writer thread (fenced MULTI/EXEC with the marker, in the current state).
void SyncWorker::Impl::submit_write(std::vector<Command> cmds, int64_t seq) {
  auto shared = std::make_shared<std::vector<Command>>(std::move(cmds));
  const std::string state = write_state;
  writer.submit([this, shared, seq, state] { write_fenced(*shared, seq, state, state); });
}

// Re-reads the winners of `keys` of view `v` at `now_us` and writes them (absent winner: DEL).
size_t SyncWorker::Impl::sync_keys(pqxx::transaction_base& tx, const ViewInfo& v, const std::vector<std::string>& keys,
                                   int64_t seq, int64_t now_us) {
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
  const int64_t wall = unix_ms();
  for (const auto& row : r) {
    found.insert(row[0].as<std::string>());
    add_winner(cmds, v, row, false, now_us, wall);
  }
  for (const auto& k : valid)
    if (!found.count(k)) cmds.push_back({"DEL", entity_redis_key(v.name, k)});
  submit_write(std::move(cmds), seq);
  return keys.size();
}

// Many keys of one view (a big COPY): one ordered pass over the view's winners beats thousands of
// index probes. Writes the winners of `keys`, DELs the keys that have none. The pass is one cursor,
// fetched chunk_keys rows at a time, not keyset pages: a page query is planned afresh each time,
// and on a table just bulk-loaded (no statistics yet) each page sorted the whole table again
// (1M keys: 0.55 s a page, 100 pages; the cursor sorts once, 2.6 s in all).
size_t SyncWorker::Impl::sync_many_keys(pqxx::transaction_base& tx, const ViewInfo& v,
                                        std::unordered_set<std::string>& keys, int64_t seq, int64_t now_us) {
  DrainGuard guard{writer};
  const size_t total = keys.size();
  // The caller's savepoint closes the cursor if anything below throws.
  tx.exec("DECLARE fstore_sync_winners NO SCROLL CURSOR FOR " + v.select_sql + v.order_sql);
  const std::string fetch = "FETCH " + std::to_string(options.chunk_keys) + " FROM fstore_sync_winners";
  while (true) {
    pqxx::result r = tx.exec(fetch);
    if (r.empty()) break;
    std::vector<Command> cmds;
    const int64_t wall = unix_ms();
    for (const auto& row : r) {
      auto it = keys.find(row[0].as<std::string>());
      if (it == keys.end()) continue;
      keys.erase(it);
      add_winner(cmds, v, row, false, now_us, wall);
    }
    if (!cmds.empty()) submit_write(std::move(cmds), seq);
    if (r.size() < static_cast<size_t>(options.chunk_keys)) break;
  }
  tx.exec("CLOSE fstore_sync_winners");
  std::vector<Command> dels;
  for (const auto& k : keys) {
    dels.push_back({"DEL", entity_redis_key(v.name, k)});
    if (dels.size() >= static_cast<size_t>(options.chunk_keys)) {
      submit_write(std::move(dels), seq);
      dels.clear();
    }
  }
  if (!dels.empty()) submit_write(std::move(dels), seq);
  writer.drain();
  update([&](SyncStatus& s) { s.keys_written += total; });
  return total;
}

// Queues again, due at their next event time, the keys (of `keys`, or all of the view) that have
// rows later than the transaction's now: they win the point-in-time rule only then. Rows at
// 'infinity' never win and are never queued.
void SyncWorker::Impl::requeue_future(pqxx::transaction_base& tx, const ViewInfo& v,
                                      const std::vector<std::string>* keys) {
  if (!keys) {
    tx.exec_params(v.requeue_sql(false), v.name);
    return;
  }
  std::vector<std::string> valid;
  for (const auto& k : *keys) if (valid_key_text(v.key_type, k)) valid.push_back(k);
  if (!valid.empty()) tx.exec_params(v.requeue_sql(true), v.name, to_pg_text_array(valid));
}

// Deletes the Redis keys of view `view`: all of them when `v` is null (the view is gone),
// otherwise those whose entity has no row at or before now in PostgreSQL. Each SCAN page is
// checked in a short transaction of its own. Returns how many keys of the view it saw.
size_t SyncWorker::Impl::delete_stale_keys(const std::string& view, const ViewInfo* v) {
  writer.drain();
  size_t seen = 0;
  const std::string prefix = std::string(kKeyPrefix) + view + ":";
  scan_keys(prefix + "*", [&](const std::vector<std::string>& keys) {
    std::vector<Command> cmds;
    std::vector<std::string> candidates;
    seen += keys.size();
    for (const auto& key : keys) {
      std::string entity = key.substr(prefix.size());
      if (!v || !valid_key_text(v->key_type, entity)) cmds.push_back({"DEL", key});
      else candidates.push_back(entity);
    }
    pqxx::work tx(*pg);
    if (v && !candidates.empty()) {
      auto gone = tx.exec_params("SELECT k FROM pg_catalog.unnest($1::text[]) AS k WHERE NOT EXISTS (SELECT 1 FROM " +
                                 v->table + " t WHERE t." + quote_ident(v->key_col) + " = k::" + v->key_type +
                                 " AND t." + quote_ident(v->ts_col) + " <= pg_catalog.now())",
                                 to_pg_text_array(candidates));
      for (const auto& row : gone) cmds.push_back({"DEL", entity_redis_key(view, row[0].as<std::string>())});
    }
    if (!cmds.empty()) {
      const int64_t seq = applied_seq + 1;
      write_fenced(cmds, seq, write_state, write_state);
      tx.exec_params("UPDATE fstore.sync_state SET applied_seq = $1", seq);
      tx.commit();
      applied_seq = seq;
    }
  });
  return seen;
}

// Makes Redis equal PostgreSQL for one whole view: stale keys out, then every winner in pages of
// chunk_keys keys in key order, each page its own transaction that bumps applied_seq (so a Redis
// restored from an older snapshot is behind the marker), queue batches between pages; then the
// keys with future rows are queued for then and the signature is stored. reset: DEL each key before
// writing it (its fields may be stale). A PostgreSQL error marks the view broken: returns false.
bool SyncWorker::Impl::resync_view(const ViewInfo& v, bool reset) {
  std::fprintf(stderr, "fstore-sync: resyncing view %s\n", v.name.c_str());
  try {
    reset = delete_stale_keys(v.name, &v) > 0 && reset;
    std::optional<std::string> after;
    while (!stopping) {
      pqxx::work tx(*pg);
      const int64_t now_us = tx_now_us(tx);
      auto fresh = lock_and_check_view(tx, v);  // the table as it is now, unchanged until commit
      if (!fresh) {                             // gone meanwhile: reconcile deletes its keys
        need_reconcile = true;
        return false;
      }
      if (fresh->signature != v.signature) need_reconcile = true;  // changed meanwhile: resynced again
      if (!fresh->problem.empty()) {
        tx.abort();
        mark_broken_now(v.name, fresh->problem);
        return false;
      }
      pqxx::result r = after ? tx.exec_params(v.page_sql(true), options.chunk_keys, *after)
                             : tx.exec_params(v.page_sql(false), options.chunk_keys);
      if (r.empty()) break;
      std::vector<Command> cmds;
      cmds.reserve(r.size() * 3);
      const int64_t wall = unix_ms();
      for (const auto& row : r)
        if (!skip_key(entity_redis_key(v.name, row[0].as<std::string>()))) add_winner(cmds, v, row, reset, now_us, wall);
      const int64_t seq = applied_seq + 1;
      write_fenced(cmds, seq, write_state, write_state);
      tx.exec_params("UPDATE fstore.sync_state SET applied_seq = $1, last_sync_at = pg_catalog.now()", seq);
      tx.commit();
      applied_seq = seq;
      update([&](SyncStatus& s) { s.keys_written += r.size(); });
      if (r.size() < static_cast<size_t>(options.chunk_keys)) break;
      after = r[r.size() - 1][0].as<std::string>();
      process_batch();  // the queue keeps moving while a big view is rewritten
    }
    pqxx::work tx(*pg);
    requeue_future(tx, v, nullptr);
    store_signature(tx, v);
    tx.commit();
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (const pqxx::sql_error& e) {
    writer.drain_quietly();
    mark_broken_now(v.name, e.what());
    return false;
  }
  if (write_state == "ready") update([](SyncStatus& s) { s.view_resyncs++; });
  return true;
}

// Brings Redis in line with the registry: new, changed, broken (retried) and TRUNCATEd views are
// resynced, views that cannot be read are marked broken and skipped, dropped views' keys deleted.
// Crash-safe: the signatures live in PostgreSQL, stored after Redis was written.
void SyncWorker::Impl::reconcile() {
  std::map<std::string, std::string> sigs;
  {
    pqxx::work tx(*pg);
    views = load_views(tx);
    for (const auto& row : tx.exec("SELECT view_name, signature FROM fstore.sync_views"))
      sigs[row[0].as<std::string>()] = row[1].is_null() ? "" : row[1].as<std::string>();
    tx.commit();
  }
  need_reconcile = false;
  const auto snapshot = views;  // batches between resync pages may reload `views`
  for (const auto& [name, v] : snapshot) {
    if (stopping) return;
    if (!v.problem.empty()) {
      auto it = broken.find(name);
      if (it == broken.end() || it->second != v.problem) mark_broken_now(name, v.problem);
      continue;
    }
    auto it = sigs.find(name);
    if (!broken.count(name) && it != sigs.end() && it->second == v.signature) continue;
    resync_view(v, it != sigs.end());
  }
  for (const auto& [name, sig] : sigs) {
    if (snapshot.count(name)) continue;
    std::fprintf(stderr, "fstore-sync: view %s is gone; deleting its keys\n", name.c_str());
    delete_stale_keys(name, nullptr);
    pqxx::work tx(*pg);
    tx.exec_params("DELETE FROM fstore.sync_views WHERE view_name = $1", name);
    tx.commit();
    broken.erase(name);
  }
  for (auto it = broken.begin(); it != broken.end();)
    it = snapshot.count(it->first) ? std::next(it) : broken.erase(it);
  publish_broken();
}

// Rebuilds Redis from PostgreSQL view by view, in pages of keys (each its own transaction), while
// readers go on and the queue is still consumed. The marker says "rebuilding" until the end, so a
// worker that dies midway leaves a marker that makes the next one start over; the final marker
// carries a fresh seq.
void SyncWorker::Impl::full_rebuild(const std::string& why) {
  std::fprintf(stderr, "fstore-sync: full rebuild of Redis (%s)\n", why.c_str());
  update([](SyncStatus& s) { s.rebuilding = true; s.caught_up = false; });
  writer.drain();
  std::vector<Command> none;
  write_fenced(none, applied_seq, "rebuilding", "");
  WriteStateGuard guard{write_state};
  write_state = "rebuilding";
  {
    pqxx::work tx(*pg);
    views = load_views(tx);
    tx.commit();
  }
  const auto snapshot = views;
  // Keys of views that are no longer online, then every view: stale keys out, winners in.
  std::set<std::string> foreign_views;
  scan_keys(std::string(kKeyPrefix) + "*", [&](const std::vector<std::string>& page) {
    for (const auto& key : page) {
      if (key == kMarkerKey) continue;
      const size_t start = std::strlen(kKeyPrefix);
      auto colon = key.find(':', start);
      std::string view = key.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!snapshot.count(view)) foreign_views.insert(view);
    }
  });
  for (const auto& view : foreign_views) delete_stale_keys(view, nullptr);
  for (const auto& [name, v] : snapshot) {
    if (stopping) return;
    if (!v.problem.empty()) mark_broken_now(name, v.problem);
    else resync_view(v, true);
  }
  pqxx::work tx(*pg);
  tx.exec("DELETE FROM fstore.sync_views WHERE view_name <> ALL (SELECT name FROM fstore.feature_views WHERE online)");
  const int64_t seq = applied_seq + 1;
  std::vector<Command> done;
  write_fenced(done, seq, "ready", "rebuilding");
  tx.exec_params("UPDATE fstore.sync_state SET applied_seq = $1, last_sync_at = pg_catalog.now()", seq);
  tx.commit();
  applied_seq = seq;
  need_reconcile = false;
  std::fprintf(stderr, "fstore-sync: rebuild done\n");
  publish_broken();
  update([](SyncStatus& s) { s.rebuilding = false; s.rebuilds++; });
}

// Looks at the marker: missing, not ready or behind PostgreSQL -> full rebuild.
void SyncWorker::Impl::check_marker() {
  if (cluster) return cluster_check_markers();  // per slot; rebuilds only the slots that lost data
  auto r = redis.command({"HMGET", kMarkerKey, "epoch", "seq", "state"});
  last_marker_check = Clock::now();
  need_marker_check = false;
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) throw RedisError("redis: HMGET marker: unexpected reply");
  auto m_epoch = marker_field(r.get(), 0), m_seq = marker_field(r.get(), 1), m_state = marker_field(r.get(), 2);
  if (m_epoch && std::stoll(*m_epoch) > epoch) throw LostLeadership("marker epoch " + *m_epoch + " is newer than ours");
  if (!m_state) return full_rebuild("marker missing");
  if (*m_state != "ready") return full_rebuild("marker state " + *m_state);
  if (m_seq && std::stoll(*m_seq) < applied_seq)
    return full_rebuild("Redis is behind PostgreSQL (marker seq " + *m_seq + " < " + std::to_string(applied_seq) + ")");
}

}  // namespace fstore::sync
