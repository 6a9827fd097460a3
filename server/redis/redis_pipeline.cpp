#include "redis/redis_pipeline.hpp"

#include "log.hpp"
#include "redis/redis_cluster.hpp"
#include "redis/redis_tls.hpp"
#include "tls_context.hpp"

#include <hiredis/hiredis.h>

#include <charconv>


namespace fstore::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

void append_command(std::string& out, const std::vector<std::string_view>& args) {
  // RESP by hand (*argc, then $len and the bytes of each argument): hiredis's
  // redisFormatCommandArgv formats lengths with sprintf and allocates, which showed in the profile.
  size_t size = 16;
  for (auto a : args) size += a.size() + 24;
  out.reserve(out.size() + size);
  auto number = [&out](char tag, size_t n) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, n);
    out += tag;
    out.append(buf, static_cast<size_t>(r.ptr - buf));
    out += "\r\n";
  };
  number('*', args.size());
  for (auto a : args) {
    number('$', a.size());
    out.append(a.data(), a.size());
    out += "\r\n";
  }
}

namespace {
// Copies a hiredis reply into a RedisValue.
RedisValue convert(const redisReply* r) {
  RedisValue v;
  switch (r->type) {
    case REDIS_REPLY_STRING: v.type = RedisValue::Type::string; v.str.assign(r->str, r->len); break;
    case REDIS_REPLY_STATUS: v.type = RedisValue::Type::status; v.str.assign(r->str, r->len); break;
    case REDIS_REPLY_ERROR: v.type = RedisValue::Type::error; v.str.assign(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: v.type = RedisValue::Type::integer; v.integer = r->integer; break;
    case REDIS_REPLY_ARRAY:
      v.type = RedisValue::Type::array;
      v.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(convert(r->element[i]));
      break;
    default: v.type = RedisValue::Type::nil;
  }
  return v;
}
}  // namespace

RedisPipeline::RedisPipeline(net::io_context& ioc, RedisEndpoint endpoint, Metrics& metrics,
                             std::chrono::milliseconds timeout)
    : ioc_(ioc), loop_(ioc.get_executor()), socket_(loop_), resolver_(loop_),
      reconnect_timer_(loop_), watchdog_(loop_), endpoint_(std::move(endpoint)), metrics_(metrics),
      timeout_(timeout), reader_(redisReaderCreate()), read_buf_(64 * 1024) {
  if (endpoint_.tls) tls_context_ = redis_tls_context(endpoint_);  // main() checked that it loads
}

RedisPipeline::~RedisPipeline() {
  if (reader_) redisReaderFree(reader_);
}

std::string RedisPipeline::last_error() const {
  std::lock_guard<std::mutex> lock(error_mutex_);
  return last_error_;
}

void RedisPipeline::start() {
  net::dispatch(loop_, [self = shared_from_this()] {
    self->do_resolve();
    self->start_watchdog();
  });
}

void RedisPipeline::stop() {
  net::dispatch(loop_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->reconnect_timer_.cancel();
    self->watchdog_.cancel();
    self->resolver_.cancel();
    self->fail("fstore-server is shutting down");
  });
}

void RedisPipeline::submit(std::string commands, size_t count, RedisCallback done) {
  if (loop_.running_in_this_thread()) return enqueue(commands, count, done);
  net::post(loop_, [self = shared_from_this(), commands = std::move(commands), count,
                      done = std::move(done)]() mutable { self->enqueue(commands, count, done); });
}

// On the loop: appends the commands and their completion, then makes sure a flush follows.
void RedisPipeline::enqueue(std::string& commands, size_t count, RedisCallback& done) {
  if (!connected_ || stopped_) {
    done(false, {}, "Redis is not reachable");
    return;
  }
  out_ += commands;
  pending_.push_back(Pending{count, std::move(done), {}, std::chrono::steady_clock::now()});
  pending_.back().replies.reserve(count);
  schedule_flush();
}

// Writes what is queued after the handlers that are ready now (other sessions' requests read in
// the same wake-up) have queued theirs too: one write for all of them. A write in flight flushes
// the rest when it ends.
void RedisPipeline::schedule_flush() {
  if (writing_now_ || flush_posted_) return;
  flush_posted_ = true;
  net::post(loop_, [self = shared_from_this()] {
    self->flush_posted_ = false;
    // fail() empties out_, so what is queued now belongs to the current connection.
    if (!self->connected_ || self->writing_now_ || self->out_.empty()) return;
    self->do_write();
  });
}

// Resolves and connects; on_connect follows.
void RedisPipeline::do_resolve() {
  if (stopped_) return;
  auto gen = ++generation_;
  resolver_.async_resolve(endpoint_.host, std::to_string(endpoint_.port),
      net::bind_executor(loop_, [self = shared_from_this(), gen](const boost::system::error_code& ec,
                                                                   tcp::resolver::results_type results) {
        if (gen != self->generation_) return;
        if (ec) return self->on_connect(ec);
        net::async_connect(self->socket_, results,
            net::bind_executor(self->loop_, [self, gen](const boost::system::error_code& ec2, const tcp::endpoint&) {
              if (gen != self->generation_) return;
              self->on_connect(ec2);
            }));
      }));
}

