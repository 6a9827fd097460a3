// The one Redis URL parser of fstore-server: the read path and the sync worker both connect with
// what it returns, so a URL that works for one works for the other.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace fstore::server {

// Where and how to reach Redis.
struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;      // empty: AUTH with the password only (the default user)
  std::string password;  // empty: no AUTH
  int db = 0;
  // redis+cluster://: the nodes to ask for the slot map (host and port above are the first).
  bool cluster = false;
  std::vector<std::pair<std::string, int>> seeds;
  // rediss:// (and rediss+cluster://): TLS 1.2+, the server's certificate verified against
  // tls_ca (empty: the system's trusted CAs) and the URL's host; a client certificate when
  // tls_cert and tls_key are set (Redis' tls-auth-clients).
  bool tls = false;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
};

// Parses redis://[[user]:password@]host[:port][/db] (or the same without "redis://"), and
// redis+cluster://[[user]:password@]host[:port][,host[:port]...] for a Redis Cluster (no db: a
// cluster has only database 0). rediss:// and rediss+cluster:// are the same over TLS, and only
// they take a query: ?cacert=FILE&cert=FILE&key=FILE (each optional, percent-decoded).
// user and password are percent-decoded (%40 for '@', %3A for ':'); the host may be an IPv6
// address in brackets; port 1..65535; db 0..1000000. Returns false and sets `error` (when given)
// on anything else: another scheme, an empty host, a bad port or db, an unknown query key or a
// query without TLS, bad %XX.
bool parse_redis_url(const std::string& url, RedisEndpoint& out, std::string* error = nullptr);

// The same, throwing std::invalid_argument with the reason (for callers that prefer exceptions).
RedisEndpoint parse_redis_url(const std::string& url);

}  // namespace fstore::server
