#include "metrics.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace fstore::server {

const char* route_label(Route route) {
  switch (route) {
    case Route::health: return "/health";
    case Route::ready: return "/ready";
    case Route::metrics: return "/metrics";
    case Route::entity_features: return "/features/{view}/{entity_key}";
    case Route::online_features: return "/get-online-features";
    case Route::ingest: return "/ingest/{view}";
    case Route::groups: return "/groups";
    case Route::features: return "/features";
    case Route::feature_metadata: return "/features/{view}/{feature}/metadata";
    case Route::statistics: return "/statistics/{view}";
    case Route::monitoring: return "/monitoring";
    case Route::lineage: return "/lineage";
    case Route::history: return "/history";
    case Route::create_entity: return "POST /entities";
    case Route::create_feature_view: return "POST /feature-views";
    case Route::add_features: return "POST /feature-views/{view}/features";
    case Route::set_feature_status: return "PUT /features/{view}/{feature}/status";
    case Route::create_feature_service: return "POST /feature-services";
    case Route::ui: return "/ui/";
    default: return "other";
  }
}

void Metrics::observe_request(Route route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& s = series_[{static_cast<int>(route), status}];
  ++s.count;
  s.sum += seconds;
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++s.buckets[i];
}

namespace {
// Formats a number the way Prometheus reads it.
std::string num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, std::fabs(v) < 1e15 && v == std::floor(v) ? "%.0f" : "%.10g", v);
  return buf;
}
}  // namespace

std::string Metrics::render(const std::vector<Sample>& extra) const {
  std::ostringstream out;
  std::map<std::pair<int, int>, Series> copy;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    copy = series_;
  }
  out << "# HELP fstore_http_requests_total HTTP requests answered, by route and status.\n"
         "# TYPE fstore_http_requests_total counter\n";
  for (const auto& [key, s] : copy)
    out << "fstore_http_requests_total{route=\"" << route_label(static_cast<Route>(key.first))
        << "\",status=\"" << key.second << "\"} " << s.count << "\n";
  out << "# HELP fstore_http_request_duration_seconds Time from request read to response queued.\n"
         "# TYPE fstore_http_request_duration_seconds histogram\n";
  for (const auto& [key, s] : copy) {
    std::string labels = std::string("route=\"") + route_label(static_cast<Route>(key.first)) +
                         "\",status=\"" + std::to_string(key.second) + "\"";
    for (size_t i = 0; i < kBuckets.size(); ++i)
      out << "fstore_http_request_duration_seconds_bucket{" << labels << ",le=\"" << num(kBuckets[i])
          << "\"} " << s.buckets[i] << "\n";
    out << "fstore_http_request_duration_seconds_bucket{" << labels << ",le=\"+Inf\"} " << s.count << "\n";
    out << "fstore_http_request_duration_seconds_sum{" << labels << "} " << num(s.sum) << "\n";
    out << "fstore_http_request_duration_seconds_count{" << labels << "} " << s.count << "\n";
  }
  auto counter = [&](const char* name, const char* help, double v, const char* type = "counter") {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
        << name << " " << num(v) << "\n";
  };
  counter("fstore_redis_errors_total", "Redis commands or connections that failed.", redis_errors.load());
  counter("fstore_redis_reconnects_total", "Reconnections of the read-path Redis connections.", redis_reconnects.load());
  counter("fstore_pg_errors_total", "PostgreSQL calls that failed for reasons other than user input.", pg_errors.load());
  counter("fstore_http_connections_accepted_total", "Client connections accepted.", connections_accepted.load());
  counter("fstore_http_connections_rejected_total", "Client connections closed at once (over --max-connections).", connections_rejected.load());
  counter("fstore_http_connections_open", "Client connections open now.", connections_open.load(), "gauge");
  counter("fstore_http_requests_in_flight", "Requests being handled now.", requests_in_flight.load(), "gauge");
  counter("fstore_http_bad_requests_total", "Malformed or oversized HTTP requests.", bad_requests.load());
  counter("fstore_http_timeouts_total", "Connections closed by a read, idle or write timeout.", timeouts.load());
  counter("fstore_registry_reloads_total", "Registry loads from PostgreSQL.", registry_reloads.load());
  counter("fstore_token_lookups_total", "Token checks that queried PostgreSQL (cache misses).", token_lookups.load());
  for (const auto& s : extra)
    out << "# HELP " << s.name << " " << s.help << "\n# TYPE " << s.name << " " << s.type << "\n"
        << s.name << " " << num(s.value) << "\n";
  return out.str();
}

}  // namespace fstore::server
