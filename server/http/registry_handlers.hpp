// The registry over HTTP for admin tokens (0.2.0): POST /entities, POST /feature-views,
// POST /feature-views/{view}/features, PUT /features/{view}/{feature}/status and
// POST /feature-services call the SQL registry functions with the same arguments, taken from a
// JSON object, so that validation, versions, history and the server's database privileges apply
// exactly as in SQL. Values reach PostgreSQL only as parameters; SQL errors become 4xx answers
// with PostgreSQL's message (and hint) as it is.
#pragma once

#include "http/app.hpp"
#include "http/route_match.hpp"

#include <string>

namespace fstore::server {

// True for the routes that change the registry (they need an admin token).
bool is_registry_change(Route route);

// Runs one registry change on a PostgreSQL worker and answers the object as the catalog now
// holds it (201 for creations, 200 for a status change).
void registry_change_route(App& app, const RouteMatch& m, const std::string& body, Respond respond);

// How a SQLSTATE of a registry function is answered: status, code, and whether to retry once.
struct RegistryError {
  unsigned status;
  std::string code;
  bool retry = false;
};
RegistryError map_registry_error(const std::string& sqlstate);

}  // namespace fstore::server
