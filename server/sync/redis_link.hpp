// A blocking Redis connection for the sync worker thread: pipelined commands with explicit
// argument lengths, over TCP or, for rediss://, TLS (Boost.Asio's OpenSSL stream, the server's
// certificate verified), with hiredis formatting commands and parsing replies. Any I/O failure
// leaves the link closed; the caller reconnects.
#pragma once

#include <hiredis/hiredis.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace fstore::sync {

// A failure talking to Redis (connection lost, timeout, error reply where none is allowed).
class RedisError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ReplyDeleter {
  void operator()(redisReply* r) const { if (r) freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// One command: its arguments, bytes as they are.
using Command = std::vector<std::string>;

class RedisLink {
 public:
  // Where and how to reach Redis (AUTH user password when user is set, AUTH password otherwise).
  struct Endpoint {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string user;
    std::string password;
    int db = 0;
    // rediss://: TLS, verifying the server against tls_ca (empty: the system's CAs) and host;
    // a client certificate when tls_cert/tls_key are set.
    bool tls = false;
    std::string tls_ca;
    std::string tls_cert;
    std::string tls_key;
  };

  explicit RedisLink(Endpoint endpoint);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // Connects (AUTH and SELECT included) unless connected. Throws RedisError.
  void ensure_connected();
  bool connected() const { return io_ != nullptr; }
  void close();

  // Sends one command and returns its reply. Throws RedisError on I/O failure (link closed) and,
  // unless allow_error, on an error reply.
  Reply command(const Command& cmd, bool allow_error = false);

  // Pipelines commands: appends all, then reads every reply in order. Throws RedisError on I/O
  // failure (the link is closed). Error replies are returned, not thrown.
  std::vector<Reply> pipeline(const std::vector<Command>& cmds);

 private:
  struct Io;  // the socket or TLS stream, its I/O context and the reply parser (redis_link.cpp)
  void append(const Command& cmd);
  void flush();
  Reply read_reply();
  [[noreturn]] void fail(const std::string& what);

  Endpoint endpoint_;
  std::unique_ptr<Io> io_;  // null while not connected
};

// The endpoint of a Redis URL, parsed by the server's one Redis URL parser
// (server/redis/redis_url.hpp). Throws std::invalid_argument when it is malformed.
RedisLink::Endpoint redis_link_endpoint(const std::string& url);

// The text of a string/status/error reply, or "" for other types.
std::string reply_text(const redisReply* r);

}  // namespace fstore::sync
