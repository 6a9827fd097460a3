// The HTTP server: a listener accepting connections and one session per connection (Beast).
// Each session reads one request at a time with a fresh parser (header and body limits, read and
// idle timeouts), hands it to handle_request and writes the reply; pipelined requests wait in the
// session's bounded buffer and are answered in order. drain() stops accepting, closes idle
// connections and lets in-flight requests finish.
#pragma once

#include "http/app.hpp"
#include "http/io_loops.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl/context.hpp>

#include <list>
#include <memory>
#include <mutex>

namespace fstore::server {

class SessionBase;

// The HTTP/1.x bytes of `reply` into `out` (cleared first): status line, Server, Content-Type,
// the reply's headers (CR/LF in them become spaces), Connection as `keep` asks for `version`
// (10 or 11), Content-Length and the body.
void serialize_response(const HttpReply& reply, unsigned version, bool keep, std::string& out);

class HttpServer {
 public:
  // Accepts on loop 0 and hands each connection to the next loop, where it stays. With `tls`
  // (make_server_tls_context) every connection speaks HTTPS, and only HTTPS.
  HttpServer(IoLoops& loops, App& app, std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
  // Binds and listens; throws std::runtime_error with the reason when it cannot.
  void listen(const std::string& host, uint16_t port);
  void start();
  // Stops accepting and closes idle connections; busy ones close after their response.
  void drain();
  // Open connections.
  int64_t open_connections() const;

  // The open sessions (for drain); shared with the sessions, which may outlive the server at exit.
  struct SessionList {
    std::mutex mutex;
    std::list<std::weak_ptr<SessionBase>> sessions;
  };

 private:
  void do_accept();

  IoLoops& loops_;
  App& app_;
  std::shared_ptr<boost::asio::ssl::context> tls_;  // null: plain HTTP
  boost::asio::basic_socket_acceptor<boost::asio::ip::tcp, boost::asio::io_context::executor_type> acceptor_;
  boost::asio::basic_waitable_timer<std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>,
                                    boost::asio::io_context::executor_type> retry_timer_;
  std::shared_ptr<SessionList> sessions_ = std::make_shared<SessionList>();
};

}  // namespace fstore::server
