// The sync worker on a Redis Cluster (docs/architecture.md "Redis Cluster"): the marker becomes one
// hash per slot, fstore:v1:@marker:{<tag>} (server/redis/cluster_slots.hpp slot_marker_key), and
// every chunk is written as one Lua script per slot, with that slot's marker and keys: it checks the
// epoch (fences an old leader) and the slot's expected state, applies the DEL/HSET/PEXPIREAT and
// updates the marker, atomically. A slot whose marker is missing, in the wrong state or behind what
// this leader wrote, or whose master failed over to a replica, is rebuilt from PostgreSQL; the
// other slots stay ready and keep syncing.
#include "sync/sync_impl.hpp"
#include "sync/sync_util.hpp"

#include <cstdio>
#include <cstring>
#include <set>

namespace fstore::sync {

namespace {

// KEYS[1]: the slot's marker, KEYS[2..]: the keys the commands touch (same slot).
// ARGV: epoch, seq, new state, expected state ("" = any), least marker seq, at, then the commands,
// each as its argument count followed by its arguments.
constexpr const char* kWriteScript = R"lua(
local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'state')
local epoch = tonumber(ARGV[1])
if m[1] and tonumber(m[1]) > epoch then
  return redis.error_reply('FSTORE_FENCED marker epoch ' .. m[1] .. ' is newer than ours')
end
local expect = ARGV[4]
if expect ~= '' then
  if not m[3] then return redis.error_reply('FSTORE_REBUILD marker missing') end
  if m[3] ~= expect then return redis.error_reply('FSTORE_REBUILD marker state ' .. m[3]) end
  if expect == 'ready' and m[2] and tonumber(m[2]) < tonumber(ARGV[5]) then
    return redis.error_reply('FSTORE_REBUILD marker seq ' .. m[2] .. ' behind ' .. ARGV[5])
  end
  if expect == 'rebuilding' and (not m[1] or tonumber(m[1]) ~= epoch) then
    return redis.error_reply('FSTORE_REBUILD rebuild marker not ours')
  end
end
local i = 7
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'seq', ARGV[2], 'state', ARGV[3], 'at', ARGV[6])
return 1
)lua";

// Marker fields of an HMGET epoch seq state reply (nullopt for a missing field).
std::optional<std::string> field(const redisReply* hm, size_t i) {
  const redisReply* e = hm->element[i];
  if (e->type == REDIS_REPLY_NIL) return std::nullopt;
  return reply_text(e);
}

// Puts the slot bookkeeping of a rebuild back when it ends, also by an exception.
struct SlotRebuildGuard {
  std::vector<char>& rebuilding;
  const std::vector<char>*& only;
  ~SlotRebuildGuard() {
    std::fill(rebuilding.begin(), rebuilding.end(), 0);
    only = nullptr;
  }
};

}  // namespace

// Connects to the one Redis or to the cluster.
void SyncWorker::Impl::redis_connect() {
  if (cluster) cluster_connect();
  else redis.ensure_connected();
}

void SyncWorker::Impl::redis_close() {
  if (cluster) {
    cluster->close();
    script_sha.clear();
  } else {
    redis.close();
  }
}

bool SyncWorker::Impl::skip_key(const std::string& redis_key) const {
  return only_slots && !(*only_slots)[static_cast<size_t>(server::key_slot(redis_key))];
}

// Connects to the cluster (the slot map) and loads the write script on every master.
void SyncWorker::Impl::cluster_connect() {
  if (cluster->connected() && !script_sha.empty()) return;
  cluster->ensure_connected();
  for (auto& n : cluster->on_every_master({"SCRIPT", "LOAD", kWriteScript})) {
    if (n.reply->type == REDIS_REPLY_ERROR) throw RedisError("redis: SCRIPT LOAD on " + n.address + ": " + reply_text(n.reply.get()));
    script_sha = reply_text(n.reply.get());
  }
}

