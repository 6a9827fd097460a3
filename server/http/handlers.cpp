// The handlers of every route, as plain functions of (app, request, respond).
#include "http/app.hpp"
#include "http/catalog_handlers.hpp"
#include "http/route_match.hpp"
#include "http/ingest_errors.hpp"
#include "http/registry_handlers.hpp"
#include "http/ui_files.hpp"
#include "log.hpp"
#include "names.hpp"
#include "online/json_limit.hpp"
#include "online/json_text.hpp"
#include "online/online_query.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>

namespace fstore::server {

using json = nlohmann::json;

namespace {

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Adds a Warning header (RFC 7234 code 299) per warning.
void add_warnings(HttpReply& r, const std::vector<std::string>& warnings) {
  for (const auto& w : warnings) r.headers.emplace_back("Warning", "299 fstore \"" + w + "\"");
}

// GET /health: the process runs.
void health(App&, const RouteMatch&, Respond respond) {
  respond(json_reply(200, "{\"status\":\"ok\"}", Route::health));
}

// GET /ready: PostgreSQL and Redis reachable and (unless --no-sync) the online store caught up.
void ready(App& app, const RouteMatch&, Respond respond) {
  std::vector<std::string> reasons;
  if (!app.registry->connected()) {
    std::string e = app.registry->last_error();
    reasons.push_back("PostgreSQL is not reachable" + (e.empty() ? std::string() : ": " + e));
  } else if (!app.registry->loaded()) {
    reasons.push_back("registry not loaded yet");
  }
  if (!app.redis->connected()) {
    std::string e = app.redis->last_error();
    reasons.push_back("Redis is not reachable" + (e.empty() ? std::string() : ": " + e));
  }
  json sync = nullptr;
  if (app.sync) {
    auto s = app.sync->status();
    // A view that cannot be synced is skipped by the worker and listed here; the others are
    // served fresh, so it does not make the whole server unready (docs/sync.md).
    json broken = json::array();
    for (const auto& [view, reason] : s.broken_views) broken.push_back({{"view", view}, {"reason", reason}});
    sync = {{"leader", s.leader}, {"caught_up", s.caught_up}, {"queue_depth", s.queue_depth},
            {"lag_seconds", s.lag_seconds}, {"last_error", s.last_error}, {"broken_views", std::move(broken)}};
    if (!s.caught_up)
      reasons.push_back("the online store is not caught up (sync queue depth " + std::to_string(s.queue_depth) +
                        (s.last_error.empty() ? "" : ", " + s.last_error) + ")");
  }
  if (app.draining) reasons.push_back("shutting down");
  // Stream sources are listed with their state; one that retries does not make serving unready.
  json streams = nullptr;
  if (app.streams) {
    streams = json::array();
    for (const auto& s : app.streams->status()) {
      int64_t lag = 0;
      json partitions = json::array();
      for (const auto& p : s.partitions) {
        lag += p.lag();
        partitions.push_back(p.partition);
      }
      streams.push_back({{"name", s.name}, {"state", s.state}, {"last_error", s.last_error},
                         {"partitions", std::move(partitions)}, {"lag", lag}});
    }
  }
  if (reasons.empty()) {
    respond(json_reply(200, dump({{"status", "ready"}, {"sync", sync}, {"streams", streams}}), Route::ready));
    return;
  }
  std::string message;
  for (const auto& r : reasons) message += (message.empty() ? "" : "; ") + r;
  json body = {{"error", {{"code", "not_ready"}, {"message", message}, {"reasons", reasons}}}, {"streams", streams}};
  respond(json_reply(503, dump(body), Route::ready));
}

// GET /metrics: Prometheus text, with the sync worker's status and connection gauges.
void metrics(App& app, const RouteMatch&, Respond respond) {
  std::vector<Metrics::Sample> extra = {
      {"fstore_pg_connected", "The registry's PostgreSQL connection is up.", "gauge", app.registry->connected() ? 1.0 : 0.0},
      {"fstore_redis_connected", "At least one read-path Redis connection is up.", "gauge", app.redis->connected() ? 1.0 : 0.0},
      {"fstore_registry_views", "Feature views in the registry snapshot.", "gauge",
       static_cast<double>(app.registry->current()->views().size())},
      {"fstore_registry_notifications_total", "NOTIFY fstore_registry received (reloads only follow version changes).",
       "counter", static_cast<double>(app.registry->notifications())},
      {"fstore_registry_version_checks_total", "Registry version checks (at most one per debounce period).", "counter",
       static_cast<double>(app.registry->version_checks())},
      {"fstore_pg_reconnects_total", "Pooled PostgreSQL connections found broken and replaced.", "counter",
       static_cast<double>(app.pg->reconnects())},
      {"fstore_token_cache_entries", "Token answers cached (by SHA-256), known and unknown.", "gauge",
       static_cast<double>(app.auth ? app.auth->cached() : 0)},
  };
  if (app.sync) {
    auto s = app.sync->status();
    extra.insert(extra.end(), {
        {"fstore_sync_leader", "This server holds the sync lock.", "gauge", s.leader ? 1.0 : 0.0},
        {"fstore_sync_pg_connected", "The sync worker's PostgreSQL connection is up.", "gauge", s.pg_connected ? 1.0 : 0.0},
        {"fstore_sync_redis_connected", "The sync worker's Redis connection is up.", "gauge", s.redis_connected ? 1.0 : 0.0},
        {"fstore_sync_caught_up", "The online store is caught up.", "gauge", s.caught_up ? 1.0 : 0.0},
        {"fstore_sync_queue_depth", "Changes waiting for Redis.", "gauge", static_cast<double>(s.queue_depth)},
        {"fstore_sync_lag_seconds", "Age of the oldest change waiting for Redis.", "gauge", s.lag_seconds},
        {"fstore_sync_broken_views", "Online views the sync worker cannot sync and skips (see /ready).", "gauge",
         static_cast<double>(s.broken_views.size())},
        {"fstore_sync_batches_applied_total", "Sync batches written to Redis.", "counter", static_cast<double>(s.batches_applied)},
        {"fstore_sync_keys_written_total", "Redis keys written by the sync worker.", "counter", static_cast<double>(s.keys_written)},
        {"fstore_sync_rebuilds_total", "Full rebuilds of Redis from PostgreSQL.", "counter", static_cast<double>(s.rebuilds)},
        {"fstore_sync_pg_errors_total", "PostgreSQL errors of the sync worker.", "counter", static_cast<double>(s.pg_errors)},
        {"fstore_sync_redis_errors_total", "Redis errors of the sync worker.", "counter", static_cast<double>(s.redis_errors)},
    });
  }
  std::string text = app.metrics.render(extra) + app.answers.render();
  if (app.monitors) text += app.monitors->prometheus_text();
  if (app.streams) text += app.streams->metrics_text();
  HttpReply r = json_reply(200, std::move(text), Route::metrics);
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  respond(std::move(r));
}

// A view's metadata with its features' metadata.
json view_json(const FeatureView& v) {
  json j = v.metadata;
  json features = json::array();
  for (const auto& f : v.features) features.push_back(f.metadata);
  j["features"] = std::move(features);
  return j;
}

// GET /groups: every feature view with its features.
void groups(App& app, const RouteMatch&, Respond respond) {
  auto reg = app.registry->current();
  json out = json::array();
  for (const auto& [name, v] : reg->views()) out.push_back(view_json(v));
  json services = json::array();
  for (const auto& [name, s] : reg->services()) services.push_back(s.metadata);
  respond(json_reply(200, dump({{"groups", out}, {"feature_services", services}}), Route::groups));
}

// GET /features: every feature with its metadata.
void features(App& app, const RouteMatch&, Respond respond) {
  auto reg = app.registry->current();
  json out = json::array();
  for (const auto& [name, v] : reg->views())
    for (const auto& f : v.features) out.push_back(f.metadata);
  respond(json_reply(200, dump({{"features", out}}), Route::features));
}

// GET /features/{view}/{feature}/metadata
void feature_metadata(App& app, const RouteMatch& m, Respond respond) {
  auto reg = app.registry->current();
  const FeatureView* v = fstore::is_valid_name(m.params[0]) ? reg->view(m.params[0]) : nullptr;
  if (!v) return respond(error_reply(404, "not_found", "feature view '" + m.params[0].substr(0, 200) + "' does not exist", Route::feature_metadata));
  const Feature* f = fstore::is_valid_name(m.params[1]) ? v->find(m.params[1]) : nullptr;
  if (!f) return respond(error_reply(404, "not_found", "feature '" + v->name + ":" + m.params[1].substr(0, 200) + "' does not exist", Route::feature_metadata));
  json j = f->metadata;
  j["view_ttl_seconds"] = v->ttl_seconds ? json(*v->ttl_seconds) : json(nullptr);
  j["join_key"] = v->join_key;
  respond(json_reply(200, dump(j), Route::feature_metadata));
}

// GET /features/{view}/{entity_key}?features=a,b: one entity's latest values.
void entity_features(App& app, const RouteMatch& m, Respond respond) {
  const Route route = Route::entity_features;
  auto reg = app.registry->current();
  const std::string& vname = m.params[0];
  const FeatureView* v = fstore::is_valid_name(vname) ? reg->view(vname) : nullptr;
  if (!v) return respond(error_reply(404, "not_found", "feature view '" + vname.substr(0, 200) + "' does not exist", route));
  if (!v->online) return respond(error_reply(404, "not_found", "feature view '" + vname + "' is not online (online => false)", route));
  std::vector<const Feature*> wanted;
  auto requested = query_values(m.query, "features");
  if (!requested.empty()) {
    for (const auto& list : requested)
      for (const auto& name : split_list(list)) {
        if (!fstore::is_valid_name(name))
          return respond(error_reply(400, "bad_request", "feature name '" + name.substr(0, 200) +
                                                             "' is malformed (names match [A-Za-z_][A-Za-z0-9_]{0,62})", route));
        const Feature* f = v->find(name);
        if (!f) return respond(error_reply(404, "not_found", "feature '" + vname + ":" + name.substr(0, 200) + "' does not exist", route));
        if (f->status == "archived")
          return respond(error_reply(404, "archived", "feature '" + vname + ":" + name + "' is archived and no longer served", route));
        if (std::find(wanted.begin(), wanted.end(), f) != wanted.end())
          return respond(error_reply(400, "duplicate_feature", "feature '" + vname + ":" + name + "' is asked for twice; ask for it once", route));
        wanted.push_back(f);
      }
    if (wanted.size() > app.config.max_features)
      return respond(error_reply(413, "too_many_features", "at most " + std::to_string(app.config.max_features) + " features per request", route));
  } else {
    for (const auto& f : v->features)
      if (f.status == "active" || f.status == "deprecated") wanted.push_back(&f);
  }
  std::string error;
  auto key_text = key_text_from_string(m.params[1], v->key_type, error);
  if (!key_text) return respond(error_reply(400, "invalid_entity_key", error, route));
  std::string command = hmget_command(redis_key(v->name, *key_text), wanted);
  app.redis->submit(std::move(command), 1,
      [reg, v, key = *key_text, wanted = std::move(wanted), respond, answers = &app.answers](
          bool ok, std::vector<RedisValue>&& replies, const std::string& err) {
        if (!ok) return respond(error_reply(503, "redis_unavailable", err, route));
        if (replies.size() != 1 || replies[0].type == RedisValue::Type::error)
          return respond(error_reply(503, "redis_error", replies.empty() ? "no reply" : replies[0].str, route));
        auto body = encode_entity_response(*v, key, wanted, replies[0], now_us(), answers);
        if (!body)
          return respond(error_reply(404, "not_found", "entity '" + key.substr(0, 200) + "' not found in feature view '" + v->name + "'", route));
        HttpReply r = json_reply(200, std::move(*body), route);
        std::vector<std::string> warnings;
        for (const auto* f : wanted)
          if (f->status == "deprecated") warnings.push_back("feature " + v->name + ":" + f->name + " is deprecated");
        add_warnings(r, warnings);
        respond(std::move(r));
      });
}

// POST /get-online-features: Feast's request, column-major response. With "transform", the
// service's fitted state is applied (loaded from PostgreSQL once per registry snapshot, on a pool
// worker, never on the I/O thread).
void online_features(App& app, const std::shared_ptr<HttpRequest>& req, Respond respond) {
  const Route route = Route::online_features;
  auto plan = std::make_shared<OnlinePlan>();
  Limits limits{app.config.max_entities, app.config.max_features};
  if (auto err = plan_online_request(app.registry->current(), req->body, limits, *plan))
    return respond(error_reply(err->status, err->code, err->message, route));
  auto finish = [plan, respond, answers = &app.answers](bool ok, std::vector<RedisValue>&& replies, const std::string& err) {
    if (!ok) return respond(error_reply(503, "redis_unavailable", err, route));
    std::optional<std::string> body;
    try {
      body = encode_online_response(*plan, replies, now_us(), answers);
    } catch (const fstore::transform::UnknownCategory& e) {
      return respond(error_reply(422, "unknown_category", e.what(), route));
    }
    if (!body) {
      std::string msg = "unexpected Redis reply";
      for (const auto& r : replies) if (r.type == RedisValue::Type::error) { msg = r.str; break; }
      return respond(error_reply(503, "redis_error", msg, route));
    }
    HttpReply r = json_reply(200, std::move(*body), route);
    add_warnings(r, deprecation_warnings(plan->features));
    respond(std::move(r));
  };
  RedisClient* redis = app.redis.get();
  auto lookup = [plan, redis, finish]() mutable {
    if (plan->command_count() == 0) return finish(true, {}, "");
    redis->submit(plan->commands(), plan->command_count(), std::move(finish));
  };
  if (!plan->transform) return lookup();
  std::shared_ptr<const void> generation = plan->registry;
  if (auto hit = app.transforms.find(generation, plan->service, *plan->transform)) {
    plan->fitted = std::move(hit);
    return lookup();
  }
  online::FittedServiceCache* cache = &app.transforms;
  bool queued = app.pg->submit_read(
      [plan, generation, cache, respond, lookup](pqxx::connection& conn) mutable {
        std::shared_ptr<const online::FittedService> fitted;
        try {
          pqxx::read_transaction tx(conn);
          auto r = tx.exec_params("SELECT version, state::text FROM fstore._transform_state($1, $2)",
                                  plan->service, *plan->transform);
          fitted = std::make_shared<const online::FittedService>(
              online::parse_fitted_service(r.at(0)[0].as<int>(), r.at(0)[1].c_str()));
        } catch (const pqxx::sql_error& e) {
          // 42704: no such version (never another one instead); 22023: fitted for another service.
          if (e.sqlstate() == "42704") return respond(error_reply(404, "not_found", pg_first_line(e.what()), route));
          if (e.sqlstate() == "22023") return respond(error_reply(422, "stale_transform", pg_first_line(e.what()), route));
          return respond(error_reply(503, "pg_error", "loading the transformation state failed: " + e.sqlstate(), route));
        } catch (const fstore::transform::SpecError& e) {
          return respond(error_reply(503, "bad_transform_state", e.what(), route));
        }
        cache->put(generation, plan->service, *plan->transform, fitted);
        plan->fitted = std::move(fitted);
        lookup();
      },
      [respond](const std::string& error) {
        respond(error_reply(503, "pg_unavailable", "PostgreSQL is not reachable: " + error, route));
      });
  if (!queued) respond(error_reply(503, "overloaded", "too many requests waiting for PostgreSQL", route));
}

// POST /ingest/{view}?on_error=raise|reject: through fstore.ingest, on a PostgreSQL worker.
// Errors map to what the client can act on (http/ingest_errors.hpp); a serialization failure or
// deadlock is retried once (the transaction rolled back, nothing was stored).
void ingest(App& app, const RouteMatch& m, const std::shared_ptr<HttpRequest>& req, Respond respond) {
  const Route route = Route::ingest;
  const std::string& view = m.params[0];
  if (!fstore::is_valid_name(view)) return respond(error_reply(404, "not_found", "feature view '" + view.substr(0, 200) + "' does not exist", route));
  std::string on_error = "raise";
  if (auto v = query_values(m.query, "on_error"); !v.empty()) on_error = v.back();
  if (on_error != "raise" && on_error != "reject")
    return respond(error_reply(400, "bad_request", "on_error must be 'raise' or 'reject'", route));
  size_t first = req->body.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || (req->body[first] != '{' && req->body[first] != '['))
    return respond(error_reply(400, "invalid_json", "the body must be one JSON object or an array of them", route));
  switch (check_json(req->body)) {
    case JsonCheck::ok: break;
    case JsonCheck::too_deep: return respond(error_reply(400, "json_too_deep", json_too_deep_message(), route));
    case JsonCheck::invalid: return respond(error_reply(400, "invalid_json", "the request body is not valid JSON", route));
  }
  Metrics* metrics = &app.metrics;
  bool queued = app.pg->submit([req, view, on_error, respond, metrics](pqxx::connection* conn, const std::string& connect_error) {
    if (!conn) return respond(error_reply(503, "pg_unavailable", "PostgreSQL is not reachable: " + connect_error, route));
    for (int attempt = 1;; ++attempt) {
      try {
        pqxx::work tx(*conn);
        auto r = tx.exec_params("SELECT fstore.ingest($1, $2::jsonb, $3)", view, req->body, on_error);
        tx.commit();
        long long rows = r.empty() || r[0][0].is_null() ? 0 : r[0][0].as<long long>();
        json body = {{"view", view}, {"rows_loaded", rows}, {"on_error", on_error}};
        return respond(json_reply(200, dump(body), route));
      } catch (const pqxx::sql_error& e) {
        IngestError err = map_ingest_error(e.sqlstate(), e.what(), view);
        if (err.retry && attempt == 1) continue;
        if (err.status >= 500) {
          ++metrics->pg_errors;
          log_error("ingest into " + view + " failed: " + e.sqlstate() + " " + pg_first_line(e.what()));
        }
        return respond(error_reply(err.status, err.code, err.message, route));
      } catch (const pqxx::in_doubt_error& e) {
        ++metrics->pg_errors;
        return respond(error_reply(503, "pg_unavailable", "the connection to PostgreSQL broke while committing; "
                                   "check whether the rows were stored before sending them again", route));
      } catch (const std::exception& e) {  // broken connection and the like: not retried, it may have run
        ++metrics->pg_errors;
        return respond(error_reply(503, "pg_unavailable", "PostgreSQL connection lost: " + pg_first_line(e.what()), route));
      }
    }
  });
  if (!queued) respond(error_reply(503, "overloaded", "too many requests waiting for PostgreSQL", route));
}

// True for the routes that answer from the registry snapshot. Before the first load that snapshot
// is empty, and a 404 for a view that exists would be a wrong answer.
bool answers_from_registry(Route r) {
  return r == Route::groups || r == Route::features || r == Route::feature_metadata ||
         r == Route::entity_features || r == Route::online_features || r == Route::statistics;
}

// Runs the handler of a matched, authorized request.
void dispatch(App& app, const RouteMatch& m, const std::shared_ptr<HttpRequest>& req, Respond respond) {
  if (answers_from_registry(m.route) && !app.registry->loaded()) {
    HttpReply r = error_reply(503, "not_ready", "the registry is not loaded yet; retry shortly", m.route);
    r.headers.emplace_back("Retry-After", "1");
    return respond(std::move(r));
  }
  switch (m.route) {
    case Route::health: return health(app, m, std::move(respond));
    case Route::ready: return ready(app, m, std::move(respond));
    case Route::metrics: return metrics(app, m, std::move(respond));
    case Route::groups: return groups(app, m, std::move(respond));
    case Route::features: return features(app, m, std::move(respond));
    case Route::feature_metadata: return feature_metadata(app, m, std::move(respond));
    case Route::entity_features: return entity_features(app, m, std::move(respond));
    case Route::online_features: return online_features(app, req, std::move(respond));
    case Route::ingest: return ingest(app, m, req, std::move(respond));
    case Route::statistics: return statistics_route(app, m, std::move(respond));
    case Route::monitoring: return monitoring_route(app, m, std::move(respond));
    case Route::lineage: return lineage_route(app, m, std::move(respond));
    case Route::history: return history_route(app, m, std::move(respond));
    case Route::ui:
      if (!app.ui) return respond(error_reply(404, "not_found", "the web UI is not loaded", Route::ui));
      return respond(app.ui->reply(m.params[0]));
    case Route::create_entity:
    case Route::create_feature_view:
    case Route::add_features:
    case Route::set_feature_status:
    case Route::create_feature_service: return registry_change_route(app, m, req->body, std::move(respond));
    default: return respond(error_reply(404, "not_found", "no such route", Route::other));
  }
}

}  // namespace

