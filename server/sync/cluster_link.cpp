#include "sync/cluster_link.hpp"

#include "redis/redis_pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

namespace fstore::sync {

namespace {
constexpr int kMaxAttempts = 6;  // redirects and waits per run() before it gives up

// "host:port" split at the last colon.
std::pair<std::string, int> split_address(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) throw RedisError("redis cluster: bad node address " + address);
  return {address.substr(0, colon), std::stoi(address.substr(colon + 1))};
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
}  // namespace

server::RedisValue to_value(const redisReply* r) {
  using T = server::RedisValue::Type;
  server::RedisValue v;
  if (!r) return v;
  switch (r->type) {
    case REDIS_REPLY_STRING: v.type = T::string; v.str.assign(r->str, r->len); break;
    case REDIS_REPLY_STATUS: v.type = T::status; v.str.assign(r->str, r->len); break;
    case REDIS_REPLY_ERROR: v.type = T::error; v.str.assign(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: v.type = T::integer; v.integer = r->integer; break;
    case REDIS_REPLY_ARRAY:
      v.type = T::array;
      for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(to_value(r->element[i]));
      break;
    default: break;
  }
  return v;
}

ClusterLink::ClusterLink(const server::RedisEndpoint& endpoint) : endpoint_(endpoint) {
  if (endpoint_.seeds.empty()) endpoint_.seeds.emplace_back(endpoint_.host, endpoint_.port);
}

RedisLink::Endpoint ClusterLink::endpoint_for(const std::string& host, int port) const {
  RedisLink::Endpoint ep;
  ep.host = host;
  ep.port = port;
  ep.user = endpoint_.user;
  ep.password = endpoint_.password;
  ep.tls = endpoint_.tls;  // rediss+cluster://: every node over TLS with the same certificates
  ep.tls_ca = endpoint_.tls_ca;
  ep.tls_cert = endpoint_.tls_cert;
  ep.tls_key = endpoint_.tls_key;
  return ep;  // a cluster has only database 0
}

RedisLink& ClusterLink::link(const std::string& address) {
  auto& l = links_[address];
  if (!l) {
    auto [host, port] = split_address(address);
    l = std::make_unique<RedisLink>(endpoint_for(host, port));
  }
  return *l;
}

void ClusterLink::ensure_connected() {
  if (!have_map_) refresh();
}

void ClusterLink::close() {
  for (auto& [addr, l] : links_) l->close();
  have_map_ = false;  // the old map stays, to tell a failover from the next one
}

void ClusterLink::refresh() {
  std::vector<std::string> candidates = masters();
  for (const auto& [host, port] : endpoint_.seeds) candidates.push_back(host + ":" + std::to_string(port));
  std::string last_error = "no node to ask";
  for (const auto& address : candidates) {
    try {
      auto [host, port] = split_address(address);
      Reply r = link(address).command({"CLUSTER", "SLOTS"});
      std::string error;
      auto parsed = server::parse_cluster_slots(to_value(r.get()), host, &error);
      if (!parsed) { last_error = address + ": " + error; continue; }
      if (!parsed->complete()) { last_error = address + ": some slots have no master"; continue; }
      if (have_map_ || !map_.nodes.empty()) {
        for (int s = 0; s < server::kClusterSlots; ++s) {
          const server::ClusterNode* before = map_.node_of(s);
          const server::ClusterNode* now = parsed->node_of(s);
          if (!before || !now || before->id == now->id) continue;
          if (std::find(before->replica_ids.begin(), before->replica_ids.end(), now->id) != before->replica_ids.end())
            failed_over_.insert(s);
        }
      }
      map_ = std::move(*parsed);
      have_map_ = true;
      return;
    } catch (const RedisError& e) {
      last_error = address + ": " + e.what();
    }
  }
  throw RedisError("redis cluster: cannot read the slot map (" + last_error + ")");
}

std::vector<std::string> ClusterLink::masters() const {
  std::vector<std::string> out;
  for (const auto& n : map_.nodes) out.push_back(n.address());
  return out;
}

std::set<int> ClusterLink::take_failed_over_slots() {
  std::set<int> out;
  out.swap(failed_over_);
  return out;
}

std::vector<Reply> ClusterLink::run(const std::vector<SlotCommand>& cmds) {
  struct Todo {
    size_t index;
    std::string ask;  // the node an ASK sent this command to, "" for the slot's master
  };
  std::vector<Reply> out(cmds.size());
  std::vector<Todo> todo;
  todo.reserve(cmds.size());
  for (size_t i = 0; i < cmds.size(); ++i) todo.push_back({i, ""});
  std::string why;
  for (int attempt = 0; !todo.empty(); ++attempt) {
    if (attempt == kMaxAttempts) throw RedisError("redis cluster: commands did not settle (" + why + ")");
    ensure_connected();
    std::map<std::string, std::vector<Todo>> by_node;
    for (auto& t : todo) {
      const server::ClusterNode* n = map_.node_of(cmds[t.index].slot);
      by_node[t.ask.empty() ? n->address() : t.ask].push_back(std::move(t));
    }
    std::vector<Todo> again;
    bool need_refresh = false, wait = false;
    for (auto& [address, group] : by_node) {
      std::vector<Command> batch;
      batch.reserve(group.size());
      for (const auto& t : group) {
        if (!t.ask.empty()) batch.push_back({"ASKING"});
        batch.push_back(cmds[t.index].cmd);
      }
      std::vector<Reply> replies;
      try {
        replies = link(address).pipeline(batch);
      } catch (const RedisError& e) {  // the node is gone (or going): read the map, try again
        why = e.what();
        need_refresh = wait = true;
        for (auto& t : group) again.push_back({t.index, ""});
        continue;
      }
      size_t r = 0;
      for (auto& t : group) {
        if (!t.ask.empty()) ++r;  // the ASKING reply
        Reply& reply = replies[r++];
        if (reply->type == REDIS_REPLY_ERROR) {
          const std::string text = reply_text(reply.get());
          if (auto redirect = server::parse_redirect(text)) {
            why = text;
            if (redirect->ask) {
              again.push_back({t.index, redirect->address()});
            } else {
              need_refresh = true;
              again.push_back({t.index, ""});
            }
            continue;
          }
          if (starts_with(text, "TRYAGAIN") || starts_with(text, "CLUSTERDOWN")) {
            why = text;
            wait = true;
            again.push_back({t.index, ""});
            continue;
          }
        }
        out[t.index] = std::move(reply);
      }
    }
    if (wait) std::this_thread::sleep_for(std::chrono::milliseconds(100 * (attempt + 1)));
    if (need_refresh) {
      try {
        refresh();
      } catch (const RedisError& e) {
        why = e.what();
      }
    }
    todo = std::move(again);
  }
  return out;
}

std::vector<ClusterLink::NodeReply> ClusterLink::on_every_master(const Command& cmd) {
  ensure_connected();
  std::vector<NodeReply> out;
  for (const auto& address : masters()) out.push_back({address, link(address).command(cmd, true)});
  return out;
}

Reply ClusterLink::on_node(const std::string& address, const Command& cmd) {
  return link(address).command(cmd, true);
}

}  // namespace fstore::sync
