// Redis Cluster basics shared by the read path (redis/redis_cluster.hpp) and the sync worker
// (sync/cluster_link.hpp): the key -> slot function (CRC16 with hash tags), the slot map read from
// CLUSTER SLOTS, MOVED/ASK redirect errors, and the per-slot marker keys of the sync.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fstore::server {

struct RedisValue;

inline constexpr int kClusterSlots = 16384;

// CRC16-XMODEM of `data` (Redis Cluster's key hash).
uint16_t crc16(std::string_view data);

// The slot of a key: CRC16 of the hash tag (the text between the first '{' and the next '}',
// when not empty) or of the whole key, mod 16384.
int key_slot(std::string_view key);

// A short string whose slot is `slot` (precomputed once): "{<tag>}" in a key puts it there.
const std::string& slot_tag(int slot);

// One master of the cluster and the ids of its replicas.
struct ClusterNode {
  std::string host;
  int port = 0;
  std::string id;
  std::vector<std::string> replica_ids;
  std::string address() const { return host + ":" + std::to_string(port); }
};

// Which master serves each slot (an index into `nodes`, -1 when nobody does).
struct SlotMap {
  std::vector<ClusterNode> nodes;
  std::vector<int> owner = std::vector<int>(kClusterSlots, -1);
  const ClusterNode* node_of(int slot) const {
    int i = owner[static_cast<size_t>(slot)];
    return i < 0 ? nullptr : &nodes[static_cast<size_t>(i)];
  }
  bool complete() const;  // every slot has a master
};

// Parses the reply of CLUSTER SLOTS; an empty host in it (the node's own) becomes `default_host`.
// Returns nullopt and sets `error` when the reply has another shape.
std::optional<SlotMap> parse_cluster_slots(const RedisValue& reply, const std::string& default_host,
                                           std::string* error = nullptr);

// A MOVED or ASK error reply: "MOVED 3999 127.0.0.1:6381".
struct Redirect {
  bool ask = false;
  int slot = 0;
  std::string host;
  int port = 0;
  std::string address() const { return host + ":" + std::to_string(port); }
};
std::optional<Redirect> parse_redirect(std::string_view error);

// The key of the sync's marker for `slot` (docs/architecture.md: "Redis Cluster").
std::string slot_marker_key(int slot);

// Splits RESP commands (as append_command writes them) into the byte length of each command and
// its first argument (the key); returns false on anything malformed.
struct RespCommand {
  size_t begin = 0, size = 0;
  std::string_view key;  // empty for commands without arguments
};
bool split_commands(std::string_view resp, std::vector<RespCommand>& out);

}  // namespace fstore::server
