#include "http/server.hpp"

#include "log.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <array>
#include <chrono>
#include <optional>

namespace fstore::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
// A connection's socket and stream, bound to its loop's executor (no type-erased executor).
using LoopExecutor = net::io_context::executor_type;
using Socket = net::basic_stream_socket<tcp, LoopExecutor>;
using Stream = beast::basic_stream<tcp, LoopExecutor, beast::unlimited_rate_policy>;
// With --tls-cert/--tls-key: TLS over that stream (its timeouts apply to the TLS records too).
using TlsStream = beast::ssl_stream<Stream>;

// Appends a header value, with CR and LF (which would end the header) replaced by spaces.
static void append_header_value(std::string& out, std::string_view v) {
  for (char c : v) out += (c == '\r' || c == '\n') ? ' ' : c;
}

void serialize_response(const HttpReply& reply, unsigned version, bool keep, std::string& out) {
  auto status = static_cast<http::status>(reply.status);
  beast::string_view reason = http::obsolete_reason(status);
  out.clear();
  out.reserve(160 + reply.body.size());
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(reply.status);
  out += ' ';
  out.append(reason.data(), reason.size());
  out += "\r\nServer: fstore\r\nContent-Type: ";
  append_header_value(out, reply.content_type);
  for (const auto& [k, v] : reply.headers) {
    out += "\r\n";
    append_header_value(out, k);
    out += ": ";
    append_header_value(out, v);
  }
  // HTTP/1.1 keeps the connection unless told; HTTP/1.0 closes it unless told.
  if (version == 10 && keep) out += "\r\nConnection: keep-alive";
  if (version != 10 && !keep) out += "\r\nConnection: close";
  out += "\r\nContent-Length: ";
  out += std::to_string(reply.body.size());
  out += "\r\n\r\n";
  out += reply.body;
}

// What drain() needs of a session, whatever its stream.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void close_if_idle() = 0;
};

// One client connection over plain TCP (Stream) or TLS (TlsStream); every handler of it runs on
// the thread of its loop. Requests, limits and timeouts are the same for both: TLS only adds the
// handshake before the first read (under the read timeout) and close_notify before the close.
template <class S>
class Session : public SessionBase, public std::enable_shared_from_this<Session<S>> {
  static constexpr bool kTls = std::is_same_v<S, TlsStream>;

 public:
  // A plain session.
  Session(Socket&& socket, App& app, std::shared_ptr<HttpServer::SessionList> list)
      : stream_(std::move(socket)), app_(app), list_(std::move(list)),
        buffer_(app.config.max_header_bytes + 64 * 1024) {
    ++app_.metrics.connections_open;
  }
  // A TLS session with the server's context.
  Session(Socket&& socket, net::ssl::context& tls, App& app, std::shared_ptr<HttpServer::SessionList> list)
      : stream_(std::move(socket), tls), app_(app), list_(std::move(list)),
        buffer_(app.config.max_header_bytes + 64 * 1024) {
    ++app_.metrics.connections_open;
  }

  ~Session() {
    --app_.metrics.connections_open;
    if (registered_) {
      std::lock_guard<std::mutex> lock(list_->mutex);
      list_->sessions.erase(self_it_);
    }
  }

