// fstore-server options: parsed from the command line and the environment (FSTORE_PG, FSTORE_REDIS,
// FSTORE_LISTEN), with every limit given a sane default and listed by --help.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace fstore::server {

struct Config {
  std::string pg_url;
  std::string redis_url;
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8080;
  int threads = 0;                       // 0: one per core
  bool no_auth = false;
  bool no_sync = false;
  bool no_streams = false;  // (0.2.0) do not consume stream sources
  // Redis read path.
  int redis_connections = 2;             // pipelined connections shared by all sessions
  int redis_timeout_ms = 2000;           // a reply older than this marks the connection dead
  // PostgreSQL (ingest, token lookups).
  int pg_connections = 2;
  int pg_queue_limit = 256;              // waiting PostgreSQL jobs before 503
  // HTTP hardening.
  size_t max_body_bytes = 1 << 20;       // every route but /ingest
  size_t max_ingest_body_bytes = 32 << 20;
  size_t max_header_bytes = 16 << 10;    // request line + headers
  size_t max_entities = 1000;            // entity rows per /get-online-features
  size_t max_features = 500;             // feature references per request
  size_t max_connections = 10000;
  size_t max_requests_per_connection = 100000;
  int read_timeout_ms = 10000;           // to read one request's headers and body
  int idle_timeout_ms = 60000;           // between requests on a keep-alive connection
  int write_timeout_ms = 10000;
  int drain_timeout_ms = 15000;          // SIGTERM: time allowed for in-flight requests
  int token_cache_ms = 2000;             // how long a token lookup is trusted
  std::string ui_dir;                    // (0.2.0) the built web UI; empty: <executable dir>/ui
  std::string tls_cert;                  // (0.2.0) PEM certificate chain: HTTPS only when set
  std::string tls_key;                   // (0.2.0) its PEM private key (both or neither)
};

// Outcome of parsing: a config, or a help text to print (exit 0), or an error (exit 2).
struct ParseResult {
  std::optional<Config> config;
  bool help = false;
  std::string error;
};

// Parses argv (argv[0] skipped) over defaults taken from the environment lookup `getenv_fn`.
ParseResult parse_config(const std::vector<std::string>& args,
                         const std::function<const char*(const char*)>& getenv_fn);

// The --help text.
std::string usage();

// "host:port" into parts; false when malformed.
bool parse_host_port(const std::string& text, std::string& host, uint16_t& port);

// A URL with any password replaced by "***", for logs.
std::string redact_url(const std::string& url);

}  // namespace fstore::server