HttpReply json_reply(unsigned status, std::string body, Route route) {
  HttpReply r;
  r.status = status;
  r.body = std::move(body);
  r.route = route;
  return r;
}

HttpReply error_reply(unsigned status, const std::string& code, const std::string& message, Route route) {
  return json_reply(status, error_body(code, message), route);
}

size_t body_limit_for(const Config& config, std::string_view target) {
  return target.rfind("/ingest/", 0) == 0 ? config.max_ingest_body_bytes : config.max_body_bytes;
}

// True for the routes anyone may call. The UI's files are static and hold no data: the page asks
// for a token and sends it with every API call it makes.
static bool open_route(Route r) {
  return r == Route::health || r == Route::ready || r == Route::metrics || r == Route::ui;
}

// The catalog routes the UI reads: their answers say which role the token has
// (X-Fstore-Role: reader, writer, admin; "no-auth" under --no-auth), so the UI offers the
// registry forms to admins only. The server checks the role again on every change.
static bool tells_role(Route r) {
  return r == Route::groups || r == Route::features || r == Route::lineage || r == Route::history;
}

static const char* role_name(Role role) {
  switch (role) {
    case Role::reader: return "reader";
    case Role::writer: return "writer";
    case Role::admin: return "admin";
    default: return "none";
  }
}

