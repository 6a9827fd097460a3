#include "http/registry_handlers.hpp"

#include "http/ingest_errors.hpp"
#include "log.hpp"
#include "online/json_limit.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <optional>
#include <vector>

namespace fstore::server {

using json = nlohmann::json;

namespace {

// How a JSON argument becomes a SQL value: the cast of its text parameter, and the JSON type
// it must have.
enum class ArgKind { text, text_array, jsonb, interval, boolean, regtype };

struct ArgSpec {
  const char* name;
  ArgKind kind;
  bool required;
};

// One registry function: its name, arguments (in order), which of them come from the path,
// and the catalog query that answers the changed object ($1.. = `answer_args`).
struct RegistryCall {
  const char* function;
  std::vector<ArgSpec> args;
  std::vector<const char*> answer_args;
  const char* answer_sql;
  unsigned ok_status;
};

const char* const kViewAnswer =
    "SELECT to_jsonb(v) || jsonb_build_object('features', COALESCE((SELECT jsonb_agg(to_jsonb(f) ORDER BY f.position) "
    "FROM fstore.features f WHERE f.view = v.name), '[]')) FROM fstore.feature_views v WHERE v.name = $1";

// The calls, by route (API.md: registry functions).
const RegistryCall* call_for(Route route) {
  using K = ArgKind;
  static const RegistryCall entity{"create_entity",
      {{"name", K::text, true}, {"join_key", K::text, true}, {"key_type", K::regtype, false},
       {"description", K::text, false}, {"owner", K::text, false}, {"tags", K::text_array, false}},
      {"name"}, "SELECT to_jsonb(e) FROM fstore.entities e WHERE e.name = $1", 201};
  static const RegistryCall view{"create_feature_view",
      {{"name", K::text, true}, {"entity", K::text, true}, {"features", K::jsonb, true},
       {"ttl", K::interval, false}, {"online", K::boolean, false}, {"description", K::text, false},
       {"owner", K::text, false}, {"tags", K::text_array, false}},
      {"name"}, kViewAnswer, 201};
  static const RegistryCall add{"add_features", {{"view", K::text, true}, {"features", K::jsonb, true}},
      {"view"}, kViewAnswer, 201};
  static const RegistryCall status{"set_feature_status", {{"feature", K::text, true}, {"status", K::text, true}},
      {"feature"},
      "SELECT to_jsonb(f) FROM fstore.features f WHERE f.view = split_part($1, ':', 1) "
      "AND f.name = substr($1, length(split_part($1, ':', 1)) + 2)", 200};
  static const RegistryCall service{"create_feature_service",
      {{"name", K::text, true}, {"features", K::text_array, true}, {"description", K::text, false},
       {"owner", K::text, false}, {"tags", K::text_array, false}},
      {"name"}, "SELECT to_jsonb(s) FROM fstore.feature_services s WHERE s.name = $1", 201};
  switch (route) {
    case Route::create_entity: return &entity;
    case Route::create_feature_view: return &view;
    case Route::add_features: return &add;
    case Route::set_feature_status: return &status;
    case Route::create_feature_service: return &service;
    default: return nullptr;
  }
}

// The SQL expression of parameter $n for `kind` (schema-qualified: the server's search_path is
// whatever its role has).
std::string param_expr(ArgKind kind, size_t n) {
  std::string p = "$" + std::to_string(n);
  switch (kind) {
    case ArgKind::text: return p + "::pg_catalog.text";
    case ArgKind::text_array:
      return "ARRAY(SELECT pg_catalog.jsonb_array_elements_text(" + p + "::pg_catalog.jsonb))";
    case ArgKind::jsonb: return p + "::pg_catalog.jsonb";
    case ArgKind::interval: return p + "::pg_catalog.interval";
    case ArgKind::boolean: return p + "::pg_catalog.bool";
    case ArgKind::regtype: return p + "::pg_catalog.regtype";
  }
  return p;
}

// The text parameter of a JSON value of `kind`, or the reason it does not fit.
std::optional<std::string> param_text(ArgKind kind, const json& v, std::string& why) {
  switch (kind) {
    case ArgKind::text:
    case ArgKind::interval:
    case ArgKind::regtype:
      if (v.is_string()) return v.get<std::string>();
      why = "a string";
      return std::nullopt;
    case ArgKind::text_array:
      if (v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); }))
        return v.dump();
      why = "an array of strings";
      return std::nullopt;
    case ArgKind::jsonb: return v.dump();
    case ArgKind::boolean:
      if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
      why = "true or false";
      return std::nullopt;
  }
  return std::nullopt;
}

