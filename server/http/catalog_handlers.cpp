// Read-only catalog routes answered from PostgreSQL (server/http/catalog_handlers.hpp).
#include "http/catalog_handlers.hpp"

#include "log.hpp"
#include "names.hpp"

#include <pqxx/pqxx>

namespace fstore::server {

namespace {

constexpr int kResultsPerMonitor = 50;

HttpReply reply(unsigned status, std::string body, Route route) {
  HttpReply r;
  r.status = status;
  r.body = std::move(body);
  r.route = route;
  return r;
}

// Submits a read that answers one jsonb value; `params` are text parameters $1...
void json_query(App& app, Route route, const std::string& sql, std::vector<std::string> params,
                std::function<HttpReply(const std::string&)> on_null, Respond respond) {
  Metrics* metrics = &app.metrics;
  auto shared_respond = std::make_shared<Respond>(std::move(respond));
  bool queued = app.pg->submit_read(
      [sql, params, on_null, shared_respond, route, metrics](pqxx::connection& conn) {
        pqxx::read_transaction tx(conn);
        pqxx::result r;
        try {
          if (params.empty()) r = tx.exec(sql);
          else r = tx.exec_params(sql, params[0]);
        } catch (const pqxx::sql_error& e) {
          ++metrics->pg_errors;
          log_error(std::string("catalog query failed: ") + e.sqlstate() + " " + e.what());
          return (*shared_respond)(error_reply(503, "pg_error", "PostgreSQL could not answer: " + e.sqlstate(), route));
        }
        if (r.empty() || r[0][0].is_null()) return (*shared_respond)(on_null(params.empty() ? "" : params[0]));
        (*shared_respond)(reply(200, r[0][0].as<std::string>(), route));
      },
      [shared_respond, route](const std::string& error) {
        (*shared_respond)(error_reply(503, "pg_unavailable", "PostgreSQL is not reachable: " + error, route));
      });
  if (!queued) (*shared_respond)(error_reply(503, "overloaded", "too many requests waiting for PostgreSQL", route));
}

}  // namespace

void statistics_route(App& app, const RouteMatch& m, Respond respond) {
  const Route route = Route::statistics;
  const std::string& view = m.params[0];
  auto not_found = [route](const std::string& name) {
    return error_reply(404, "not_found", "feature view '" + name.substr(0, 200) + "' does not exist", route);
  };
  if (!fstore::is_valid_name(view) || !app.registry->current()->view(view)) return respond(not_found(view));
  // Per feature, its newest snapshot (by computation time); NULL when the view is gone meanwhile.
  static const std::string sql = R"SQL(
    SELECT CASE WHEN EXISTS (SELECT FROM fstore.feature_views WHERE name = $1) THEN
      jsonb_build_object('view', $1::text, 'features', COALESCE((
        SELECT jsonb_agg(to_jsonb(s) - 'view' ORDER BY s.feature) FROM (
          SELECT DISTINCT ON (feature) * FROM fstore.statistics WHERE view = $1
           ORDER BY feature, computed_at DESC, snapshot_id DESC) s), '[]'::jsonb)) END)SQL";
  json_query(app, route, sql, {view}, not_found, std::move(respond));
}

void monitoring_route(App& app, const RouteMatch&, Respond respond) {
  const Route route = Route::monitoring;
  static const std::string sql = R"SQL(
    SELECT jsonb_build_object('monitors', COALESCE(jsonb_agg(to_jsonb(m) || jsonb_build_object('results', COALESCE((
      SELECT jsonb_agg(jsonb_build_object('at', r.at, 'value', r.value, 'p_value', r.p_value, 'threshold', r.threshold,
                                          'alert', r.alert, 'error', r.error) ORDER BY r.at DESC)
        FROM (SELECT * FROM fstore.monitor_results r WHERE r.monitor = m.name ORDER BY r.at DESC
               LIMIT )SQL" + std::to_string(kResultsPerMonitor) + R"SQL() r), '[]'::jsonb))
      ORDER BY m.alert DESC, m.name), '[]'::jsonb)) FROM fstore.monitors m)SQL";
  json_query(app, route, sql, {}, [route](const std::string&) { return reply(200, "{\"monitors\":[]}", route); },
             std::move(respond));
}

}  // namespace fstore::server
