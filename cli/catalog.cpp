// fstore ls, describe, status and token: the catalog views and token functions of the extension.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <map>

#include "commands.hpp"
#include "http_get.hpp"

using nlohmann::json;

namespace fstore_cli {

void print_rows(const Rows& r, bool as_json) {
  if (as_json) {
    json a = json::array();
    for (const auto& row : r.rows) {
      json o = json::object();
      for (size_t c = 0; c < r.columns.size(); ++c) o[r.columns[c]] = row[c] ? json(*row[c]) : json();
      a.push_back(o);
    }
    std::cout << a.dump(2) << "\n";
    return;
  }
  std::vector<size_t> w;
  for (const auto& c : r.columns) w.push_back(c.size());
  for (const auto& row : r.rows)
    for (size_t c = 0; c < row.size(); ++c) w[c] = std::max(w[c], std::min<size_t>(row[c].value_or("").size(), 60));
  auto line = [&](auto get) {
    std::string s;
    for (size_t c = 0; c < w.size(); ++c) {
      std::string v = get(c);
      if (v.size() > 60) v = v.substr(0, 57) + "...";
      s += v + std::string(w[c] - std::min(w[c], v.size()) + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    std::cout << s << "\n";
  };
  line([&](size_t c) { return r.columns[c]; });
  line([&](size_t c) { return std::string(w[c], '-'); });
  for (const auto& row : r.rows) line([&](size_t c) { return row[c].value_or(""); });
  std::cout << "(" << r.size() << (r.size() == 1 ? " row)\n" : " rows)\n");
}

namespace {

// Rows of `sql` as typed JSON (numbers stay numbers) or as text for a table.
void show(Db& db, const std::string& sql, const std::vector<Param>& params, bool as_json) {
  if (as_json) {
    Rows r = db.query("SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]')::text FROM (" + sql + ") x", params);
    std::cout << json::parse(*r.rows[0][0]).dump(2) << "\n";
  } else {
    print_rows(db.query(sql, params), false);
  }
}

const std::map<std::string, std::string> kLists = {
    {"entities", "SELECT name, join_key, key_type::text AS key_type, owner, tags, description FROM fstore.entities ORDER BY name"},
    {"views", "SELECT name, entity, version, ttl::text AS ttl, online, owner, tags, description FROM fstore.feature_views ORDER BY name"},
    {"features", "SELECT view, name, pg_catalog.format_type(type, NULL) AS type, status, version, validation, expression, description "
                 "FROM fstore.features ORDER BY view, position"},
    {"services", "SELECT name, version, features, transforms, owner, description FROM fstore.feature_services ORDER BY name"},
    {"monitors", "SELECT name, feature, metric, threshold, last_value, alert, last_run_at FROM fstore.monitors ORDER BY name"},
    {"streams", "SELECT name, view, state, lag, last_error FROM fstore.stream_sources ORDER BY name"},
    {"tokens", "SELECT name, role, created_by, created_at, revoked_at FROM fstore.api_tokens ORDER BY name"}};

}  // namespace

int cmd_ls(const Options& o, const std::string& what) {
  auto it = kLists.find(what);
  if (it == kLists.end()) throw CliError("ls: unknown list \"" + what + "\"", kUsage);
  Db db(o.pg);
  show(db, it->second, {}, o.json);
  return kOk;
}

// describe NAME: an entity, view (with its features), feature (view:feature) or service,
// with its registry history.
int cmd_describe(const Options& o, const std::string& name) {
  Db db(o.pg);
  struct Kind { const char* type; const char* sql; const char* history_type; };
  static const Kind kinds[] = {
      {"entity", "SELECT * FROM fstore.entities WHERE name = $1", "entity"},
      {"feature_view", "SELECT name, entity, table_name::text AS table_name, ttl::text AS ttl, online, version, description, owner, tags, "
                       "created_at, updated_at FROM fstore.feature_views WHERE name = $1", "feature_view"},
      {"feature", "SELECT view, name, pg_catalog.format_type(type, NULL) AS type, status, version, validation, expression, description, "
                  "tags FROM fstore.features WHERE view || ':' || name = $1", "feature"},
      {"feature_service", "SELECT * FROM fstore.feature_services WHERE name = $1", "feature_service"},
      {"monitor", "SELECT * FROM fstore.monitors WHERE name = $1", "monitor"}};
  for (const auto& k : kinds) {
    Rows r = db.query("SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]')::text FROM (" + std::string(k.sql) + ") x", {name});
    json found = json::parse(*r.rows[0][0]);
    if (found.empty()) continue;
    json out = {{"kind", k.type}, {"object", found[0]}};
    if (std::string(k.type) == "feature_view") {
      Rows f = db.query("SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]')::text FROM (SELECT name, pg_catalog.format_type(type, NULL) AS type, "
                        "status, version, validation, expression, description FROM fstore.features WHERE view = $1 ORDER BY position) x", {name});
      out["features"] = json::parse(*f.rows[0][0]);
    }
    Rows h = db.query("SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]')::text FROM (SELECT at, actor, action, old_version, new_version "
                      "FROM fstore.registry_history WHERE object_type = $1 AND object_name = $2 ORDER BY at) x", {k.history_type, name});
    out["history"] = json::parse(*h.rows[0][0]);
    if (o.json) {
      std::cout << out.dump(2) << "\n";
      return kOk;
    }
    std::cout << k.type << " " << name << "\n";
    for (const auto& [key, v] : out["object"].items())
      std::cout << "  " << key << ": " << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
    if (out.contains("features")) {
      std::cout << "features:\n";
      for (const auto& f : out["features"])
        std::cout << "  " << f["name"].get<std::string>() << "  " << f["type"].get<std::string>() << "  " << f["status"].get<std::string>()
                  << (f["validation"].empty() ? "" : "  validation " + f["validation"].dump())
                  << (f["expression"].is_null() ? "" : "  = " + f["expression"].get<std::string>()) << "\n";
    }
    std::cout << "history:\n";
    for (const auto& e : out["history"])
      std::cout << "  " << e["at"].get<std::string>() << "  " << e["action"].get<std::string>() << "  by "
                << e["actor"].get<std::string>() << (e["new_version"].is_null() ? "" : "  -> " + e["new_version"].get<std::string>()) << "\n";
    return kOk;
  }
  throw CliError("\"" + name + "\" is not an entity, feature view, feature (view:feature), service or monitor (SQLSTATE 42704)", kError, "42704");
}

// status: sync lag per online view, stream sources, monitors and alerts; with --server also the
// server's /ready answer.
int cmd_status(const Options& o) {
  Db db(o.pg);
  auto rows = [&](const std::string& sql) {
    Rows r = db.query("SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]')::text FROM (" + sql + ") x");
    return json::parse(*r.rows[0][0]);
  };
  json out;
  out["sync"] = rows("SELECT view, pending_changes, pending_keys, lag_seconds, last_sync_at, state, reason FROM fstore.sync_status ORDER BY view");
  out["streams"] = rows("SELECT name, view, state, lag, last_error FROM fstore.stream_sources ORDER BY name");
  out["monitors"] = rows("SELECT name, feature, metric, threshold, last_value, alert, last_run_at, last_error FROM fstore.monitors ORDER BY alert DESC, name");
  int alerts = 0;
  for (const auto& m : out["monitors"]) alerts += m["alert"].get<bool>() ? 1 : 0;
  out["alerts"] = alerts;
  if (!o.server.empty()) {
    HttpAnswer a = http_get(o.server + "/ready", "");
    out["server"] = {{"url", o.server}, {"ready", a.status == 200}, {"status", a.status}, {"body", a.body}};
  }
  if (o.json) {
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  std::cout << "sync (online views):\n";
  for (const auto& s : out["sync"])
    std::cout << "  " << s["view"].get<std::string>() << "  pending " << s["pending_keys"] << " keys, lag " << s["lag_seconds"] << " s, "
              << s["state"].get<std::string>() << "\n";
  std::cout << "streams:" << (out["streams"].empty() ? " none" : "") << "\n";
  for (const auto& s : out["streams"])
    std::cout << "  " << s["name"].get<std::string>() << " -> " << s["view"].get<std::string>() << "  " << s["state"].get<std::string>()
              << ", lag " << s["lag"].dump() << "\n";
  std::cout << "monitors:" << (out["monitors"].empty() ? " none" : "") << "\n";
  for (const auto& m : out["monitors"])
    std::cout << "  " << (m["alert"].get<bool>() ? "ALERT " : "ok    ") << m["name"].get<std::string>() << "  " << m["feature"].get<std::string>()
              << "  " << m["metric"].get<std::string>() << " " << m["last_value"].dump() << " (threshold " << m["threshold"].dump() << ")\n";
  std::cout << "alerts: " << alerts << "\n";
  if (out.contains("server"))
    std::cout << "server " << o.server << ": " << (out["server"]["ready"].get<bool>() ? "ready" : "NOT ready: " + out["server"]["body"].get<std::string>()) << "\n";
  return kOk;
}

int cmd_token_create(const Options& o, const std::string& name, const std::string& role) {
  Db db(o.pg);
  Rows r = db.query("SELECT fstore.create_api_token($1, $2)", {name, role});
  if (o.json) std::cout << json{{"name", name}, {"role", role}, {"token", *r.rows[0][0]}}.dump(2) << "\n";
  else std::cout << *r.rows[0][0] << "\n";
  return kOk;
}

int cmd_token_revoke(const Options& o, const std::string& name) {
  Db db(o.pg);
  db.query("SELECT fstore.revoke_api_token($1)", {name});
  if (o.json) std::cout << json{{"name", name}, {"revoked", true}}.dump(2) << "\n";
  else std::cout << "revoked " << name << "\n";
  return kOk;
}

}  // namespace fstore_cli
