// Request JSON with a nesting limit. nlohmann's parser itself is iterative, but copying and
// walking a DOM recurses, and PostgreSQL's jsonb input stops at its own stack limit (54001):
// every request body is checked against kMaxJsonDepth while it is parsed, before anything else
// sees it, so a 100,000-deep body is a 400 and never a crash.
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

namespace fstore::server {

// Deepest nesting of arrays and objects a request body may have ([[1]] is 2).
constexpr int kMaxJsonDepth = 400;

enum class JsonCheck { ok, invalid, too_deep };

// Parses `text` into `out` (ordered, as the request gave it), refusing more than `max_depth`
// levels while parsing. `out` is unspecified unless the result is ok.
JsonCheck parse_json_limited(std::string_view text, nlohmann::ordered_json& out, int max_depth = kMaxJsonDepth);

// Checks that `text` is valid JSON no deeper than `max_depth`, without building a DOM
// (one SAX pass; for bodies handed on as text, such as POST /ingest's to fstore.ingest).
JsonCheck check_json(std::string_view text, int max_depth = kMaxJsonDepth);

// The error message for a body over the limit.
const char* json_too_deep_message();

}  // namespace fstore::server
