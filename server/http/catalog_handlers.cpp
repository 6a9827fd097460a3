// Read-only catalog routes answered from PostgreSQL (server/http/catalog_handlers.hpp).
#include "http/catalog_handlers.hpp"

#include "http/route_match.hpp"
#include "log.hpp"
#include "names.hpp"

#include <pqxx/pqxx>

#include <cstdlib>

namespace fstore::server {

namespace {

constexpr int kResultsPerMonitor = 50;

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
          r = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
        } catch (const pqxx::sql_error& e) {
          ++metrics->pg_errors;
          log_error(std::string("catalog query failed: ") + e.sqlstate() + " " + e.what());
          return (*shared_respond)(error_reply(503, "pg_error", "PostgreSQL could not answer: " + e.sqlstate(), route));
        }
        if (r.empty() || r[0][0].is_null()) return (*shared_respond)(on_null(params.empty() ? "" : params[0]));
        (*shared_respond)(json_reply(200, r[0][0].as<std::string>(), route));
      },
      [shared_respond, route](const std::string& error) {
        (*shared_respond)(error_reply(503, "pg_unavailable", "PostgreSQL is not reachable: " + error, route));
      });
  if (!queued) (*shared_respond)(error_reply(503, "overloaded", "too many requests waiting for PostgreSQL", route));
}

// The lineage graph in one statement: nodes (id "type:name") and the edges between them. A
// derived feature depends on the features of its view that its expression names as a word.
const char* const kLineageSql = R"SQL(
  WITH n AS (
    SELECT 'entity:' || e.name AS id, 'entity' AS type, e.name AS name,
           jsonb_build_object('join_key', e.join_key, 'key_type', e.key_type::text, 'description', e.description,
                              'owner', e.owner, 'tags', e.tags, 'created_at', e.created_at, 'updated_at', e.updated_at) AS info
      FROM fstore.entities e
    UNION ALL
    SELECT 'view:' || v.name, 'feature_view', v.name,
           jsonb_build_object('entity', v.entity, 'version', v.version, 'online', v.online, 'description', v.description,
                              'owner', v.owner, 'tags', v.tags)
      FROM fstore.feature_views v
    UNION ALL
    SELECT 'feature:' || f.view || ':' || f.name, 'feature', f.view || ':' || f.name,
           jsonb_build_object('view', f.view, 'value_type', f.type::text, 'status', f.status, 'derived', f.expression IS NOT NULL)
      FROM fstore.features f
    UNION ALL
    SELECT 'service:' || s.name, 'feature_service', s.name, jsonb_build_object('description', s.description, 'owner', s.owner, 'tags', s.tags)
      FROM fstore.feature_services s
    UNION ALL
    SELECT 'transform:' || t.service || ':' || t.version, 'transform_version', t.service || ' v' || t.version,
           jsonb_build_object('service', t.service, 'version', t.version, 'fitted_at', t.fitted_at, 'row_count', t.row_count)
      FROM fstore.transform_versions t
    UNION ALL
    SELECT 'training_set:' || t.service || ':' || t.version, 'training_set', t.entity_rows,
           jsonb_build_object('service', t.service, 'transform_version', t.version, 'row_count', t.row_count)
      FROM fstore.transform_versions t
    UNION ALL
    SELECT 'stream:' || s.name, 'stream_source', s.name, jsonb_build_object('kind', s.kind, 'state', s.state, 'view', s.view)
      FROM fstore.stream_sources s),
  e AS (
    SELECT 'entity:' || v.entity AS source, 'view:' || v.name AS target, 'describes' AS kind FROM fstore.feature_views v
    UNION ALL
    SELECT 'view:' || f.view, 'feature:' || f.view || ':' || f.name, 'has' FROM fstore.features f
    UNION ALL
    SELECT 'feature:' || a.view || ':' || a.name, 'feature:' || d.view || ':' || d.name, 'derives'
      FROM fstore.features d JOIN fstore.features a ON a.view = d.view AND a.name <> d.name
     WHERE d.expression IS NOT NULL AND d.expression ~ ('\m' || a.name || '\M')
    UNION ALL
    SELECT CASE WHEN split_part(r, ':', 2) = '*' THEN 'view:' || split_part(r, ':', 1) ELSE 'feature:' || r END,
           'service:' || s.name, 'serves'
      FROM fstore.feature_services s, unnest(s.features) r
    UNION ALL
    SELECT 'service:' || t.service, 'training_set:' || t.service || ':' || t.version, 'trains' FROM fstore.transform_versions t
    UNION ALL
    SELECT 'training_set:' || t.service || ':' || t.version, 'transform:' || t.service || ':' || t.version, 'fits'
      FROM fstore.transform_versions t
    UNION ALL
    SELECT 'stream:' || s.name, 'view:' || s.view, 'feeds' FROM fstore.stream_sources s)
  SELECT json_build_object(  -- json, not jsonb, to aggregate: about 15% faster at 10,000 features
    'nodes', COALESCE((SELECT json_agg(info || jsonb_build_object('id', id, 'type', type, 'name', name) ORDER BY type, name) FROM n), '[]'),
    'edges', COALESCE((SELECT json_agg(json_build_object('source', source, 'target', target, 'kind', kind)
                                        ORDER BY source, target) FROM e WHERE source IN (SELECT id FROM n)
                                                                        AND target IN (SELECT id FROM n)), '[]')))SQL";

constexpr int kDefaultHistoryRows = 500;
constexpr int kMaxHistoryRows = 10000;

}  // namespace

void lineage_route(App& app, const RouteMatch&, Respond respond) {
  const Route route = Route::lineage;
  json_query(app, route, kLineageSql, {}, [route](const std::string&) { return json_reply(200, "{\"nodes\":[],\"edges\":[]}", route); },
             std::move(respond));
}

void history_route(App& app, const RouteMatch& m, Respond respond) {
  const Route route = Route::history;
  auto last = [&](const char* name) {
    auto v = query_values(m.query, name);
    return v.empty() ? std::string() : v.back();
  };
  std::string object_type = last("object_type"), object_name = last("object_name"), limit_text = last("limit");
  int limit = kDefaultHistoryRows;
  if (!limit_text.empty()) {
    char* end = nullptr;
    long v = std::strtol(limit_text.c_str(), &end, 10);
    if (*end != '\0' || v < 1 || v > kMaxHistoryRows)
      return respond(error_reply(400, "bad_request", "limit must be an integer from 1 to " + std::to_string(kMaxHistoryRows), route));
    limit = static_cast<int>(v);
  }
  // Newest first (`at` is the clock time of each change); an empty filter matches every row.
  static const std::string sql = R"SQL(
    SELECT jsonb_build_object('history', COALESCE(jsonb_agg(to_jsonb(h) ORDER BY h.at DESC), '[]'))
      FROM (SELECT l.at, l.actor, l.object_type, l.object_name, l.action, l.old_version, l.new_version, l.detail
              FROM fstore.registry_history l
             WHERE ($1 = '' OR l.object_type = $1) AND ($2 = '' OR l.object_name = $2)
             ORDER BY l.at DESC LIMIT $3::int) h)SQL";
  json_query(app, route, sql, {object_type, object_name, std::to_string(limit)},
             [route](const std::string&) { return json_reply(200, "{\"history\":[]}", route); }, std::move(respond));
}

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
  json_query(app, route, sql, {}, [route](const std::string&) { return json_reply(200, "{\"monitors\":[]}", route); },
             std::move(respond));
}

}  // namespace fstore::server
