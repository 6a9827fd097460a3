// The read path's Redis client: a few connections, each pipelining the commands of every session
// that uses it. Sessions submit a batch of commands with a completion; the connection appends it to
// one output buffer that goes out in a single write while the previous write is in flight, and
// hands replies back in order (hiredis formats commands and parses replies; Boost.Asio does I/O).
#pragma once

#include "metrics.hpp"
#include "redis/redis_url.hpp"

#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;

namespace fstore::server {

// One parsed Redis reply.
struct RedisValue {
  enum class Type { nil, string, integer, array, status, error } type = Type::nil;
  std::string str;
  long long integer = 0;
  std::vector<RedisValue> elements;
};

// Appends one command in RESP to `out` (arguments with explicit lengths; no format strings).
void append_command(std::string& out, const std::vector<std::string_view>& args);

// Called once per batch: ok=false with an error when the connection failed or timed out.
using RedisCallback = std::function<void(bool ok, std::vector<RedisValue>&& replies, const std::string& error)>;

class RedisPipeline : public std::enable_shared_from_this<RedisPipeline> {
 public:
  RedisPipeline(boost::asio::io_context& ioc, RedisEndpoint endpoint, Metrics& metrics,
                std::chrono::milliseconds timeout);
  ~RedisPipeline();

  void start();
  void stop();
  // Queues `count` commands (already in RESP in `commands`); `done` runs on this connection's strand.
  void submit(std::string commands, size_t count, RedisCallback done);
  bool connected() const { return connected_.load(); }
  std::string last_error() const;

 private:
  struct Pending {
    size_t count;
    RedisCallback done;
    std::vector<RedisValue> replies;
    std::chrono::steady_clock::time_point since;
  };
  void do_resolve();
  void on_connect(const boost::system::error_code& ec);
  void do_write();
  void do_read();
  void on_read(const boost::system::error_code& ec, size_t n);
  void fail(const std::string& error);
  void schedule_reconnect();
  void start_watchdog();

  boost::asio::io_context& ioc_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer reconnect_timer_;
  boost::asio::steady_timer watchdog_;
  RedisEndpoint endpoint_;
  Metrics& metrics_;
  std::chrono::milliseconds timeout_;
  redisReader* reader_ = nullptr;
  std::string out_;       // commands waiting for the next write
  std::string writing_;   // commands of the write in flight
  bool writing_now_ = false;
  std::deque<Pending> pending_;
  std::vector<char> read_buf_;
  std::atomic<bool> connected_{false};
  bool stopped_ = false;
  bool reported_down_ = false;
  uint64_t generation_ = 0;  // bumps on every (re)connect so stale completions are ignored
  std::string last_error_;
  mutable std::mutex error_mutex_;
};

// A few pipelines used round robin.
class RedisClient {
 public:
  RedisClient(boost::asio::io_context& ioc, const RedisEndpoint& endpoint, int connections,
              Metrics& metrics, std::chrono::milliseconds timeout);
  void start();
  void stop();
  void submit(std::string commands, size_t count, RedisCallback done);
  bool connected() const;
  std::string last_error() const;

 private:
  std::vector<std::shared_ptr<RedisPipeline>> pipelines_;
  std::atomic<size_t> next_{0};
};

}  // namespace fstore::server