// The TCP connection is up (or failed): with TLS the handshake comes next, then on_ready.
void RedisPipeline::on_connect(const boost::system::error_code& ec) {
  if (stopped_) return;
  if (!ec && tls_context_ && !tls_) {
    tls_ = std::make_shared<TlsStream>(socket_, *tls_context_);
    if (!prepare_client_tls(tls_->native_handle(), endpoint_.host))
      return on_connect(net::error::invalid_argument);
    tls_->async_handshake(net::ssl::stream_base::client,
        net::bind_executor(loop_, [self = shared_from_this(), keep = tls_, gen = generation_](const boost::system::error_code& e) {
          if (gen != self->generation_) return;
          self->reconnect_timer_.cancel();
          self->on_connect(e);
        }));
    // A server that never answers the handshake: give up after the Redis timeout.
    reconnect_timer_.expires_after(timeout_);
    reconnect_timer_.async_wait(net::bind_executor(loop_, [self = shared_from_this(), gen = generation_](
                                                              const boost::system::error_code& e) {
      if (e || gen != self->generation_ || self->connected_) return;
      boost::system::error_code ignored;
      self->socket_.close(ignored);  // the handshake fails with operation_aborted
    }));
    return;
  }
  if (ec) {
    std::string where = endpoint_.host + ":" + std::to_string(endpoint_.port);
    std::string msg = tls_ ? "TLS handshake with Redis at " + where + " failed: " + ec.message()
                           : "cannot reach Redis at " + where + ": " + ec.message();
    tls_.reset();
    {
      std::lock_guard<std::mutex> lock(error_mutex_);
      last_error_ = msg;
    }
    if (!reported_down_) log_error(msg + " -- retrying every 500 ms; GET /ready answers 503 meanwhile");
    reported_down_ = true;
    ++metrics_.redis_errors;
    boost::system::error_code ignored;
    socket_.close(ignored);
    return schedule_reconnect();
  }
  on_ready();
}

// Connected (and TLS established): AUTH and SELECT go first, then what was queued meanwhile.
void RedisPipeline::on_ready() {
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  if (reported_down_) log_info("Redis at " + endpoint_.host + ":" + std::to_string(endpoint_.port) + " reachable again");
  reported_down_ = false;
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    last_error_.clear();
  }
  connected_ = true;
  auto check = [](const char* what) {
    return [what](bool ok, std::vector<RedisValue>&& r, const std::string& err) {
      if (!ok || r.empty() || r[0].type == RedisValue::Type::error)
        log_error(std::string("Redis ") + what + " failed: " + (ok && !r.empty() ? r[0].str : err));
    };
  };
  std::string setup;
  if (!endpoint_.password.empty()) {
    if (endpoint_.user.empty()) append_command(setup, {"AUTH", endpoint_.password});
    else append_command(setup, {"AUTH", endpoint_.user, endpoint_.password});  // Redis 6 ACL user
    pending_.push_front(Pending{1, check("AUTH"), {}, std::chrono::steady_clock::now()});
  }
  if (endpoint_.db != 0) {
    std::string db = std::to_string(endpoint_.db);
    append_command(setup, {"SELECT", db});
    // after AUTH, before anything queued
    pending_.insert(pending_.begin() + (endpoint_.password.empty() ? 0 : 1),
                    Pending{1, check("SELECT"), {}, std::chrono::steady_clock::now()});
  }
  out_ = setup + out_;
  do_read();
  if (!out_.empty() && !writing_now_) do_write();
}

// Sends everything queued so far in one write; what arrives meanwhile goes in the next one.
void RedisPipeline::do_write() {
  writing_.clear();
  writing_.swap(out_);
  writing_now_ = true;
  auto done = net::bind_executor(loop_, [self = shared_from_this(), keep = tls_, gen = generation_](
                                            const boost::system::error_code& ec, size_t) {
    if (gen != self->generation_) return;
    self->writing_now_ = false;
    if (ec) return self->fail("Redis write failed: " + ec.message());
    if (!self->out_.empty()) self->do_write();
  });
  if (tls_) net::async_write(*tls_, net::buffer(writing_), std::move(done));
  else net::async_write(socket_, net::buffer(writing_), std::move(done));
}

void RedisPipeline::do_read() {
  auto done = net::bind_executor(loop_, [self = shared_from_this(), keep = tls_, gen = generation_](
                                            const boost::system::error_code& ec, size_t n) {
    if (gen != self->generation_) return;
    self->on_read(ec, n);
  });
  if (tls_) tls_->async_read_some(net::buffer(read_buf_), std::move(done));
  else socket_.async_read_some(net::buffer(read_buf_), std::move(done));
}

