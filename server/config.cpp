#include "config.hpp"

#include <charconv>
#include <sstream>

namespace fstore::server {

namespace {

// One option: its name, value placeholder (empty for a flag), help line and how it is stored.
struct OptionSpec {
  const char* name;
  const char* value;
  const char* help;
  std::function<bool(Config&, const std::string&)> set;
};

// Parses a positive integer in [lo, hi] into out; false otherwise.
template <typename T>
bool parse_int(const std::string& text, T& out, long long lo, long long hi) {
  long long v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < lo || v > hi) return false;
  out = static_cast<T>(v);
  return true;
}

// Parses a byte size such as 1048576, 64k, 1M or 32MiB.
bool parse_size(const std::string& text, size_t& out) {
  size_t i = 0;
  while (i < text.size() && isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 12) return false;
  unsigned long long v = std::stoull(text.substr(0, i));
  std::string unit = text.substr(i);
  for (auto& c : unit) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  if (unit.empty() || unit == "b") {}
  else if (unit == "k" || unit == "kb" || unit == "kib") v <<= 10;
  else if (unit == "m" || unit == "mb" || unit == "mib") v <<= 20;
  else if (unit == "g" || unit == "gb" || unit == "gib") v <<= 30;
  else return false;
  if (v == 0) return false;
  out = static_cast<size_t>(v);
  return true;
}

const std::vector<OptionSpec>& specs() {
  static const std::vector<OptionSpec> all = {
      {"--pg", "URL", "PostgreSQL connection URL (env FSTORE_PG); required",
       [](Config& c, const std::string& v) { c.pg_url = v; return !v.empty(); }},
      {"--redis", "URL", "Redis URL redis://[:password@]host:port[/db], rediss://... for TLS (?cacert=FILE&cert=FILE&key=FILE), or redis+cluster://host:port[,host:port...] (rediss+cluster:// with TLS) for a Redis Cluster (env FSTORE_REDIS); required",
       [](Config& c, const std::string& v) { c.redis_url = v; return !v.empty(); }},
      {"--listen", "HOST:PORT", "address to serve HTTP on (env FSTORE_LISTEN; default 127.0.0.1:8080)",
       [](Config& c, const std::string& v) { return parse_host_port(v, c.listen_host, c.listen_port); }},
      {"--threads", "N", "HTTP worker threads (default: number of cores)",
       [](Config& c, const std::string& v) { return parse_int(v, c.threads, 1, 256); }},
      {"--no-auth", "", "serve without bearer tokens (local work only; announced at start)",
       [](Config& c, const std::string&) { c.no_auth = true; return true; }},
      {"--no-sync", "", "do not run the sync worker in this process (/ready then ignores it)",
       [](Config& c, const std::string&) { c.no_sync = true; return true; }},
      {"--no-streams", "", "do not consume the stream sources of fstore.stream_sources in this process",
       [](Config& c, const std::string&) { c.no_streams = true; return true; }},
      {"--redis-connections", "N", "pipelined Redis connections for the read path (default 2)",
       [](Config& c, const std::string& v) { return parse_int(v, c.redis_connections, 1, 64); }},
      {"--redis-timeout-ms", "MS", "a Redis reply slower than this resets the connection (default 2000)",
       [](Config& c, const std::string& v) { return parse_int(v, c.redis_timeout_ms, 10, 600000); }},
      {"--pg-connections", "N", "PostgreSQL connections for ingest and token lookups (default 2)",
       [](Config& c, const std::string& v) { return parse_int(v, c.pg_connections, 1, 64); }},
      {"--pg-queue-limit", "N", "PostgreSQL jobs allowed to wait before answering 503 (default 256)",
       [](Config& c, const std::string& v) { return parse_int(v, c.pg_queue_limit, 1, 1000000); }},
      {"--max-body", "BYTES", "request body limit, 413 above it (default 1MiB; k/M/G suffixes)",
       [](Config& c, const std::string& v) { return parse_size(v, c.max_body_bytes); }},
      {"--max-ingest-body", "BYTES", "request body limit of POST /ingest (default 32MiB)",
       [](Config& c, const std::string& v) { return parse_size(v, c.max_ingest_body_bytes); }},
      {"--max-header", "BYTES", "request line + headers limit, 431 above it (default 16KiB)",
       [](Config& c, const std::string& v) { return parse_size(v, c.max_header_bytes); }},
      {"--max-entities", "N", "entity rows per /get-online-features request, 413 above (default 1000)",
       [](Config& c, const std::string& v) { return parse_int(v, c.max_entities, 1, 10000000); }},
      {"--max-features", "N", "feature references per request, 413 above (default 500)",
       [](Config& c, const std::string& v) { return parse_int(v, c.max_features, 1, 100000); }},
      {"--max-connections", "N", "open client connections; more are closed at once (default 10000)",
       [](Config& c, const std::string& v) { return parse_int(v, c.max_connections, 1, 1000000); }},
      {"--max-requests-per-connection", "N",
       "requests served on one keep-alive connection before it is closed (default 100000)",
       [](Config& c, const std::string& v) { return parse_int(v, c.max_requests_per_connection, 1, 1LL << 40); }},
      {"--read-timeout-ms", "MS", "time to receive one request's headers and body (default 10000)",
       [](Config& c, const std::string& v) { return parse_int(v, c.read_timeout_ms, 10, 3600000); }},
      {"--idle-timeout-ms", "MS", "idle keep-alive connections are closed after this (default 60000)",
       [](Config& c, const std::string& v) { return parse_int(v, c.idle_timeout_ms, 10, 3600000); }},
      {"--write-timeout-ms", "MS", "time to send one response (default 10000)",
       [](Config& c, const std::string& v) { return parse_int(v, c.write_timeout_ms, 10, 3600000); }},
      {"--drain-timeout-ms", "MS", "on SIGTERM, time allowed for in-flight requests (default 15000)",
       [](Config& c, const std::string& v) { return parse_int(v, c.drain_timeout_ms, 0, 3600000); }},
      {"--token-cache-ms", "MS", "how long a token lookup is cached (default 2000)",
       [](Config& c, const std::string& v) { return parse_int(v, c.token_cache_ms, 0, 60000); }},
      {"--ui-dir", "DIR", "the built web UI served at /ui/ (env FSTORE_UI_DIR; default: ui/ beside the executable)",
       [](Config& c, const std::string& v) { c.ui_dir = v; return !v.empty(); }},
      {"--tls-cert", "FILE", "PEM certificate (chain) to serve HTTPS with, TLS 1.2 and 1.3 only; needs --tls-key",
       [](Config& c, const std::string& v) { c.tls_cert = v; return !v.empty(); }},
      {"--tls-key", "FILE", "PEM private key of --tls-cert (not encrypted)",
       [](Config& c, const std::string& v) { c.tls_key = v; return !v.empty(); }},
  };
  return all;
}

}  // namespace

