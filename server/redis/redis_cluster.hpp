// The read path's Redis Cluster client (--redis redis+cluster://...): the slot map from CLUSTER
// SLOTS, one pipeline (redis/redis_pipeline.hpp) per master node and I/O loop, each batch split by
// node and its replies put back in order. A MOVED or ASK reply is followed once (ASKING before the
// retried command) and a MOVED, a lost connection or a failover makes the map be read again; the
// map is also re-read every few seconds. Keys are the single-Redis keys: the slot is the key's.
#pragma once

#include "http/io_loops.hpp"
#include "metrics.hpp"
#include "redis/cluster_slots.hpp"
#include "redis/redis_pipeline.hpp"
#include "redis/redis_url.hpp"

#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace fstore::server {

class RedisCluster : public std::enable_shared_from_this<RedisCluster> {
 public:
  RedisCluster(IoLoops& loops, RedisEndpoint endpoint, Metrics& metrics, std::chrono::milliseconds timeout);
  void start();
  void stop();
  // Same contract as RedisClient::submit: `count` RESP commands, one callback with every reply.
  void submit(std::string commands, size_t count, RedisCallback done);
  // The slot map is known and every master has a connected pipeline.
  bool connected() const;
  std::string last_error() const;

 private:
  struct Batch;
  struct Loop {
    std::map<std::string, std::shared_ptr<RedisPipeline>> pipes;  // by "host:port"
  };
  void dispatch(size_t loop, std::string commands, size_t count, RedisCallback done);
  void send(size_t loop, const std::shared_ptr<Batch>& batch, const std::vector<size_t>& which, bool retry);
  void finish(size_t loop, const std::shared_ptr<Batch>& batch);
  RedisPipeline* pipe(size_t loop, const std::string& host, int port);
  void ensure_pipes(size_t loop, const std::shared_ptr<const SlotMap>& map);
  std::shared_ptr<const SlotMap> map() const;
  void request_refresh();
  void refresh();
  void schedule_refresh(std::chrono::milliseconds after);
  void set_error(const std::string& e);

  IoLoops& loops_;
  RedisEndpoint endpoint_;
  Metrics& metrics_;
  std::chrono::milliseconds timeout_;
  std::vector<Loop> per_loop_;  // per_loop_[i] is only touched on loop i
  boost::asio::steady_timer refresh_timer_;  // on loop 0, like the refresh itself
  bool refreshing_ = false;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point last_refresh_{};
  mutable std::mutex mu_;  // guards map_, all_, last_error_
  std::shared_ptr<const SlotMap> map_;
  std::vector<std::shared_ptr<RedisPipeline>> all_;
  std::string last_error_;
};

}  // namespace fstore::server
