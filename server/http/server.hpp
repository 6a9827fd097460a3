// The HTTP server: a listener accepting connections and one session per connection (Beast).
// Each session reads one request at a time with a fresh parser (header and body limits, read and
// idle timeouts), hands it to handle_request and writes the reply; pipelined requests wait in the
// session's bounded buffer and are answered in order. drain() stops accepting, closes idle
// connections and lets in-flight requests finish.
#pragma once

#include "http/app.hpp"

#include <boost/asio.hpp>

#include <list>
#include <memory>
#include <mutex>

namespace fstore::server {

class Session;

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& ioc, App& app);
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
    std::list<std::weak_ptr<Session>> sessions;
  };

 private:
  void do_accept();

  boost::asio::io_context& ioc_;
  App& app_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
  std::shared_ptr<SessionList> sessions_ = std::make_shared<SessionList>();
};

}  // namespace fstore::server
