#include "redis/redis_tls.hpp"

#include "tls_context.hpp"

#include <map>
#include <mutex>
#include <tuple>

namespace fstore::server {

std::shared_ptr<boost::asio::ssl::context> redis_tls_context(const RedisEndpoint& endpoint) {
  using Key = std::tuple<std::string, std::string, std::string>;
  static std::mutex mutex;
  static std::map<Key, std::shared_ptr<boost::asio::ssl::context>> contexts;
  Key key{endpoint.tls_ca, endpoint.tls_cert, endpoint.tls_key};
  std::lock_guard<std::mutex> lock(mutex);
  auto& ctx = contexts[key];
  if (!ctx) {
    try {
      ctx = make_client_tls_context(endpoint.tls_ca, endpoint.tls_cert, endpoint.tls_key, "rediss://");
    } catch (...) {
      contexts.erase(key);
      throw;
    }
  }
  return ctx;
}

}  // namespace fstore::server
