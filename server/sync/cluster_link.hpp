// The sync worker's blocking connection to a Redis Cluster, built on RedisLink's public API: one
// RedisLink per master, the slot map from CLUSTER SLOTS (server/redis/cluster_slots.hpp: CRC16,
// hash tags), commands grouped by the master of their slot and pipelined per master, MOVED and ASK
// followed, the map read again after a redirect or a lost node. It also remembers the slots whose
// master became one of the old master's replicas (a failover, which may have lost acknowledged
// writes), for the sync to rebuild exactly those slots. See docs/architecture.md "Redis Cluster".
#pragma once

#include "redis/cluster_slots.hpp"
#include "redis/redis_url.hpp"
#include "sync/redis_link.hpp"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace fstore::sync {

// A command for the key slot `slot`.
struct SlotCommand {
  int slot = 0;
  Command cmd;
};

class ClusterLink {
 public:
  explicit ClusterLink(const server::RedisEndpoint& endpoint);

  // Reads the slot map unless it has one (every slot must have a master). Throws RedisError.
  void ensure_connected();
  bool connected() const { return have_map_; }
  // Closes every node's link; the next ensure_connected() reads the map again.
  void close();

  // Runs each command on its slot's master, pipelined per master; follows MOVED (after reading the
  // map again) and ASK, and waits out TRYAGAIN/CLUSTERDOWN, a few times. Returns the replies in
  // the order of `cmds`; error replies other than redirects are returned. Throws RedisError when a
  // node cannot be reached or redirects do not settle.
  std::vector<Reply> run(const std::vector<SlotCommand>& cmds);

  // Runs one command on every master (SCAN, SCRIPT LOAD ...): one reply per master.
  struct NodeReply {
    std::string address;
    Reply reply;
  };
  std::vector<NodeReply> on_every_master(const Command& cmd);
  // One command on the master at `address` (a cursor walk of SCAN on that node).
  Reply on_node(const std::string& address, const Command& cmd);
  // The masters' addresses in the current map.
  std::vector<std::string> masters() const;

  // Slots whose master changed to a replica of the previous one since the last call (failovers).
  std::set<int> take_failed_over_slots();

  // Reads CLUSTER SLOTS from a known node or a seed. Throws RedisError when none answers.
  void refresh();

 private:
  RedisLink& link(const std::string& address);
  RedisLink::Endpoint endpoint_for(const std::string& host, int port) const;

  server::RedisEndpoint endpoint_;
  server::SlotMap map_;
  bool have_map_ = false;
  std::map<std::string, std::unique_ptr<RedisLink>> links_;  // by "host:port"
  std::set<int> failed_over_;
};

// The hiredis reply as the server's RedisValue (for parse_cluster_slots).
server::RedisValue to_value(const redisReply* r);

}  // namespace fstore::sync