// Parses every complete reply and completes batches in order.
void RedisPipeline::on_read(const boost::system::error_code& ec, size_t n) {
  if (ec) return fail("Redis connection lost: " + ec.message());
  if (redisReaderFeed(reader_, read_buf_.data(), n) != REDIS_OK) return fail("Redis protocol error");
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_, &raw) != REDIS_OK) return fail("Redis protocol error");
    if (!raw) break;
    auto* reply = static_cast<redisReply*>(raw);
    RedisValue value = convert(reply);
    freeReplyObject(reply);
    if (pending_.empty()) return fail("Redis sent a reply nobody asked for");
    auto& front = pending_.front();
    if (value.type == RedisValue::Type::error) ++metrics_.redis_errors;
    front.replies.push_back(std::move(value));
    if (front.replies.size() == front.count) {
      Pending done = std::move(front);
      pending_.pop_front();
      if (!pending_.empty()) pending_.front().since = std::chrono::steady_clock::now();
      done.done(true, std::move(done.replies), "");
    }
  }
  do_read();
}

// Drops the connection: every waiting batch fails, then a reconnect is scheduled.
void RedisPipeline::fail(const std::string& error) {
  bool was_connected = connected_.exchange(false);
  ++generation_;
  boost::system::error_code ignored;
  socket_.close(ignored);
  tls_.reset();  // its pending operations keep it until their handlers ran
  if (reader_) redisReaderFree(reader_);
  reader_ = redisReaderCreate();
  out_.clear();
  writing_.clear();
  writing_now_ = false;
  auto pending = std::move(pending_);
  pending_.clear();
  if (!stopped_) {
    ++metrics_.redis_errors;
    {
      std::lock_guard<std::mutex> lock(error_mutex_);
      last_error_ = error;
    }
    if (was_connected) log_error(error + " -- reconnecting");
  }
  for (auto& p : pending) p.done(false, {}, error);
  if (was_connected && !stopped_) {
    ++metrics_.redis_reconnects;
    schedule_reconnect();
  }
}

void RedisPipeline::schedule_reconnect() {
  if (stopped_) return;
  reconnect_timer_.expires_after(std::chrono::milliseconds(500));
  reconnect_timer_.async_wait(net::bind_executor(loop_, [self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->stopped_) return;
    self->do_resolve();
  }));
}

// Every quarter timeout: a batch waiting longer than the timeout means Redis hangs; reset.
void RedisPipeline::start_watchdog() {
  auto period = std::max(std::chrono::milliseconds(5), timeout_ / 4);
  watchdog_.expires_after(period);
  watchdog_.async_wait(net::bind_executor(loop_, [self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->stopped_) return;
    if (self->connected_ && !self->pending_.empty() &&
        std::chrono::steady_clock::now() - self->pending_.front().since > self->timeout_)
      self->fail("Redis did not answer within " + std::to_string(self->timeout_.count()) + " ms");
    self->start_watchdog();
  }));
}

RedisClient::RedisClient(IoLoops& loops, const RedisEndpoint& endpoint, int connections,
                         Metrics& metrics, std::chrono::milliseconds timeout)
    : by_loop_(loops.size()) {
  if (endpoint.cluster) {
    cluster_ = std::make_shared<RedisCluster>(loops, endpoint, metrics, timeout);
    return;
  }
  size_t n = std::max(static_cast<size_t>(std::max(connections, 1)), loops.size());
  for (size_t i = 0; i < n; ++i) {
    pipelines_.push_back(std::make_shared<RedisPipeline>(loops.at(i % loops.size()), endpoint, metrics, timeout));
    by_loop_[i % loops.size()].push_back(pipelines_.back().get());
  }
}

void RedisClient::start() {
  if (cluster_) cluster_->start();
  for (auto& p : pipelines_) p->start();
}
void RedisClient::stop() {
  if (cluster_) cluster_->stop();
  for (auto& p : pipelines_) p->stop();
}

void RedisClient::submit(std::string commands, size_t count, RedisCallback done) {
  if (cluster_) return cluster_->submit(std::move(commands), count, std::move(done));
  // A connected pipeline of the caller's loop: no thread hand-off.
  if (int loop = IoLoops::current(); loop >= 0 && static_cast<size_t>(loop) < by_loop_.size()) {
    const auto& local = by_loop_[static_cast<size_t>(loop)];
    size_t k = local.size() == 1 ? 0 : next_++ % local.size();
    for (size_t i = 0; i < local.size(); ++i)
      if (auto* p = local[(k + i) % local.size()]; p->connected())
        return p->submit(std::move(commands), count, std::move(done));
  }
  // Else any connected pipeline, starting from the round-robin position.
  size_t n = pipelines_.size();
  size_t start = next_++ % n;
  for (size_t i = 0; i < n; ++i) {
    auto& p = pipelines_[(start + i) % n];
    if (p->connected()) return p->submit(std::move(commands), count, std::move(done));
  }
  pipelines_[start]->submit(std::move(commands), count, std::move(done));
}

bool RedisClient::connected() const {
  if (cluster_) return cluster_->connected();
  for (auto& p : pipelines_) if (p->connected()) return true;
  return false;
}

std::string RedisClient::last_error() const {
  if (cluster_) return cluster_->last_error();
  for (auto& p : pipelines_) if (auto e = p->last_error(); !e.empty()) return e;
  return "";
}

}  // namespace fstore::server
