#include "redis/cluster_slots.hpp"

#include "redis/redis_pipeline.hpp"

#include <charconv>
#include <mutex>

namespace fstore::server {

uint16_t crc16(std::string_view data) {
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc ^= static_cast<uint16_t>(c << 8);
    for (int i = 0; i < 8; ++i) crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021) : static_cast<uint16_t>(crc << 1);
  }
  return crc;
}

int key_slot(std::string_view key) {
  if (auto open = key.find('{'); open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return crc16(key) & (kClusterSlots - 1);
}

const std::string& slot_tag(int slot) {
  // Decimal numbers cover every slot well before 1,000,000 (about 160,000 tries are needed).
  static const std::vector<std::string> tags = [] {
    std::vector<std::string> t(kClusterSlots);
    size_t found = 0;
    for (long n = 0; found < t.size(); ++n) {
      std::string s = std::to_string(n);
      auto& slot_of = t[static_cast<size_t>(crc16(s) & (kClusterSlots - 1))];
      if (slot_of.empty()) { slot_of = s; ++found; }
    }
    return t;
  }();
  return tags[static_cast<size_t>(slot)];
}

bool SlotMap::complete() const {
  for (int o : owner) if (o < 0) return false;
  return true;
}

std::optional<SlotMap> parse_cluster_slots(const RedisValue& reply, const std::string& default_host,
                                           std::string* error) {
  using T = RedisValue::Type;
  auto bad = [error](const std::string& why) -> std::optional<SlotMap> {
    if (error) *error = "CLUSTER SLOTS: " + why;
    return std::nullopt;
  };
  if (reply.type == T::error) return bad(reply.str);
  if (reply.type != T::array) return bad("not an array");
  SlotMap map;
  for (const auto& range : reply.elements) {
    if (range.type != T::array || range.elements.size() < 3 || range.elements[0].type != T::integer ||
        range.elements[1].type != T::integer)
      return bad("malformed slot range");
    long long lo = range.elements[0].integer, hi = range.elements[1].integer;
    if (lo < 0 || hi >= kClusterSlots || lo > hi) return bad("slot out of range");
    auto node_info = [&](const RedisValue& n, ClusterNode& out) {
      if (n.type != T::array || n.elements.size() < 2 || n.elements[1].type != T::integer) return false;
      out.host = n.elements[0].str.empty() || n.elements[0].str == "?" ? default_host : n.elements[0].str;
      out.port = static_cast<int>(n.elements[1].integer);
      if (n.elements.size() > 2) out.id = n.elements[2].str;
      return true;
    };
    ClusterNode master;
    if (!node_info(range.elements[2], master)) return bad("malformed node");
    for (size_t i = 3; i < range.elements.size(); ++i) {
      ClusterNode replica;
      if (node_info(range.elements[i], replica)) master.replica_ids.push_back(replica.id);
    }
    int index = -1;
    for (size_t i = 0; i < map.nodes.size(); ++i)
      if (map.nodes[i].address() == master.address()) index = static_cast<int>(i);
    if (index < 0) {
      map.nodes.push_back(master);
      index = static_cast<int>(map.nodes.size() - 1);
    }
    for (long long s = lo; s <= hi; ++s) map.owner[static_cast<size_t>(s)] = index;
  }
  return map;
}

std::optional<Redirect> parse_redirect(std::string_view error) {
  Redirect r;
  if (error.substr(0, 6) == "MOVED ") error.remove_prefix(6);
  else if (error.substr(0, 4) == "ASK ") { r.ask = true; error.remove_prefix(4); }
  else return std::nullopt;
  auto space = error.find(' ');
  auto colon = error.rfind(':');
  if (space == std::string_view::npos || colon == std::string_view::npos || colon < space) return std::nullopt;
  auto slot = error.substr(0, space);
  auto port = error.substr(colon + 1);
  if (std::from_chars(slot.data(), slot.data() + slot.size(), r.slot).ec != std::errc() ||
      std::from_chars(port.data(), port.data() + port.size(), r.port).ec != std::errc())
    return std::nullopt;
  r.host = std::string(error.substr(space + 1, colon - space - 1));
  if (r.slot < 0 || r.slot >= kClusterSlots || r.host.empty()) return std::nullopt;
  return r;
}

std::string slot_marker_key(int slot) { return "fstore:v1:@marker:{" + slot_tag(slot) + "}"; }

bool split_commands(std::string_view resp, std::vector<RespCommand>& out) {
  size_t pos = 0;
  // Reads "<tag><number>\r\n" at pos.
  auto number = [&](char tag, size_t& n) {
    if (pos >= resp.size() || resp[pos] != tag) return false;
    auto end = resp.find("\r\n", pos);
    if (end == std::string_view::npos) return false;
    if (std::from_chars(resp.data() + pos + 1, resp.data() + end, n).ec != std::errc()) return false;
    pos = end + 2;
    return true;
  };
  while (pos < resp.size()) {
    RespCommand c;
    c.begin = pos;
    size_t argc = 0;
    if (!number('*', argc)) return false;
    for (size_t i = 0; i < argc; ++i) {
      size_t len = 0;
      if (!number('$', len) || pos + len + 2 > resp.size()) return false;
      if (i == 1) c.key = resp.substr(pos, len);
      pos += len + 2;
    }
    c.size = pos - c.begin;
    out.push_back(c);
  }
  return true;
}

}  // namespace fstore::server
