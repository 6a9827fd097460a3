// How a PostgreSQL error of POST /ingest becomes an answer the client can act on: the status, our
// error code, a message (PostgreSQL's own first line only where it is fstore's or names the
// client's data), and whether the statement should be tried once more. Never a 500 with
// PostgreSQL's internals for a client's mistake.
#pragma once

#include <string>

namespace fstore::server {

struct IngestError {
  unsigned status;
  std::string code;
  std::string message;
  bool retry = false;  // 40001/40P01: rolled back, safe to run once more
};

// Maps a SQLSTATE and error text of fstore.ingest on `view`:
//   class 22 (data exception), class 23 (constraint) -> 422 validation_failed, PostgreSQL's first line
//   54000/54001 (a value or nesting over a PostgreSQL limit) -> 413 too_large
//   40001/40P01 (serialization failure, deadlock) -> retried once, then 503 conflict
//   57014 (statement_timeout) -> 503 pg_timeout;  42501 -> 403 forbidden;  42704 -> 404 not_found
//   class 08, 57P01-57P03 -> 503 pg_unavailable;  class 53 -> 503 overloaded
//   anything else -> 500 internal naming only the SQLSTATE (details go to the server log)
IngestError map_ingest_error(const std::string& sqlstate, const std::string& what, const std::string& view);

// The first line of a PostgreSQL error message, without "ERROR:" and without CONTEXT/LINE/QUERY.
std::string pg_first_line(const std::string& what);

}  // namespace fstore::server
