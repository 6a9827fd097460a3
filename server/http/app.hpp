// Everything a request handler may use: options, metrics, the Redis read path, the PostgreSQL
// pool, the registry, tokens and the sync worker's status. One per process.
#pragma once

#include "config.hpp"
#include "metrics.hpp"
#include "monitor/monitor_runner.hpp"
#include "online/answer_counters.hpp"
#include "pg/pg_pool.hpp"
#include "redis/redis_pipeline.hpp"
#include "registry/registry_watcher.hpp"
#include "stream/stream_manager.hpp"
#include "sync/sync_worker.hpp"
#include "token_auth.hpp"
#include "transform/fitted_service.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fstore::server {

class UiFiles;

struct App {
  Config config;
  Metrics metrics;
  std::unique_ptr<RedisClient> redis;
  std::unique_ptr<PgPool> pg;
  std::unique_ptr<RegistryWatcher> registry;
  std::unique_ptr<TokenAuth> auth;
  std::unique_ptr<sync::SyncWorker> sync;  // null with --no-sync
  std::unique_ptr<MonitorRunner> monitors;  // null with --no-sync
  std::unique_ptr<stream::StreamManager> streams;  // null with --no-streams (0.2.0)
  online::FittedServiceCache transforms;   // fitted transformation states, per registry snapshot
  AnswerCounters answers;                  // serving quality per feature and status (/metrics)
  std::shared_ptr<const UiFiles> ui;       // the web UI's built files, GET /ui/ (0.2.0)
  std::atomic<bool> draining{false};
};

// A request as handlers see it (moved out of Beast's parser).
struct HttpRequest {
  std::string method;
  std::string target;
  std::string authorization;
  std::string body;
  bool authenticated = false;  // the token was checked when the headers arrived
  Role role = Role::none;
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

// What the header-time check decided: go on (refusal empty; role of the token), or send the
// refusal (401, 503) and close, without reading the body.
using Authorized = std::function<void(std::optional<HttpReply> refusal, Role role)>;

// Checks the token of a request whose headers have arrived, before any of its body is read:
// every route but /health, /ready and /metrics (unless --no-auth). Unknown paths and methods go
// on (handle_request answers them). `done` runs once, maybe on a PostgreSQL worker thread.
void authorize_request(App& app, std::string_view method, std::string_view target,
                       std::string_view authorization, Authorized done);

// Routes one request whose token authorize_request accepted: role checks, then the handler.
// Never throws.
void handle_request(App& app, std::shared_ptr<HttpRequest> request, Respond respond);

// Why a request's framing is refused (RFC 9112 6.3), or nullopt: a Transfer-Encoding other than
// exactly one "chunked" (gzip, identity, "chunked, chunked", xchunked, repeated fields), or both
// Transfer-Encoding and Content-Length. Such a request is answered 400 and the connection
// closed, so its body can never be read as a next request.
std::optional<std::string> framing_error(const std::vector<std::string_view>& transfer_encodings,
                                         bool has_content_length);

// The body limit for a request to `target` (POST /ingest gets the larger one).
size_t body_limit_for(const Config& config, std::string_view target);

// A reply whose body is the JSON text `body`.
HttpReply json_reply(unsigned status, std::string body, Route route);

// An error reply {"error": {"code", "message"}}.
HttpReply error_reply(unsigned status, const std::string& code, const std::string& message, Route route = Route::other);

}  // namespace fstore::server