// Runs the write script for each group (one slot each); EVAL where a master lacks the script (a
// promoted replica). Fencing and state errors become LostLeadership / NeedRebuild.
void SyncWorker::Impl::cluster_scripts(std::vector<SlotGroup>& groups) {
  if (groups.empty()) return;
  cluster_connect();
  const std::string at = std::to_string(unix_ms());
  std::vector<SlotCommand> calls;
  calls.reserve(groups.size());
  for (const auto& g : groups) {
    std::set<std::string> keys;
    for (const auto& c : g.cmds) keys.insert(c[1]);
    Command e{"EVALSHA", script_sha, std::to_string(1 + keys.size()), server::slot_marker_key(g.slot)};
    e.insert(e.end(), keys.begin(), keys.end());
    for (const auto& a : {std::to_string(epoch), std::to_string(g.seq), g.state, g.expect,
                          std::to_string(slot_seq[static_cast<size_t>(g.slot)]), at})
      e.push_back(a);
    for (const auto& c : g.cmds) {
      e.push_back(std::to_string(c.size()));
      e.insert(e.end(), c.begin(), c.end());
    }
    calls.push_back({g.slot, std::move(e)});
  }
  auto replies = cluster->run(calls);
  std::vector<SlotCommand> again;
  std::vector<size_t> again_index;
  for (size_t i = 0; i < replies.size(); ++i)
    if (replies[i]->type == REDIS_REPLY_ERROR && reply_text(replies[i].get()).rfind("NOSCRIPT", 0) == 0) {
      SlotCommand c = calls[i];
      c.cmd[0] = "EVAL";
      c.cmd[1] = kWriteScript;
      again.push_back(std::move(c));
      again_index.push_back(i);
    }
  if (!again.empty()) {
    auto more = cluster->run(again);
    for (size_t j = 0; j < more.size(); ++j) replies[again_index[j]] = std::move(more[j]);
  }
  std::optional<std::string> fenced, rebuild, error;
  for (size_t i = 0; i < replies.size(); ++i) {
    const std::string text = replies[i]->type == REDIS_REPLY_ERROR ? reply_text(replies[i].get()) : "";
    if (text.empty()) {
      auto& s = slot_seq[static_cast<size_t>(groups[i].slot)];
      s = std::max(s, groups[i].seq);
    } else if (text.find("FSTORE_FENCED") != std::string::npos) {
      fenced = text;
    } else if (text.find("FSTORE_REBUILD") != std::string::npos) {
      rebuild = "slot " + std::to_string(groups[i].slot) + ": " + text;
    } else {
      error = text;
    }
  }
  if (fenced) throw LostLeadership(*fenced);
  if (error) throw RedisError("redis: write script: " + *error);
  if (rebuild) throw NeedRebuild(*rebuild);
}

// A chunk on the cluster: grouped by slot, one script per slot, in each slot's state.
void SyncWorker::Impl::cluster_write(const std::vector<Command>& cmds, int64_t seq) {
  std::map<int, size_t> index;
  std::vector<SlotGroup> groups;
  for (const auto& c : cmds) {
    const int slot = server::key_slot(c[1]);
    auto [it, fresh] = index.emplace(slot, groups.size());
    if (fresh) {
      const std::string state = slot_rebuilding[static_cast<size_t>(slot)] ? "rebuilding" : "ready";
      groups.push_back({slot, seq, state, state, {}});
    }
    groups[it->second].cmds.push_back(c);
  }
  cluster_scripts(groups);
}

// Sets the markers of `slots` to `state` with `seq`, each checked for `expect`.
void SyncWorker::Impl::cluster_set_markers(const std::set<int>& slots, const std::string& state,
                                           const std::string& expect, int64_t seq) {
  std::vector<SlotGroup> groups;
  for (int s : slots) groups.push_back({s, seq, state, expect, {}});
  cluster_scripts(groups);
}

// Every slot's marker (epoch, seq, state), in slot order.
std::vector<Reply> SyncWorker::Impl::cluster_markers() {
  cluster_connect();
  std::vector<SlotCommand> reads;
  reads.reserve(server::kClusterSlots);
  for (int s = 0; s < server::kClusterSlots; ++s)
    reads.push_back({s, {"HMGET", server::slot_marker_key(s), "epoch", "seq", "state"}});
  auto replies = cluster->run(reads);
  for (const auto& r : replies)
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) throw RedisError("redis: HMGET marker: " + reply_text(r.get()));
  return replies;
}

// The leader's look at the cluster: slots that failed over, lost their marker, are not ready or
// are behind what this leader wrote there are rebuilt (those slots only).
void SyncWorker::Impl::cluster_check_markers() {
  last_marker_check = Clock::now();
  need_marker_check = false;
  cluster_connect();
  cluster->refresh();  // the map of now: a failover shows as a slot's master become its replica
  auto replies = cluster_markers();
  std::set<int> lost = cluster->take_failed_over_slots();
  std::string why = lost.empty() ? "" : std::to_string(lost.size()) + " slots failed over";
  size_t missing = 0, behind = 0, not_ready = 0;
  for (int s = 0; s < server::kClusterSlots; ++s) {
    const redisReply* hm = replies[static_cast<size_t>(s)].get();
    auto m_epoch = field(hm, 0), m_seq = field(hm, 1), m_state = field(hm, 2);
    if (m_epoch && std::stoll(*m_epoch) > epoch)
      throw LostLeadership("slot " + std::to_string(s) + " marker epoch " + *m_epoch + " is newer than ours");
    const int64_t seq = m_seq ? std::stoll(*m_seq) : 0;
    auto& mine = slot_seq[static_cast<size_t>(s)];
    if (!m_state) { ++missing; lost.insert(s); }
    else if (*m_state != "ready") { ++not_ready; lost.insert(s); }
    else if (seq < mine) { ++behind; lost.insert(s); }
    else mine = seq;
  }
  if (lost.empty()) return;
  for (auto [n, what] : {std::pair{missing, "without marker"}, {not_ready, "not ready"}, {behind, "behind"}})
    if (n) why += (why.empty() ? "" : ", ") + std::to_string(n) + " slots " + what;
  rebuild_slots(lost, why);
}