  void run() {
    {
      std::lock_guard<std::mutex> lock(list_->mutex);
      self_it_ = list_->sessions.insert(list_->sessions.end(), this->weak_from_this());
    }
    registered_ = true;
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) self->do_handshake();
      else self->do_wait();
    });
  }

  // Closes the connection if no request is in progress (drain); busy sessions close after replying.
  void close_if_idle() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (!self->busy_) {
        beast::error_code ec;
        self->tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
        self->tcp().close();
      }
    });
  }

 private:
  // The TCP stream under TLS (or the stream itself): timeouts, shutdown, close.
  Stream& tcp() { return beast::get_lowest_layer(stream_); }

  // TLS: the handshake, under the read timeout. A client that speaks plain HTTP, or only TLS 1.0
  // or 1.1, fails here and is closed without an answer.
  void do_handshake() {
    tcp().expires_after(std::chrono::milliseconds(app_.config.read_timeout_ms));
    stream_.async_handshake(net::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
      if (ec) {
        if (ec == beast::error::timeout) ++self->app_.metrics.timeouts;
        return self->tcp().close();
      }
      self->do_wait();
    });
  }

  // Waits for the first bytes of the next request under the idle timeout (unless already buffered).
  void do_wait() {
    if (app_.draining) return do_close();
    if (buffer_.size() > 0) return do_read_header();
    tcp().expires_after(std::chrono::milliseconds(requests_ == 0 ? app_.config.read_timeout_ms : app_.config.idle_timeout_ms));
    stream_.async_read_some(buffer_.prepare(4096), [self = this->shared_from_this()](beast::error_code ec, size_t n) {
      self->buffer_.commit(n);
      if (ec) return self->on_error(ec, false);
      self->do_read_header();
    });
  }

  // Reads the request line and headers with a fresh parser, under the read timeout.
  void do_read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<size_t>(app_.config.max_header_bytes, UINT32_MAX)));
    parser_->body_limit(std::max(app_.config.max_body_bytes, app_.config.max_ingest_body_bytes));
    started_ = std::chrono::steady_clock::now();
    tcp().expires_after(std::chrono::milliseconds(app_.config.read_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->on_error(ec, true);
      self->on_header();
    });
  }

  // The headers are in: refuse ambiguous framing, check the token (both before any body byte
  // is read), then read the body under the route's limit.
  void on_header() {
    auto& req = parser_->get();
    std::vector<std::string_view> encodings;
    for (auto [it, end] = req.equal_range(http::field::transfer_encoding); it != end; ++it)
      encodings.emplace_back(it->value().data(), it->value().size());
    if (auto err = framing_error(encodings, req.count(http::field::content_length) > 0)) {
      ++app_.metrics.bad_requests;
      return reply_and_close(400, "bad_request", *err);
    }
    std::string_view auth;
    if (auto it = req.find(http::field::authorization); it != req.end()) auth = {it->value().data(), it->value().size()};
    authorize_request(app_, {req.method_string().data(), req.method_string().size()},
                      {req.target().data(), req.target().size()}, auth,
                      [self = this->shared_from_this()](std::optional<HttpReply> refusal, Role role) {
                        net::dispatch(self->stream_.get_executor(), [self, refusal = std::move(refusal), role]() mutable {
                          self->on_authorized(std::move(refusal), role);
                        });
                      });
  }

  // After the token check: answer a refusal and close (the body is never read), or read the body.
  void on_authorized(std::optional<HttpReply> refusal, Role role) {
    if (refusal) return close_with(std::move(*refusal));
    role_ = role;
    auto& req = parser_->get();
    size_t limit = body_limit_for(app_.config, std::string_view(req.target().data(), req.target().size()));
    if (auto len = parser_->content_length(); len && *len > limit) {
      ++app_.metrics.bad_requests;
      return reply_and_close(413, "body_too_large", "the request body is larger than " + std::to_string(limit) + " bytes");
    }
    parser_->body_limit(limit);
    if (parser_->is_done()) return on_request();
    http::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->on_error(ec, true);
      self->on_request();
    });
  }

  // Hands the complete request to the router.
  void on_request() {
    tcp().expires_never();
    auto msg = parser_->release();
    parser_.reset();
    ++requests_;
    busy_ = true;
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    auto req = std::make_shared<HttpRequest>();
    req->method = std::string(msg.method_string());
    req->target = std::string(msg.target());
    if (auto it = msg.find(http::field::authorization); it != msg.end()) req->authorization = std::string(it->value());
    req->authenticated = true;  // authorize_request let it through at header time
    req->role = role_;
    req->body = std::move(msg.body());
    ++app_.metrics.requests_in_flight;
    auto responded = std::make_shared<std::atomic<bool>>(false);
    handle_request(app_, std::move(req), [self = this->shared_from_this(), responded](HttpReply reply) {
      if (responded->exchange(true)) return;  // exactly once
      net::dispatch(self->stream_.get_executor(), [self, reply = std::move(reply)]() mutable { self->send(std::move(reply)); });
    });
  }

  // Writes a reply; keeps the connection unless the client, a limit or drain says otherwise.
  void send(HttpReply reply) {
    --app_.metrics.requests_in_flight;
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    app_.metrics.observe_request(reply.route, static_cast<int>(reply.status), seconds);
    bool keep = keep_alive_ && !app_.draining && requests_ < app_.config.max_requests_per_connection;
    write_response(reply, keep);
  }

  // Serializes the reply into the session's reused buffer (status line, headers, body) and sends
  // it in one write: cheaper than Beast's serializer, whose buffer views showed in the profile.
  void write_response(HttpReply& reply, bool keep) {
    serialize_response(reply, version_ == 10 ? 10 : 11, keep, out_);
    tcp().expires_after(std::chrono::milliseconds(app_.config.write_timeout_ms));
    net::async_write(stream_, net::buffer(out_), [self = this->shared_from_this(), keep](beast::error_code ec, size_t) {
      self->busy_ = false;
      if (ec) {
        if (ec == beast::error::timeout) ++self->app_.metrics.timeouts;
        return self->do_close();
      }
      if (!keep) return self->do_close();
      self->do_wait();
    });
  }

  // A malformed or oversized request: answer it (best effort) and close.
  void reply_and_close(unsigned status, const std::string& code, const std::string& message) {
    close_with(error_reply(status, code, message));
  }

  // Sends `reply` to a request whose body was not read, then closes the connection.
  void close_with(HttpReply reply) {
    busy_ = true;
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    app_.metrics.observe_request(reply.route, static_cast<int>(reply.status), seconds);
    version_ = 11;
    parser_.reset();
    buffer_.consume(buffer_.size());  // whatever follows is never read as a request
    closing_ = true;
    write_response(reply, false);
  }

  void on_error(beast::error_code ec, bool reading_request) {
    if (ec == beast::error::timeout) {
      ++app_.metrics.timeouts;
      return do_close();
    }
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
        ec == net::error::operation_aborted || ec == net::error::bad_descriptor || !reading_request)
      return do_close();
    ++app_.metrics.bad_requests;
    if (ec == http::error::body_limit) return reply_and_close(413, "body_too_large", "the request body is too large");
    if (ec == http::error::header_limit)
      return reply_and_close(431, "headers_too_large", "the request line and headers are larger than " +
                                                            std::to_string(app_.config.max_header_bytes) + " bytes");
    if (ec == http::error::buffer_overflow)
      return reply_and_close(431, "headers_too_large", "the request line and headers are too large");
    if (ec == http::error::partial_message) return do_close();
    if (ec.category() == beast::error_code(http::error::bad_target).category())
      return reply_and_close(400, "bad_request", "malformed HTTP request: " + ec.message());
    do_close();
  }

  // Closes the connection. After a refusal the client may still be sending its body: stop
  // sending, then discard what arrives for a moment, so the kernel does not answer those bytes
  // with a reset that could destroy our response before the client reads it.
  // With TLS, close_notify goes first (bounded by the write timeout, at most a second).
  void do_close() {
    if constexpr (kTls) {
      if (!tls_shut_) {
        tls_shut_ = true;
        tcp().expires_after(std::chrono::milliseconds(std::min(app_.config.write_timeout_ms, 1000)));
        return stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->do_close(); });
      }
    }
    beast::error_code ec;
    tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (!closing_ || ec) return tcp().close();
    closing_ = false;
    linger_until_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    do_linger();
  }

  // Discards what the client still sends (raw bytes, below TLS) until the linger time is over.
  void do_linger() {
    tcp().expires_at(linger_until_);
    tcp().async_read_some(net::buffer(discard_), [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->tcp().close();
      self->do_linger();
    });
  }

  S stream_;
  App& app_;
  std::shared_ptr<HttpServer::SessionList> list_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string out_;  // the response being written (its capacity is reused)
  std::chrono::steady_clock::time_point started_;
  size_t requests_ = 0;
  Role role_ = Role::none;    // of the request being read
  bool closing_ = false;      // the next close lingers (a refused request's body may follow)
  std::chrono::steady_clock::time_point linger_until_;
  std::array<char, 4096> discard_{};
  unsigned version_ = 11;
  bool keep_alive_ = true;
  std::atomic<bool> busy_{false};
  bool registered_ = false;
  bool tls_shut_ = false;     // close_notify was sent (TLS)
  std::list<std::weak_ptr<SessionBase>>::iterator self_it_;
};