// A 401 with the header RFC 6750 asks for.
static HttpReply unauthorized(const std::string& message, const char* challenge, Route route) {
  HttpReply r = error_reply(401, "unauthorized", message, route);
  r.headers.emplace_back("WWW-Authenticate", challenge);
  return r;
}

void authorize_request(App& app, std::string_view method, std::string_view target,
                       std::string_view authorization, Authorized done) {
  RouteMatch m;
  try {
    m = match_route(std::string(method), std::string(target));
  } catch (const std::exception&) {
    return done(std::nullopt, Role::none);  // handle_request answers it
  }
  if (m.bad_encoding || !m.found || !m.method_ok || open_route(m.route) || app.config.no_auth)
    return done(std::nullopt, Role::none);
  std::string token = bearer_token(authorization);
  if (token.empty())
    return done(unauthorized("missing or malformed Authorization: Bearer <token>", "Bearer", m.route), Role::none);
  Route route = m.route;
  app.auth->check(token, [route, done](AuthResult result) {
    if (result.kind == AuthResult::Kind::unavailable)
      return done(error_reply(503, "pg_unavailable", "cannot check the token: " + result.error, route), Role::none);
    if (result.kind == AuthResult::Kind::invalid)
      return done(unauthorized("unknown or revoked token", "Bearer error=\"invalid_token\"", route), Role::none);
    done(std::nullopt, result.role);
  });
}

