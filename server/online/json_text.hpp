// Small helpers to write JSON text by hand on the hot path: escaped strings, spliced values and
// RFC 3339 timestamps. Values from Redis are JSON fragments written by PostgreSQL's to_jsonb; they
// are spliced verbatim (numbers keep their exact digits) after a syntax check.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fstore::server {

// Appends `s` as a JSON string literal (quotes and escapes included).
void append_json_string(std::string& out, std::string_view s);

// Appends a JSON fragment from Redis: verbatim when it is valid JSON, else as a JSON string.
void append_json_fragment(std::string& out, std::string_view fragment);

// Microseconds since the Unix epoch as RFC 3339 UTC: 2024-05-01T12:00:00Z, or with .ffffff
// when the fraction is not zero; the infinities (INT64_MIN / INT64_MAX) as "-infinity" / "infinity".
std::string format_timestamp_us(int64_t micros);

// Parses a decimal integer (optionally signed) entirely; false otherwise.
bool parse_int64(std::string_view s, int64_t& out);

}  // namespace fstore::server
