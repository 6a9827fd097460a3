// Prometheus metrics of fstore-server: request counts and latency histograms per route and status,
// error counters of Redis and PostgreSQL, and gauges filled in at scrape time.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace fstore::server {

// The routes, as metric labels (the path templates of API.md).
enum class Route : int {
  health, ready, metrics, entity_features, online_features, ingest, groups, features,
  feature_metadata, statistics, monitoring, lineage, history,
  create_entity, create_feature_view, add_features, set_feature_status, create_feature_service, ui, other, count_
};
const char* route_label(Route route);

class Metrics {
 public:
  static constexpr std::array<double, 14> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                      1,      5};

  // Counts one answered request and its latency.
  void observe_request(Route route, int status, double seconds);

  // A gauge or counter computed at scrape time (name, help, type, value).
  struct Sample {
    std::string name, help, type;
    double value;
  };

  // The whole exposition text, with `extra` samples appended.
  std::string render(const std::vector<Sample>& extra) const;

  std::atomic<uint64_t> redis_errors{0};        // failed Redis commands / connections
  std::atomic<uint64_t> redis_reconnects{0};
  std::atomic<uint64_t> pg_errors{0};           // failed PostgreSQL calls (not user errors)
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_rejected{0};  // over --max-connections
  std::atomic<int64_t> connections_open{0};
  std::atomic<int64_t> requests_in_flight{0};
  std::atomic<uint64_t> bad_requests{0};        // malformed HTTP (parse errors, limits)
  std::atomic<uint64_t> timeouts{0};            // connections closed by read/idle/write timeouts
  std::atomic<uint64_t> registry_reloads{0};
  std::atomic<uint64_t> token_lookups{0};       // token checks that went to PostgreSQL

 private:
  struct Series {
    uint64_t count = 0;
    double sum = 0;
    std::array<uint64_t, kBuckets.size()> buckets{};
  };
  mutable std::mutex mutex_;
  std::map<std::pair<int, int>, Series> series_;  // (route, status)
};

}  // namespace fstore::server