void handle_request(App& app, std::shared_ptr<HttpRequest> req, Respond respond) {
  try {
    RouteMatch m = match_route(req->method, req->target);
    if (m.bad_encoding) return respond(error_reply(400, "bad_request", "malformed percent-encoding in the URL"));
    if (!m.found) return respond(error_reply(404, "not_found", "no such route: " + req->target.substr(0, 200)));
    if (!m.method_ok) {
      HttpReply r = error_reply(405, "method_not_allowed", "use " + std::string(m.allow) + " on this path", m.route);
      r.headers.emplace_back("Allow", m.allow);
      return respond(std::move(r));
    }
    if (tells_role(m.route)) {
      const char* role = app.config.no_auth ? "no-auth" : role_name(req->role);
      respond = [respond = std::move(respond), role](HttpReply r) {
        r.headers.emplace_back("X-Fstore-Role", role);
        respond(std::move(r));
      };
    }
    if (open_route(m.route) || app.config.no_auth) return dispatch(app, m, req, std::move(respond));
    if (!req->authenticated || req->role == Role::none)
      return respond(unauthorized("missing or malformed Authorization: Bearer <token>", "Bearer", m.route));
    if (m.route == Route::ingest && req->role != Role::writer && req->role != Role::admin)
      return respond(error_reply(403, "forbidden", "ingest needs a writer (or admin) token", m.route));
    if (is_registry_change(m.route) && req->role != Role::admin)
      return respond(error_reply(403, "forbidden", "changing the registry needs an admin token", m.route));
    dispatch(app, m, req, std::move(respond));
  } catch (const std::exception& e) {
    respond(error_reply(500, "internal", e.what()));
  }
}

std::optional<std::string> framing_error(const std::vector<std::string_view>& transfer_encodings,
                                         bool has_content_length) {
  if (transfer_encodings.empty()) return std::nullopt;
  if (has_content_length) return std::string("a request may not have both Content-Length and Transfer-Encoding");
  auto lower_trimmed = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    std::string out(v);
    for (auto& c : out) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    return out;
  };
  if (transfer_encodings.size() != 1 || lower_trimmed(transfer_encodings[0]) != "chunked")
    return std::string("unsupported Transfer-Encoding (only \"chunked\" is accepted)");
  return std::nullopt;
}

}  // namespace fstore::server
