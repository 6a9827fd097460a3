// Everything a request handler may use: options, metrics, the Redis read path, the PostgreSQL
// pool, the registry, tokens and the sync worker's status. One per process.
#pragma once

#include "config.hpp"
#include "metrics.hpp"
#include "pg/pg_pool.hpp"
#include "redis/redis_pipeline.hpp"
#include "registry/registry_watcher.hpp"
#include "sync/sync_worker.hpp"
#include "token_auth.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace fstore::server {

struct App {
  Config config;
  Metrics metrics;
  std::unique_ptr<RedisClient> redis;
  std::unique_ptr<PgPool> pg;
  std::unique_ptr<RegistryWatcher> registry;
  std::unique_ptr<TokenAuth> auth;
  std::unique_ptr<sync::SyncWorker> sync;  // null with --no-sync
  std::atomic<bool> draining{false};
};

// A request as handlers see it (moved out of Beast's parser).
struct HttpRequest {
  std::string method;
  std::string target;
  std::string authorization;
  std::string body;
};

// A response as handlers produce it; the session turns it into HTTP.
struct HttpReply {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  Route route = Route::other;
};

// Called exactly once per request, from any thread.
using Respond = std::function<void(HttpReply)>;

// Routes one request: authentication, then the handler. Never throws.
void handle_request(App& app, std::shared_ptr<HttpRequest> request, Respond respond);

// The body limit for a request to `target` (POST /ingest gets the larger one).
size_t body_limit_for(const Config& config, std::string_view target);

// An error reply {"error": {"code", "message"}}.
HttpReply error_reply(unsigned status, const std::string& code, const std::string& message, Route route = Route::other);

}  // namespace fstore::server
