// The online read path without I/O: validating requests, resolving feature references against a
// registry snapshot, building the Redis commands, and turning Redis replies into the JSON
// responses of GET /features/{view}/{entity_key} and POST /get-online-features.
#pragma once

#include "online/answer_counters.hpp"
#include "redis/redis_pipeline.hpp"
#include "registry/registry.hpp"
#include "transform/fitted_service.hpp"

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

// The one entity key parser of every route: the key's text form in Redis (PostgreSQL's
// key::text) from a JSON value of a request body. Accepted forms, by join key type:
//   bigint/integer/smallint: a JSON integer (1001) or a string of one ("1001", "-7", "007" = 7),
//     in the type's range; never a fraction or exponent (1001.0, "1001.0", 1e3 are refused);
//   text: a string as given, or a JSON integer (1001 is the key "1001", as fstore.ingest stores it);
//   uuid: a string in any form PostgreSQL reads (upper case, braces, no hyphens), printed canonically.
// Anything else (null, booleans, floats, arrays, objects, NUL bytes) is nullopt with `error` set.
std::optional<std::string> key_text_from_json(const nlohmann::ordered_json& value, const std::string& key_type,
                                              std::string& error);
// The same for a key given as text (a URL path segment): exactly as the JSON string of that text,
// so GET /features/{view}/{key} and POST /get-online-features accept and refuse the same keys.
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

// Resolves references (view:feature or view:*, parsed by fstore::parse_feature_ref) into features.
// Malformed ("v:a:b", "v", bad names): 400 bad_request; unknown or archived: 404; two features
// with one output name (without full_feature_names): 400 duplicate_feature naming both.
// Drafts are served when named explicitly, never through view:*.
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
  // Transformations (0.2.0): with "feature_service" and "transform" ('latest' or a version).
  std::string service;
  std::optional<std::string> transform;
  bool full_feature_names = false;
  std::shared_ptr<const online::FittedService> fitted;  // set before encoding when transform is

  size_t command_count() const { return groups.size() * rows; }
  // Every HMGET of the plan in RESP, group by group, row by row.
  std::string commands() const;
};

// Parses and validates the body, resolves features and keys. nullopt on success.
std::optional<ApiError> plan_online_request(std::shared_ptr<const Registry> registry, const std::string& body,
                                            const Limits& limits, OnlinePlan& plan);

// The column-major response from the plan's replies (one HMGET reply per group and row, in order).
// Fails (returns nullopt) only when Redis answered something that is not an HMGET reply. With a
// fitted service, each transformed feature's column is replaced by its output columns, computed
// by common/transform.cpp from the same inputs a training set sees (a value not found or outside
// the ttl is NULL there too), and metadata.transform_version names the version; throws
// transform::UnknownCategory where a spec refuses unseen categories. With `answers`, counts each
// cell's status per feature (once per cell, also for a transformed feature).
std::optional<std::string> encode_online_response(const OnlinePlan& plan, const std::vector<RedisValue>& replies,
                                                  int64_t now_us, AnswerCounters* answers = nullptr);

// HMGET arguments for one entity of one view: key, @event_ts, then the features' names.
std::string hmget_command(const std::string& key, const std::vector<const Feature*>& features);

// One cell: status, value fragment and event time.
struct Cell {
  const char* status;
  AnswerStatus kind;
  std::string_view value;  // JSON fragment; empty means null
  int64_t event_us;        // 0 when not found
};
// Evaluates feature `i` (0-based, after @event_ts) of an HMGET reply.
// OUTSIDE_MAX_AGE when event_ts < now - ttl by fstore::add_interval_utc (the training sets' rule).
Cell evaluate_cell(const RedisValue& reply, size_t i, const std::optional<fstore::Interval>& ttl, int64_t now_us);

// True when a row of `event_unix_us` (Unix microseconds, as in Redis) is older than `ttl` at
// `now_unix_us`: event < now - ttl, computed in UTC by fstore::add_interval_utc.
bool outside_max_age(int64_t event_unix_us, const fstore::Interval& ttl, int64_t now_unix_us);

// The body of GET /features/{view}/{entity_key}; nullopt when the entity is not in Redis. With
// `answers`, counts each feature's status (NOT_FOUND for every feature when the entity is missing).
std::optional<std::string> encode_entity_response(const FeatureView& view, const std::string& key_text,
                                                  const std::vector<const Feature*>& features,
                                                  const RedisValue& reply, int64_t now_us,
                                                  AnswerCounters* answers = nullptr);

// The error body {"error": {"code", "message"}}.
std::string error_body(const std::string& code, const std::string& message);

}  // namespace fstore::server
