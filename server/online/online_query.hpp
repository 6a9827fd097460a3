// The online read path without I/O: validating requests, resolving feature references against a
// registry snapshot, building the Redis commands, and turning Redis replies into the JSON
// responses of GET /features/{view}/{entity_key} and POST /get-online-features.
#pragma once

#include "redis/redis_pipeline.hpp"
#include "registry/registry.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace fstore::server {

// An error to answer with: HTTP status, error code and message.
struct ApiError {
  unsigned status = 400;
  std::string code;
  std::string message;
};

// The key's text form in Redis (PostgreSQL's key::text) from a JSON value of the request.
// Integers: decimal; strings: as given (uuid: canonical lower case); nullopt + error otherwise.
std::optional<std::string> key_text_from_json(const nlohmann::ordered_json& value, const std::string& key_type,
                                              std::string& error);
// The same from text (a URL path segment).
std::optional<std::string> key_text_from_string(std::string_view value, const std::string& key_type,
                                                std::string& error);
// True for join key types whose keys are JSON numbers (bigint, integer, smallint).
bool integer_key_type(const std::string& key_type);

// Redis key of one entity of one view: fstore:v1:<view>:<key text>.
std::string redis_key(const std::string& view, const std::string& key_text);

// One feature to serve and its output column name.
struct ServedFeature {
  const FeatureView* view;
  const Feature* feature;
  std::string column;
};

// Resolves references (view:feature or view:*) into features. Unknown or archived: 404; malformed: 400.
// `explicit_drafts`: drafts are served when named explicitly.
std::optional<ApiError> resolve_features(const Registry& registry, const std::vector<std::string>& refs,
                                         bool full_feature_names, std::vector<ServedFeature>& out);

// Warnings for deprecated features among `features` (one string each).
std::vector<std::string> deprecation_warnings(const std::vector<ServedFeature>& features);

struct Limits {
  size_t max_entities = 1000;
  size_t max_features = 500;
};

// A validated POST /get-online-features request with its Redis plan.
struct OnlinePlan {
  struct KeyColumn {
    std::string name;
    std::vector<nlohmann::ordered_json> values;
  };
  struct ViewGroup {
    const FeatureView* view;
    std::vector<size_t> features;          // indexes into `features`
    std::vector<std::string> keys;         // Redis key per entity row
  };
  std::shared_ptr<const Registry> registry;  // keeps the pointers below valid
  std::vector<KeyColumn> key_columns;        // as in the request, in its order
  std::vector<ServedFeature> features;
  std::vector<ViewGroup> groups;
  size_t rows = 0;

  size_t command_count() const { return groups.size() * rows; }
  // Every HMGET of the plan in RESP, group by group, row by row.
  std::string commands() const;
};

// Parses and validates the body, resolves features and keys. nullopt on success.
std::optional<ApiError> plan_online_request(std::shared_ptr<const Registry> registry, const std::string& body,
                                            const Limits& limits, OnlinePlan& plan);

// The column-major response from the plan's replies (one HMGET reply per group and row, in order).
// Fails (returns nullopt) only when Redis answered something that is not an HMGET reply.
std::optional<std::string> encode_online_response(const OnlinePlan& plan, const std::vector<RedisValue>& replies,
                                                  int64_t now_us);

// HMGET arguments for one entity of one view: key, @event_ts, then the features' names.
std::string hmget_command(const std::string& key, const std::vector<const Feature*>& features);

// One cell: status, value fragment and event time.
struct Cell {
  const char* status;
  std::string_view value;  // JSON fragment; empty means null
  int64_t event_us;        // 0 when not found
};
// Evaluates feature `i` (0-based, after @event_ts) of an HMGET reply.
Cell evaluate_cell(const RedisValue& reply, size_t i, const std::optional<double>& ttl_seconds, int64_t now_us);

// The body of GET /features/{view}/{entity_key}; nullopt when the entity is not in Redis.
std::optional<std::string> encode_entity_response(const FeatureView& view, const std::string& key_text,
                                                  const std::vector<const Feature*>& features,
                                                  const RedisValue& reply, int64_t now_us);

// The error body {"error": {"code", "message"}}.
std::string error_body(const std::string& code, const std::string& message);

}  // namespace fstore::server
