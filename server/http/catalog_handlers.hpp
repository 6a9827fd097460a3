// Read-only catalog routes answered from PostgreSQL (docs/http-api.md): statistics snapshots and
// monitors, lineage and registry history. Each runs one query on a pooled connection (retried once if the connection broke) and
// builds its JSON in SQL, so values arrive exactly as PostgreSQL holds them.
#pragma once

#include "http/app.hpp"
#include "http/route_match.hpp"

namespace fstore::server {

// GET /statistics/{view}: the latest statistics snapshot of each feature of the view.
void statistics_route(App& app, const RouteMatch& m, Respond respond);

// GET /lineage: nodes (entities, views, features, services, transform versions, the training sets
// they were fitted on, stream sources) and the edges between them.
void lineage_route(App& app, const RouteMatch& m, Respond respond);

// GET /history?object_type=&object_name=&limit=: registry history rows, newest first.
void history_route(App& app, const RouteMatch& m, Respond respond);

// GET /monitoring: the monitors with their recent results, alerts first.
void monitoring_route(App& app, const RouteMatch& m, Respond respond);

}  // namespace fstore::server
