// The pure parts of the Redis Cluster client: slots (CRC16, hash tags), redirects, the slot map,
// the RESP splitter and redis+cluster:// URLs.
#include "redis/cluster_slots.hpp"
#include "redis/redis_pipeline.hpp"
#include "redis/redis_url.hpp"

#include <gtest/gtest.h>

using namespace fstore::server;

TEST(RedisClusterSlots, KeySlotMatchesRedis) {
  // Values from CLUSTER KEYSLOT of Redis 7.
  EXPECT_EQ(crc16("123456789"), 0x31C3);
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));  // empty tag: the whole key
  EXPECT_NE(key_slot("foo{}{bar}"), key_slot("bar"));
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
}

TEST(RedisClusterSlots, EverySlotHasATag) {
  for (int s = 0; s < kClusterSlots; s += 97) {
    EXPECT_EQ(key_slot(slot_marker_key(s)), s);
  }
  EXPECT_EQ(key_slot(slot_marker_key(kClusterSlots - 1)), kClusterSlots - 1);
}

TEST(RedisClusterSlots, Redirects) {
  auto m = parse_redirect("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->ask);
  EXPECT_EQ(m->slot, 3999);
  EXPECT_EQ(m->address(), "127.0.0.1:6381");
  auto a = parse_redirect("ASK 12 ::1:7000");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ask);
  EXPECT_EQ(a->host, "::1");
  EXPECT_FALSE(parse_redirect("ERR wrong type"));
  EXPECT_FALSE(parse_redirect("MOVED x 1.2.3.4:5"));
  EXPECT_FALSE(parse_redirect("MOVED 99999 1.2.3.4:5"));
}

TEST(RedisClusterSlots, SlotMapFromClusterSlots) {
  using T = RedisValue::Type;
  auto integer = [](long long v) { RedisValue r; r.type = T::integer; r.integer = v; return r; };
  auto str = [](std::string s) { RedisValue r; r.type = T::string; r.str = std::move(s); return r; };
  auto arr = [](std::vector<RedisValue> e) { RedisValue r; r.type = T::array; r.elements = std::move(e); return r; };
  RedisValue reply = arr({arr({integer(0), integer(8191), arr({str(""), integer(7000), str("a")}),
                               arr({str("127.0.0.1"), integer(7003), str("ra")})}),
                          arr({integer(8192), integer(16383), arr({str("127.0.0.1"), integer(7001), str("b")})})});
  auto map = parse_cluster_slots(reply, "127.0.0.1");
  ASSERT_TRUE(map);
  EXPECT_TRUE(map->complete());
  EXPECT_EQ(map->node_of(0)->address(), "127.0.0.1:7000");
  EXPECT_EQ(map->node_of(0)->replica_ids, std::vector<std::string>{"ra"});
  EXPECT_EQ(map->node_of(16383)->id, "b");
  reply.elements.pop_back();
  EXPECT_FALSE(parse_cluster_slots(reply, "h")->complete());
  EXPECT_FALSE(parse_cluster_slots(str("x"), "h"));
}

TEST(RedisClusterSlots, SplitCommands) {
  std::string resp;
  append_command(resp, {"HMGET", "fstore:v1:a:1", "x"});
  append_command(resp, {"PING"});
  append_command(resp, {"GET", std::string("k\r\n2", 4)});
  std::vector<RespCommand> cmds;
  ASSERT_TRUE(split_commands(resp, cmds));
  ASSERT_EQ(cmds.size(), 3u);
  EXPECT_EQ(cmds[0].key, "fstore:v1:a:1");
  EXPECT_EQ(cmds[1].key, "");
  EXPECT_EQ(cmds[2].key, std::string("k\r\n2", 4));
  EXPECT_EQ(cmds[0].size + cmds[1].size + cmds[2].size, resp.size());
  cmds.clear();
  EXPECT_FALSE(split_commands("*2\r\n$3\r\nGET\r\n", cmds));
}

TEST(RedisClusterSlots, ClusterUrls) {
  RedisEndpoint ep;
  ASSERT_TRUE(parse_redis_url("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2,[::1]:7002", ep));
  EXPECT_TRUE(ep.cluster);
  ASSERT_EQ(ep.seeds.size(), 3u);
  EXPECT_EQ(ep.seeds[1], std::make_pair(std::string("10.0.0.2"), 6379));
  EXPECT_EQ(ep.seeds[2], std::make_pair(std::string("::1"), 7002));
  EXPECT_EQ(ep.password, "pw");
  EXPECT_EQ(ep.host, "10.0.0.1");
  EXPECT_FALSE(parse_redis_url("redis+cluster://h:1/2", ep));
  EXPECT_FALSE(parse_redis_url("redis+cluster://h:1,,h:2", ep));
  EXPECT_FALSE(parse_redis_url("redis://a:1,b:2", ep));
}
