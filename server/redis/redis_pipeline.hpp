// The read path's Redis client: a few connections, each pipelining the commands of every session
// that uses it. Sessions submit a batch of commands with a completion; the connection appends it to
// one output buffer that goes out in a single write once the handlers ready now have run (or when
// the write in flight ends), and hands replies back in order (hiredis formats commands and parses
// replies; Boost.Asio does I/O). Each connection lives on one I/O loop (http/io_loops.hpp) and a
// session uses a connection of its own loop, so a lookup never crosses threads. A rediss:// endpoint
// runs the same over TLS (redis/redis_tls.hpp): the handshake follows the TCP connect.
#pragma once

#include "http/io_loops.hpp"
#include "metrics.hpp"
#include "redis/redis_url.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

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
  // Queues `count` commands (already in RESP in `commands`); `done` runs on this connection's loop
  // (at once, on the caller's stack, when called there and Redis is not connected).
  void submit(std::string commands, size_t count, RedisCallback done);
  bool connected() const { return connected_.load(); }
  std::string last_error() const;
  const RedisEndpoint& endpoint() const { return endpoint_; }
  std::string address() const { return endpoint_.host + ":" + std::to_string(endpoint_.port); }

 private:
  struct Pending {
    size_t count;
    RedisCallback done;
    std::vector<RedisValue> replies;
    std::chrono::steady_clock::time_point since;
  };
  void enqueue(std::string& commands, size_t count, RedisCallback& done);
  void schedule_flush();
  void do_resolve();
  void on_connect(const boost::system::error_code& ec);
  void on_ready();
  void do_write();
  void do_read();
  void on_read(const boost::system::error_code& ec, size_t n);
  void fail(const std::string& error);
  void schedule_reconnect();
  void start_watchdog();

  boost::asio::io_context& ioc_;
  boost::asio::io_context::executor_type loop_;  // one thread runs it: serializes like a strand
  using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;
  using TlsStream = boost::asio::ssl::stream<Socket&>;
  Socket socket_;
  std::shared_ptr<boost::asio::ssl::context> tls_context_;  // rediss:// only
  // The TLS session of the current connection (null without TLS); a new one per connection,
  // kept alive by the handlers of its operations until they ran.
  std::shared_ptr<TlsStream> tls_;
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
  bool flush_posted_ = false;  // a flush is queued behind the handlers ready now
  std::deque<Pending> pending_;
  std::vector<char> read_buf_;
  std::atomic<bool> connected_{false};
  bool stopped_ = false;
  bool reported_down_ = false;
  uint64_t generation_ = 0;  // bumps on every (re)connect so stale completions are ignored
  std::string last_error_;
  mutable std::mutex error_mutex_;
};

// A few pipelines, at least one per I/O loop (connection i lives on loop i % loops). A submit
// from a loop's thread goes to a connected pipeline of that loop; from any other thread, or when
// none of the loop's is connected, to any connected one, round robin.
class RedisCluster;

// With a redis+cluster:// endpoint every call goes to a RedisCluster (redis/redis_cluster.hpp).
class RedisClient {
 public:
  RedisClient(IoLoops& loops, const RedisEndpoint& endpoint, int connections,
              Metrics& metrics, std::chrono::milliseconds timeout);
  void start();
  void stop();
  void submit(std::string commands, size_t count, RedisCallback done);
  bool connected() const;
  std::string last_error() const;

 private:
  std::shared_ptr<RedisCluster> cluster_;
  std::vector<std::shared_ptr<RedisPipeline>> pipelines_;
  std::vector<std::vector<RedisPipeline*>> by_loop_;  // the pipelines of each loop
  std::atomic<size_t> next_{0};
};

}  // namespace fstore::server
