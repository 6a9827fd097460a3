// A Redis Cluster of a test's own (tests/harness/stack.sh redis-cluster-start: 3 masters + 3
// replicas on loopback; with a TestCerts directory TLS only), and what its masters hold for a
// view, read node by node with plain connections (not through fstore's cluster client).
#pragma once

#include "support/stack.hpp"
#include "support/sync_check.hpp"
#include "sync/redis_link.hpp"

#include <sstream>
#include <string>
#include <vector>

namespace fstore::testing {

class RedisClusterNodes {
 public:
  explicit RedisClusterNodes(std::string tls_certs = "") : certs_(std::move(tls_certs)) {
    run_command(source_dir() + "/tests/harness/stack.sh redis-cluster-start " + dir_.path() + " " + certs_);
    std::istringstream in(run_command("cat " + dir_.path() + "/ports"));
    for (int p; in >> p;) ports_.push_back(p);
  }
  ~RedisClusterNodes() {
    try { run_command(source_dir() + "/tests/harness/stack.sh redis-cluster-stop " + dir_.path()); } catch (...) {}
  }
  std::string url() const {
    return std::string(certs_.empty() ? "redis" : "rediss") + "+cluster://127.0.0.1:" + std::to_string(ports_[0]) +
           ",127.0.0.1:" + std::to_string(ports_[1]) + tls_query();
  }
  // The URL of node `port` alone.
  std::string node_url(int port) const {
    return std::string(certs_.empty() ? "redis" : "rediss") + "://127.0.0.1:" + std::to_string(port) + tls_query();
  }
  // redis-cli against node `port` (-c: follows redirects).
  std::string cli(int port, const std::string& args) const {
    return run_command(redis_cli() + " -c -p " + std::to_string(port) + " " + args + " 2>&1");
  }
  // redis-cli against node `port`, redirects not followed.
  std::string raw(int port, const std::string& args) const {
    return run_command(redis_cli() + " -p " + std::to_string(port) + " " + args + " 2>&1");
  }
  const std::vector<int>& ports() const { return ports_; }
  std::string dir() const { return dir_.path(); }

  // The ports of the nodes that answer ROLE as masters now (a dead node is none).
  std::vector<int> masters() const {
    std::vector<int> out;
    for (int p : ports_) {
      try {
        fstore::sync::RedisLink link(fstore::sync::redis_link_endpoint(node_url(p)));
        auto r = link.command({"ROLE"});
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && fstore::sync::reply_text(r->element[0]) == "master")
          out.push_back(p);
      } catch (const std::exception&) {
      }
    }
    return out;
  }
  // Everything the masters hold for `view`.
  Store view(const std::string& view) const {
    Store out;
    for (int p : masters()) out.merge(redis_view_at(node_url(p), view));
    return out;
  }

 private:
  std::string tls_query() const { return certs_.empty() ? "" : "?cacert=" + certs_ + "/ca.pem"; }
  std::string redis_cli() const { return certs_.empty() ? "redis-cli" : "redis-cli --tls --cacert " + certs_ + "/ca.pem"; }

  std::string certs_;  // TestCerts directory, or empty: no TLS
  TempDir dir_;
  std::vector<int> ports_;
};

}  // namespace fstore::testing