// The cluster's marker state for a follower: "ready" when every slot is, "rebuilding" when any
// slot is being rebuilt, "" otherwise.
std::string SyncWorker::Impl::cluster_state() {
  auto replies = cluster_markers();
  bool rebuilding = false, ready = true;
  for (const auto& r : replies) {
    auto state = field(r.get(), 2);
    if (!state || *state != "ready") ready = false;
    if (state && *state == "rebuilding") rebuilding = true;
  }
  return rebuilding ? "rebuilding" : ready ? "ready" : "";
}

// Rewrites the keys of `slots` from PostgreSQL while every other slot stays ready: their markers
// say "rebuilding" until the end (a worker dying midway leaves them so, and the next leader starts
// over), foreign and stale keys in them are deleted, every view is resynced writing only keys of
// those slots, the queue is consumed between pages, and last the markers say "ready" with a fresh
// seq.
void SyncWorker::Impl::rebuild_slots(const std::set<int>& slots, const std::string& why) {
  std::fprintf(stderr, "fstore-sync: rebuild of %zu of %d slots of the Redis Cluster (%s)\n", slots.size(),
               server::kClusterSlots, why.c_str());
  update([](SyncStatus& s) { s.rebuilding = true; s.caught_up = false; });
  writer.drain();
  cluster_set_markers(slots, "rebuilding", "", applied_seq);
  std::vector<char> filter(server::kClusterSlots, 0);
  for (int s : slots) filter[static_cast<size_t>(s)] = 1;
  SlotRebuildGuard guard{slot_rebuilding, only_slots};
  slot_rebuilding = filter;
  only_slots = &filter;
  {
    pqxx::work tx(*pg);
    views = load_views(tx);
    tx.commit();
  }
  const auto snapshot = views;
  std::set<std::string> foreign_views;
  scan_keys(std::string(kKeyPrefix) + "*", [&](const std::vector<std::string>& page) {
    for (const auto& key : page) {
      if (key.rfind(kMarkerKey, 0) == 0) continue;
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
  const int64_t seq = applied_seq + 1;
  cluster_set_markers(slots, "ready", "rebuilding", seq);
  tx.exec_params("UPDATE fstore.sync_state SET applied_seq = $1, last_sync_at = pg_catalog.now()", seq);
  tx.commit();
  applied_seq = seq;
  std::fprintf(stderr, "fstore-sync: rebuild of %zu slots done\n", slots.size());
  publish_broken();
  update([](SyncStatus& s) { s.rebuilding = false; s.rebuilds++; });
}

// Calls `page` with the keys matching `pattern`, a SCAN page at a time: on the one Redis, or on
// every master of the cluster (keys outside `only_slots`, during a slot rebuild, left out).
void SyncWorker::Impl::scan_keys(const std::string& pattern,
                                 const std::function<void(const std::vector<std::string>&)>& page) {
  auto walk = [&](const std::function<Reply(const Command&)>& send) {
    std::string cursor = "0";
    do {
      auto r = send({"SCAN", cursor, "MATCH", pattern, "COUNT", "2000"});
      if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw RedisError("redis: SCAN: " + reply_text(r.get()));
      cursor = reply_text(r->element[0]);
      std::vector<std::string> keys;
      for (size_t i = 0; i < r->element[1]->elements; ++i) {
        std::string key = reply_text(r->element[1]->element[i]);
        if (skip_key(key)) continue;
        keys.push_back(std::move(key));
      }
      page(keys);
    } while (cursor != "0");
  };
  if (!cluster) return walk([&](const Command& c) { return redis.command(c); });
  cluster_connect();
  for (const auto& address : cluster->masters()) walk([&](const Command& c) { return cluster->on_node(address, c); });
}

}  // namespace fstore::sync