HttpServer::HttpServer(IoLoops& loops, App& app, std::shared_ptr<boost::asio::ssl::context> tls)
    : loops_(loops), app_(app), tls_(std::move(tls)), acceptor_(loops.at(0).get_executor()),
      retry_timer_(loops.at(0).get_executor()) {}

void HttpServer::listen(const std::string& host, uint16_t port) {
  beast::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec) {
    tcp::resolver resolver(loops_.at(0));
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) throw std::runtime_error("cannot resolve listen address '" + host + "': " + ec.message());
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(4096, ec);
  if (ec) throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
}

void HttpServer::start() {
  net::dispatch(acceptor_.get_executor(), [this] { do_accept(); });
}

void HttpServer::do_accept() {
  acceptor_.async_accept(loops_.next().get_executor(), [this](beast::error_code ec, Socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of file descriptors and the like: pause instead of spinning.
      log_error("accept failed: " + ec.message());
      retry_timer_.expires_after(std::chrono::milliseconds(100));
      retry_timer_.async_wait([this](beast::error_code e) { if (!e) do_accept(); });
      return;
    }
    if (static_cast<size_t>(app_.metrics.connections_open.load()) >= app_.config.max_connections) {
      ++app_.metrics.connections_rejected;
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      ++app_.metrics.connections_accepted;
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (tls_) std::make_shared<Session<TlsStream>>(std::move(socket), *tls_, app_, sessions_)->run();
      else std::make_shared<Session<Stream>>(std::move(socket), app_, sessions_)->run();
    }
    do_accept();
  });
}

void HttpServer::drain() {
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
    retry_timer_.cancel();
  });
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard<std::mutex> lock(sessions_->mutex);
    for (auto& w : sessions_->sessions) if (auto s = w.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) s->close_if_idle();
}

int64_t HttpServer::open_connections() const { return app_.metrics.connections_open.load(); }

}  // namespace fstore::server
