#include "sync/redis_link.hpp"

#include "redis/redis_url.hpp"

#include <sys/time.h>

#include <stdexcept>

namespace fstore::sync {

namespace {
constexpr int kConnectTimeoutMs = 2000;
constexpr int kCommandTimeoutMs = 30000;  // a 10,000-key MULTI/EXEC takes milliseconds; this is for hangs
}  // namespace

RedisLink::Endpoint redis_link_endpoint(const std::string& url) {
  // The one Redis URL parser (server/redis/redis_url.hpp) checks host, port, credentials and db.
  server::RedisEndpoint parsed = server::parse_redis_url(url);
  RedisLink::Endpoint ep;
  ep.host = parsed.host;
  ep.port = parsed.port;
  ep.user = parsed.user;
  ep.password = parsed.password;
  ep.db = parsed.db;
  return ep;
}

std::string reply_text(const redisReply* r) {
  if (!r) return "";
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
    return std::string(r->str, r->len);
  return "";
}

void RedisLink::close() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

void RedisLink::fail(const std::string& what) {
  std::string msg = what;
  if (ctx_ && ctx_->err) msg += std::string(": ") + ctx_->errstr;
  close();
  throw RedisError(msg);
}

void RedisLink::ensure_connected() {
  if (ctx_) return;
  timeval tv{kConnectTimeoutMs / 1000, (kConnectTimeoutMs % 1000) * 1000};
  ctx_ = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, tv);
  if (!ctx_) throw RedisError("redis: out of memory creating a context");
  if (ctx_->err) fail("redis: cannot connect to " + endpoint_.host + ":" + std::to_string(endpoint_.port));
  timeval ctv{kCommandTimeoutMs / 1000, (kCommandTimeoutMs % 1000) * 1000};
  if (redisSetTimeout(ctx_, ctv) != REDIS_OK) fail("redis: cannot set timeout");
  redisEnableKeepAlive(ctx_);
  if (!endpoint_.password.empty()) {
    Command auth = endpoint_.user.empty() ? Command{"AUTH", endpoint_.password}
                                          : Command{"AUTH", endpoint_.user, endpoint_.password};
    command(auth);
  }
  if (endpoint_.db != 0) command({"SELECT", std::to_string(endpoint_.db)});
}

void RedisLink::append(const Command& cmd) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(cmd.size());
  lens.reserve(cmd.size());
  for (const auto& a : cmd) { argv.push_back(a.data()); lens.push_back(a.size()); }
  if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK)
    fail("redis: cannot queue command");
}

Reply RedisLink::read_reply() {
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) fail("redis: connection lost");
  return Reply(static_cast<redisReply*>(raw));
}

Reply RedisLink::command(const Command& cmd, bool allow_error) {
  ensure_connected();
  append(cmd);
  Reply r = read_reply();
  if (!allow_error && r->type == REDIS_REPLY_ERROR)
    throw RedisError("redis: " + cmd.front() + ": " + reply_text(r.get()));
  return r;
}

std::vector<Reply> RedisLink::pipeline(const std::vector<Command>& cmds) {
  ensure_connected();
  for (const auto& c : cmds) append(c);
  std::vector<Reply> replies;
  replies.reserve(cmds.size());
  for (size_t i = 0; i < cmds.size(); ++i) replies.push_back(read_reply());
  return replies;
}

}  // namespace fstore::sync