bool parse_host_port(const std::string& text, std::string& host, uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 >= text.size()) return false;
  std::string h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) h = "0.0.0.0";
  uint16_t p = 0;
  if (!parse_int(text.substr(colon + 1), p, 0, 65535)) return false;
  host = h;
  port = p;
  return true;
}

std::string redact_url(const std::string& url) {
  auto scheme = url.find("://");
  auto start = scheme == std::string::npos ? 0 : scheme + 3;
  auto at = url.find('@', start);
  if (at == std::string::npos) return url;
  auto colon = url.find(':', start);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

std::string usage() {
  std::ostringstream out;
  out << "usage: fstore-server --pg URL --redis URL [--listen 127.0.0.1:8080] [--threads N] [--no-auth]\n"
         "                     [--tls-cert FILE --tls-key FILE]\n"
         "\nServes fstore's online features over HTTP (see docs/http-api.md, docs/operations.md).\n\n"
         "options:\n";
  for (const auto& s : specs()) {
    std::string left = std::string("  ") + s.name + (s.value[0] ? std::string(" ") + s.value : "");
    if (left.size() < 34) left.resize(34, ' ');
    else left += "\n" + std::string(34, ' ');
    out << left << s.help << "\n";
  }
  out << "  --help                          print this help and exit\n"
         "\nenvironment: FSTORE_PG, FSTORE_REDIS, FSTORE_LISTEN, FSTORE_UI_DIR (options win over them).\n"
         "exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 2 for bad options.\n"
         "Unreachable PostgreSQL or Redis at start is reported on stderr and retried; /ready answers 503 meanwhile.\n";
  return out.str();
}

ParseResult parse_config(const std::vector<std::string>& args,
                         const std::function<const char*(const char*)>& getenv_fn) {
  ParseResult result;
  Config config;
  if (const char* v = getenv_fn("FSTORE_PG"); v && *v) config.pg_url = v;
  if (const char* v = getenv_fn("FSTORE_REDIS"); v && *v) config.redis_url = v;
  if (const char* v = getenv_fn("FSTORE_UI_DIR"); v && *v) config.ui_dir = v;
  if (const char* v = getenv_fn("FSTORE_LISTEN"); v && *v) {
    if (!parse_host_port(v, config.listen_host, config.listen_port)) {
      result.error = std::string("FSTORE_LISTEN: expected HOST:PORT, got '") + v + "'";
      return result;
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i], value;
    bool inline_value = false;
    if (name == "--help" || name == "-h") { result.help = true; return result; }
    if (auto eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    const OptionSpec* spec = nullptr;
    for (const auto& s : specs()) if (name == s.name) spec = &s;
    if (!spec) { result.error = "unknown option '" + name + "' (see --help)"; return result; }
    if (spec->value[0] && !inline_value) {
      if (i + 1 >= args.size()) { result.error = name + " needs a value " + spec->value; return result; }
      value = args[++i];
    } else if (!spec->value[0] && inline_value) {
      result.error = name + " takes no value"; return result;
    }
    if (!spec->set(config, value)) {
      result.error = "bad value '" + value + "' for " + name + " (expected " + spec->value + ")";
      return result;
    }
  }
  if (config.pg_url.empty()) { result.error = "missing --pg URL (or FSTORE_PG)"; return result; }
  if (config.redis_url.empty()) { result.error = "missing --redis URL (or FSTORE_REDIS)"; return result; }
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    result.error = config.tls_cert.empty() ? "--tls-key needs --tls-cert FILE" : "--tls-cert needs --tls-key FILE";
    return result;
  }
  result.config = config;
  return result;
}

}  // namespace fstore::server
