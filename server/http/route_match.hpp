// Matching request targets to routes, apart from any I/O: path templates, percent-decoding and
// query parameters.
#pragma once

#include "metrics.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fstore::server {

struct RouteMatch {
  Route route = Route::other;
  bool found = false;       // the path is one of ours
  bool method_ok = false;   // and the method fits it
  const char* allow = "";   // methods allowed on the path (for 405)
  std::vector<std::string> params;  // decoded path parameters
  std::string query;        // raw query string (after '?')
  bool bad_encoding = false;  // malformed percent-encoding
};

// Matches method + target (origin form, e.g. /features/v/1001?features=a,b).
RouteMatch match_route(std::string_view method, std::string_view target);

// Percent-decodes `s` ('+' stays '+'); nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view s);

// Values of `name` in a query string (decoded; repeated names all returned).
std::vector<std::string> query_values(std::string_view query, std::string_view name);

// Splits "a,b,,c" into {"a","b","c"}.
std::vector<std::string> split_list(std::string_view s);

}  // namespace fstore::server
