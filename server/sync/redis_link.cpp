#include "sync/redis_link.hpp"

#include "redis/redis_tls.hpp"
#include "redis/redis_url.hpp"
#include "tls_context.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <stdexcept>

namespace fstore::sync {

namespace net = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;

namespace {
constexpr std::chrono::milliseconds kConnectTimeout{2000};    // TCP connect, and the TLS handshake
constexpr std::chrono::milliseconds kCommandTimeout{30000};  // a 10,000-key MULTI/EXEC takes milliseconds; this is for hangs
}  // namespace

// One connection: blocking calls made of Asio operations run on a private io_context until they
// complete or the stream's timeout closes the socket (Asio's own blocking calls have no timeout).
struct RedisLink::Io {
  net::io_context ioc;
  beast::tcp_stream tcp{ioc};
  std::shared_ptr<net::ssl::context> tls_context;
  std::unique_ptr<net::ssl::stream<beast::tcp_stream&>> tls;  // rediss:// only
  redisReader* reader = redisReaderCreate();
  std::string out;               // formatted commands not yet written
  std::vector<char> buf = std::vector<char>(64 * 1024);

  ~Io() {
    tls.reset();  // before the socket it runs on
    if (reader) redisReaderFree(reader);
  }

  // Starts one operation with `start(result)` and runs it to completion under `timeout`.
  template <class Start>
  error_code run(std::chrono::milliseconds timeout, Start&& start) {
    error_code result = net::error::would_block;
    tcp.expires_after(timeout);
    start(result);
    ioc.restart();
    ioc.run();
    return result;
  }

  // Writes `out` (over TLS when there is a session); the error, if any.
  error_code write_all() {
    auto done = [](error_code& r) { return [&r](error_code ec, size_t) { r = ec; }; };
    return run(kCommandTimeout, [&](error_code& r) {
      if (tls) net::async_write(*tls, net::buffer(out), done(r));
      else net::async_write(tcp, net::buffer(out), done(r));
    });
  }

