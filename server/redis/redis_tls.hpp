// The TLS client context of a rediss:// endpoint, made once per (cacert, cert, key) and shared
// by every connection to it: the read path's pipelines (one per node and loop on a cluster) and
// the sync's link.
#pragma once

#include "redis/redis_url.hpp"

#include <boost/asio/ssl/context.hpp>

#include <memory>

namespace fstore::server {

// The context for `endpoint` (which must have tls set). Throws std::runtime_error naming the
// file when the CA bundle or the client certificate cannot be used; main() calls it before
// starting so that such a mistake stops the start with that message.
std::shared_ptr<boost::asio::ssl::context> redis_tls_context(const RedisEndpoint& endpoint);

}  // namespace fstore::server