struct Prepared {
  std::string call_sql, answer_sql;
  std::vector<std::string> params, answer_params;
  unsigned ok_status = 200;
  std::string function;
};

// Builds the call from the body and the path; an error reply when the arguments do not fit.
std::optional<HttpReply> prepare(const RegistryCall& call, Route route, const RouteMatch& m, const std::string& body,
                                 Prepared& out) {
  auto bad = [route](const std::string& msg) { return error_reply(400, "bad_request", msg, route); };
  switch (check_json(body)) {
    case JsonCheck::ok: break;
    case JsonCheck::too_deep: return error_reply(400, "json_too_deep", json_too_deep_message(), route);
    case JsonCheck::invalid: return error_reply(400, "invalid_json", "the request body is not valid JSON", route);
  }
  json args = json::parse(body, nullptr, false);
  if (args.is_discarded() || !args.is_object())
    return error_reply(400, "invalid_json", "the body must be one JSON object of the arguments of fstore." +
                                                std::string(call.function), route);
  // Arguments named by the path.
  std::vector<std::pair<std::string, std::string>> from_path;
  if (route == Route::add_features) from_path = {{"view", m.params[0]}};
  if (route == Route::set_feature_status) from_path = {{"feature", m.params[0] + ":" + m.params[1]}};
  for (const auto& [name, value] : from_path) {
    if (args.contains(name)) return bad("'" + name + "' is given by the path; leave it out of the body");
    args[name] = value;
  }
  std::string known;
  for (const auto& a : call.args) known += (known.empty() ? "" : ", ") + std::string(a.name);
  for (const auto& [key, value] : args.items())
    if (std::none_of(call.args.begin(), call.args.end(), [&](const ArgSpec& a) { return key == a.name; }))
      return bad("unknown argument '" + key.substr(0, 100) + "' of fstore." + call.function + " (arguments: " + known + ")");
  out.function = call.function;
  out.call_sql = std::string("SELECT fstore.") + call.function + "(";
  bool first = true;
  for (const auto& a : call.args) {
    auto it = args.find(a.name);
    if (it == args.end()) {
      if (a.required) return bad("fstore." + std::string(call.function) + " needs '" + a.name + "'");
      continue;  // the function's default
    }
    out.call_sql += (first ? "" : ", ") + std::string(a.name) + " => ";
    first = false;
    if (it->is_null()) {
      out.call_sql += "NULL";
      continue;
    }
    std::string why;
    auto text = param_text(a.kind, *it, why);
    if (!text) return bad("'" + std::string(a.name) + "' must be " + why);
    out.params.push_back(std::move(*text));
    out.call_sql += param_expr(a.kind, out.params.size());
  }
  out.call_sql += ")::pg_catalog.text";
  out.answer_sql = call.answer_sql;
  for (const char* name : call.answer_args) out.answer_params.push_back(args[name].is_string() ? args[name].get<std::string>() : "");
  out.ok_status = call.ok_status;
  return std::nullopt;
}

// The line of libpq's error text that starts with `label` ("HINT:  ..."), without it; "" if none.
std::string pg_error_field(const std::string& what, const std::string& label) {
  auto at = what.find("\n" + label + "  ");
  if (at == std::string::npos) return "";
  at += label.size() + 3;
  return what.substr(at, what.find('\n', at) - at);
}

}  // namespace

