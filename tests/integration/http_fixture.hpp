// Shared set-up of the HTTP integration suites: one PostgreSQL cluster, one Redis and one
// fstore-server per suite, a small registry, and Redis hashes written in the sync worker's layout.
#pragma once

#include "support/http_client.hpp"
#include "support/stack.hpp"

#include <hiredis/hiredis.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace fstore::testing {

inline int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Runs one Redis command (explicit lengths) against 127.0.0.1:port; throws on failure.
inline void redis_command(int port, const std::vector<std::string>& args) {
  redisContext* c = redisConnect("127.0.0.1", port);
  if (!c || c->err) throw std::runtime_error("cannot connect to Redis");
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) { argv.push_back(a.data()); lens.push_back(a.size()); }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
  bool ok = r && r->type != REDIS_REPLY_ERROR;
  if (r) freeReplyObject(r);
  redisFree(c);
  if (!ok) throw std::runtime_error("Redis command failed");
}

// Writes one entity's hash as the sync worker does: @event_ts, @created_ts, feature -> JSON text.
inline void put_entity(int redis_port, const std::string& view, const std::string& key, int64_t event_us,
                       const std::vector<std::pair<std::string, std::string>>& features) {
  std::vector<std::string> args = {"HSET", "fstore:v1:" + view + ":" + key, "@event_ts", std::to_string(event_us),
                                   "@created_ts", std::to_string(event_us)};
  for (const auto& [k, v] : features) { args.push_back(k); args.push_back(v); }
  redis_command(redis_port, args);
}

// The standard registry of the HTTP suites:
//   driver (bigint) / driver_stats: conv_rate float8, trips int8, city text, rating numeric,
//     active_flag boolean (ttl 1 day); plus draft_f (draft), old_f (archived), legacy_f (deprecated)
//   user (uuid) / user_stats: score int4 (no ttl); offline_stats (online => false)
//   service model_a = driver_stats:conv_rate, driver_stats:city
inline void create_registry(const PgCluster& pg) {
  pg.exec(R"SQL(
    SELECT fstore.create_entity('driver', 'driver_id', 'bigint');
    SELECT fstore.create_entity('user', 'user_id', 'uuid');
    SELECT fstore.create_feature_view('driver_stats', 'driver', '[
      {"name": "conv_rate", "type": "float8", "validation": {"min": 0, "max": 1}},
      {"name": "trips", "type": "int8"},
      {"name": "city", "type": "text"},
      {"name": "rating", "type": "numeric"},
      {"name": "active_flag", "type": "boolean"},
      {"name": "draft_f", "type": "int4", "status": "draft"},
      {"name": "old_f", "type": "int4"},
      {"name": "legacy_f", "type": "int4"}]', ttl => '1 day');
    SELECT fstore.set_feature_status('driver_stats:old_f', 'archived');
    SELECT fstore.set_feature_status('driver_stats:legacy_f', 'deprecated');
    SELECT fstore.create_feature_view('user_stats', 'user', '[{"name": "score", "type": "int4"}]');
    SELECT fstore.create_feature_view('offline_stats', 'driver', '[{"name": "x", "type": "int4"}]', online => false);
    SELECT fstore.create_feature_service('model_a', ARRAY['driver_stats:conv_rate', 'driver_stats:city']);
  )SQL");
}

// Polls `pred` every 50 ms until it holds or `timeout` passes.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

// Starts fstore-server on a free port (args built for that port), retrying on another port when
// the chosen one was taken meanwhile (other test runs share the machine). Sets `port`.
inline std::unique_ptr<ServerProcess> start_server(const std::function<std::vector<std::string>(int)>& make_args, int& port) {
  std::string logs;
  for (int attempt = 0; attempt < 4; ++attempt) {
    port = free_port();
    auto s = std::make_unique<ServerProcess>(make_args(port), port);
    if (s->wait_healthy()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (s->running() && HttpClient(port).get("/health").body == "{\"status\":\"ok\"}") return s;
    }
    logs += s->log();
  }
  ADD_FAILURE() << "fstore-server did not start:\n" << logs;
  return nullptr;
}

inline nlohmann::json body_json(const HttpResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) ADD_FAILURE() << "body is not JSON: " << r.body.substr(0, 500);
  return j;
}

}  // namespace fstore::testing