  // Reads what has arrived into `buf`; sets `n`.
  error_code read_some(size_t& n) {
    auto done = [&n](error_code& r) { return [&r, &n](error_code ec, size_t got) { r = ec; n = got; }; };
    return run(kCommandTimeout, [&](error_code& r) {
      if (tls) tls->async_read_some(net::buffer(buf), done(r));
      else tcp.async_read_some(net::buffer(buf), done(r));
    });
  }
};

RedisLink::Endpoint redis_link_endpoint(const std::string& url) {
  // The one Redis URL parser (server/redis/redis_url.hpp) checks host, port, credentials and db.
  server::RedisEndpoint parsed = server::parse_redis_url(url);
  RedisLink::Endpoint ep;
  ep.host = parsed.host;
  ep.port = parsed.port;
  ep.user = parsed.user;
  ep.password = parsed.password;
  ep.db = parsed.db;
  ep.tls = parsed.tls;
  ep.tls_ca = parsed.tls_ca;
  ep.tls_cert = parsed.tls_cert;
  ep.tls_key = parsed.tls_key;
  return ep;
}

std::string reply_text(const redisReply* r) {
  if (!r) return "";
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
    return std::string(r->str, r->len);
  return "";
}

RedisLink::RedisLink(Endpoint endpoint) : endpoint_(std::move(endpoint)) {}
RedisLink::~RedisLink() { close(); }

void RedisLink::close() { io_.reset(); }

void RedisLink::fail(const std::string& what) {
  close();
  throw RedisError(what);
}

void RedisLink::ensure_connected() {
  if (io_) return;
  std::string where = endpoint_.host + ":" + std::to_string(endpoint_.port);
  auto io = std::make_unique<Io>();
  error_code ec;
  net::ip::tcp::resolver resolver(io->ioc);
  auto results = resolver.resolve(endpoint_.host, std::to_string(endpoint_.port), ec);
  if (ec) throw RedisError("redis: cannot connect to " + where + ": " + ec.message());
  ec = io->run(kConnectTimeout, [&](error_code& r) {
    io->tcp.async_connect(results, [&r](error_code e, const net::ip::tcp::endpoint&) { r = e; });
  });
  if (ec) throw RedisError("redis: cannot connect to " + where + ": " + ec.message());
  io->tcp.socket().set_option(net::socket_base::keep_alive(true), ec);
  io->tcp.socket().set_option(net::ip::tcp::no_delay(true), ec);
  if (endpoint_.tls) {
    server::RedisEndpoint tls_ep;
    tls_ep.tls = true;
    tls_ep.tls_ca = endpoint_.tls_ca;
    tls_ep.tls_cert = endpoint_.tls_cert;
    tls_ep.tls_key = endpoint_.tls_key;
    try {
      io->tls_context = server::redis_tls_context(tls_ep);
    } catch (const std::exception& e) {
      throw RedisError(std::string("redis: ") + e.what());
    }
    io->tls = std::make_unique<net::ssl::stream<beast::tcp_stream&>>(io->tcp, *io->tls_context);
    if (!server::prepare_client_tls(io->tls->native_handle(), endpoint_.host))
      throw RedisError("redis: cannot verify the host name '" + endpoint_.host + "'");
    ec = io->run(kConnectTimeout, [&](error_code& r) {
      io->tls->async_handshake(net::ssl::stream_base::client, [&r](error_code e) { r = e; });
    });
    if (ec) throw RedisError("redis: TLS handshake with " + where + " failed: " + ec.message());
  }
  io_ = std::move(io);
  try {
    if (!endpoint_.password.empty()) {
      Command auth = endpoint_.user.empty() ? Command{"AUTH", endpoint_.password}
                                            : Command{"AUTH", endpoint_.user, endpoint_.password};
      command(auth);
    }
    if (endpoint_.db != 0) command({"SELECT", std::to_string(endpoint_.db)});
  } catch (...) {
    close();  // not usable without AUTH/SELECT
    throw;
  }
}

void RedisLink::append(const Command& cmd) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(cmd.size());
  lens.reserve(cmd.size());
  for (const auto& a : cmd) { argv.push_back(a.data()); lens.push_back(a.size()); }
  char* formatted = nullptr;
  int len = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(), lens.data());
  if (len < 0 || !formatted) fail("redis: cannot format command");
  io_->out.append(formatted, static_cast<size_t>(len));
  redisFreeCommand(formatted);
}

// Sends every appended command.
void RedisLink::flush() {
  if (io_->out.empty()) return;
  error_code ec = io_->write_all();
  io_->out.clear();
  if (ec == beast::error::timeout) fail("redis: write timed out after " + std::to_string(kCommandTimeout.count()) + " ms");
  if (ec) fail("redis: connection lost: " + ec.message());
}

Reply RedisLink::read_reply() {
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(io_->reader, &raw) != REDIS_OK) fail("redis: protocol error in a reply");
    if (raw) return Reply(static_cast<redisReply*>(raw));
    size_t n = 0;
    error_code ec = io_->read_some(n);
    if (ec == beast::error::timeout) fail("redis: no reply within " + std::to_string(kCommandTimeout.count()) + " ms");
    if (ec) fail("redis: connection lost: " + ec.message());
    if (redisReaderFeed(io_->reader, io_->buf.data(), n) != REDIS_OK) fail("redis: protocol error in a reply");
  }
}

Reply RedisLink::command(const Command& cmd, bool allow_error) {
  ensure_connected();
  append(cmd);
  flush();
  Reply r = read_reply();
  if (!allow_error && r->type == REDIS_REPLY_ERROR)
    throw RedisError("redis: " + cmd.front() + ": " + reply_text(r.get()));
  return r;
}

std::vector<Reply> RedisLink::pipeline(const std::vector<Command>& cmds) {
  ensure_connected();
  for (const auto& c : cmds) append(c);
  flush();
  std::vector<Reply> replies;
  replies.reserve(cmds.size());
  for (size_t i = 0; i < cmds.size(); ++i) replies.push_back(read_reply());
  return replies;
}

}  // namespace fstore::sync