bool is_registry_change(Route route) { return call_for(route) != nullptr; }

RegistryError map_registry_error(const std::string& state) {
  auto cls = [&](const char* c) { return state.rfind(c, 0) == 0; };
  if (state == "42501") return {403, "forbidden"};
  if (state == "42704") return {404, "not_found"};
  if (state == "42710" || state == "42P07") return {409, "already_exists"};
  if (state == "55000" || state == "55006") return {409, "conflict"};
  if (state == "40001" || state == "40P01") return {503, "conflict", true};
  if (cls("23")) return {422, "validation_failed"};
  if (cls("22") || cls("42") || cls("0A")) return {400, "bad_request"};
  if (cls("08") || state == "57P01" || state == "57P02" || state == "57P03") return {503, "pg_unavailable"};
  if (cls("53") || state == "57014") return {503, "overloaded"};
  return {500, "internal"};
}

void registry_change_route(App& app, const RouteMatch& m, const std::string& body, Respond respond) {
  const Route route = m.route;
  const RegistryCall* call = call_for(route);
  if (!call) return respond(error_reply(404, "not_found", "no such route", route));
  auto prepared = std::make_shared<Prepared>();
  if (auto err = prepare(*call, route, m, body, *prepared)) return respond(std::move(*err));
  Metrics* metrics = &app.metrics;
  bool queued = app.pg->submit([prepared, route, respond, metrics](pqxx::connection* conn, const std::string& connect_error) {
    if (!conn) return respond(error_reply(503, "pg_unavailable", "PostgreSQL is not reachable: " + connect_error, route));
    for (int attempt = 1;; ++attempt) {
      try {
        pqxx::work tx(*conn);
        tx.exec_params(prepared->call_sql, pqxx::prepare::make_dynamic_params(prepared->params));
        auto r = tx.exec_params(prepared->answer_sql, pqxx::prepare::make_dynamic_params(prepared->answer_params));
        tx.commit();
        HttpReply reply;
        reply.status = prepared->ok_status;
        reply.route = route;
        reply.body = r.empty() || r[0][0].is_null() ? "{}" : r[0][0].c_str();
        return respond(std::move(reply));
      } catch (const pqxx::sql_error& e) {
        RegistryError err = map_registry_error(e.sqlstate());
        if (err.retry && attempt == 1) continue;
        if (err.status >= 500) {
          ++metrics->pg_errors;
          log_error("fstore." + prepared->function + " over HTTP failed: " + e.sqlstate() + " " + pg_first_line(e.what()));
        }
        json error = {{"code", err.code}, {"message", pg_first_line(e.what())}, {"sqlstate", e.sqlstate()}};
        for (const char* field : {"DETAIL", "HINT"}) {
          std::string v = pg_error_field(e.what(), std::string(field) + ":");
          if (!v.empty()) error[field == std::string("HINT") ? "hint" : "detail"] = v;
        }
        HttpReply reply;
        reply.status = err.status;
        reply.route = route;
        reply.body = json({{"error", error}}).dump(-1, ' ', false, json::error_handler_t::replace);
        return respond(std::move(reply));
      } catch (const pqxx::in_doubt_error&) {
        ++metrics->pg_errors;
        return respond(error_reply(503, "pg_unavailable", "the connection to PostgreSQL broke while committing; "
                                   "check the registry before sending the change again", route));
      } catch (const std::exception& e) {  // a broken connection: not retried, it may have run
        ++metrics->pg_errors;
        return respond(error_reply(503, "pg_unavailable", "PostgreSQL connection lost: " + pg_first_line(e.what()), route));
      }
    }
  });
  if (!queued) respond(error_reply(503, "overloaded", "too many requests waiting for PostgreSQL", route));
}

}  // namespace fstore::server
