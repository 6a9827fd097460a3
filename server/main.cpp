// fstore-server: serves online features over HTTP (docs/http-api.md) and, unless --no-sync, runs
// the sync worker that keeps Redis equal to PostgreSQL. Exit status: 0 after SIGTERM/SIGINT
// (in-flight requests drained), 2 for bad options (also a TLS certificate, key or CA that cannot
// be used), 1 when it cannot listen.
#include "config.hpp"
#include "http/app.hpp"
#include "http/ui_files.hpp"
#include "http/io_loops.hpp"
#include "http/server.hpp"
#include "log.hpp"
#include "redis/redis_tls.hpp"
#include "tls_context.hpp"

#include <boost/asio.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

using namespace fstore::server;
namespace net = boost::asio;

namespace {

// Raises the open-file limit to its hard maximum: every client connection is a descriptor.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  ParseResult parsed = parse_config(args, [](const char* n) { return std::getenv(n); });
  if (parsed.help) {
    std::cout << usage();
    return 0;
  }
  if (!parsed.config) {
    std::cerr << "fstore-server: " << parsed.error << "\n\n" << usage();
    return 2;
  }
  RedisEndpoint endpoint;
  std::string url_error;
  if (!parse_redis_url(parsed.config->redis_url, endpoint, &url_error)) {
    std::cerr << "fstore-server: bad --redis URL '" << redact_url(parsed.config->redis_url) << "': " << url_error
              << " (expected redis://[[user]:password@]host[:port][/db], rediss://...[?cacert=FILE&cert=FILE&key=FILE]"
                 " or redis+cluster://host:port[,host:port...])\n";
    return 2;
  }
  // TLS files are checked now, so a mistake stops the start with one clear line.
  std::shared_ptr<net::ssl::context> https;
  try {
    if (!parsed.config->tls_cert.empty())
      https = make_server_tls_context(parsed.config->tls_cert, parsed.config->tls_key);
    if (endpoint.tls) redis_tls_context(endpoint);
  } catch (const std::exception& e) {
    std::cerr << "fstore-server: " << e.what() << "\n";
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();

  App app;
  app.config = *parsed.config;
  const Config& cfg = app.config;
  const std::string scheme = https ? "https://" : "http://";
  int threads = cfg.threads > 0 ? cfg.threads : std::max(1u, std::thread::hardware_concurrency());
  // Declared after App: destroyed first, with every pending handler (sessions use App).
  // One io_context per thread (http/io_loops.hpp); loop 0 also runs the signals and drain timer.
  auto loops_owner = std::make_unique<IoLoops>(threads);
  IoLoops& loops = *loops_owner;
  net::io_context& ioc = loops.at(0);

  if (cfg.no_auth)
    log_warn("*** --no-auth: AUTHENTICATION IS OFF. Anyone who can reach " + cfg.listen_host + ":" +
             std::to_string(cfg.listen_port) + " can read and ingest features. For local work only. ***");

  // The web UI (GET /ui/): the files `make build` bundled, read once into memory.
  std::string ui_dir = cfg.ui_dir.empty() ? executable_dir() + "/ui" : cfg.ui_dir;
  try {
    app.ui = std::make_shared<const UiFiles>(ui_dir);
    if (app.ui->empty()) log_warn("no web UI in " + ui_dir + " (run 'make build'); GET /ui/ answers 404");
    else log_info("web UI from " + ui_dir + " at " + scheme + cfg.listen_host + ":" + std::to_string(cfg.listen_port) + "/ui/");
  } catch (const std::exception& e) {
    log_error(std::string("web UI not served: ") + e.what());
  }

  app.pg = std::make_unique<PgPool>(cfg.pg_url, cfg.pg_connections, static_cast<size_t>(cfg.pg_queue_limit), app.metrics);
  app.auth = std::make_unique<TokenAuth>(*app.pg, app.metrics, std::chrono::milliseconds(cfg.token_cache_ms));
  TokenAuth* auth = app.auth.get();
  if (!cfg.no_streams)  // before the watcher, which wakes it after every registry change
    app.streams = std::make_unique<fstore::stream::StreamManager>(
        cfg.pg_url, cfg.listen_host + ":" + std::to_string(cfg.listen_port) + " pid " + std::to_string(getpid()));
  fstore::stream::StreamManager* streams = app.streams.get();
  app.registry = std::make_unique<RegistryWatcher>(cfg.pg_url, app.metrics, [auth, streams] {
    auth->clear();
    if (streams) streams->wake();
  });
  app.registry->on_snapshot([&app](const Registry& r) { app.answers.index(r); });
  app.redis = std::make_unique<RedisClient>(loops, endpoint, cfg.redis_connections, app.metrics,
                                            std::chrono::milliseconds(cfg.redis_timeout_ms));
  auto server_owner = std::make_unique<HttpServer>(loops, app, https);
  HttpServer& server = *server_owner;
  try {
    server.listen(cfg.listen_host, cfg.listen_port);
  } catch (const std::exception& e) {
    log_error(e.what());
    app.redis.reset();  // its I/O objects go before the io_context
    return 1;
  }
  app.pg->start();
  app.registry->start();
  app.redis->start();
  if (!cfg.no_sync) {
    fstore::sync::SyncOptions sync_options;
    sync_options.pg_url = cfg.pg_url;
    sync_options.redis_url = cfg.redis_url;
    app.sync = std::make_unique<fstore::sync::SyncWorker>(sync_options);
    app.sync->start();
    // Monitors run where the sync runs: on the leader (one at a time; a due time runs once).
    fstore::sync::SyncWorker* sync = app.sync.get();
    app.monitors = std::make_unique<MonitorRunner>(cfg.pg_url, [sync] { return sync->status().leader; });
    app.monitors->start();
  } else {
    log_info("--no-sync: this process does not run the sync worker");
  }
  if (app.streams) app.streams->start();
  server.start();

  {
  // SIGTERM/SIGINT: stop accepting, let in-flight requests finish (up to --drain-timeout-ms), exit 0.
  net::signal_set signals(ioc, SIGTERM, SIGINT);
  net::steady_timer drain_timer(ioc);
  auto drain_deadline = std::make_shared<std::chrono::steady_clock::time_point>();
  std::function<void()> wait_drained;
  wait_drained = [&] {
    if (server.open_connections() == 0 || std::chrono::steady_clock::now() > *drain_deadline) {
      if (server.open_connections() > 0)
        log_warn("drain timeout: closing " + std::to_string(server.open_connections()) + " connections");
      app.redis->stop();
      loops.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([&](boost::system::error_code) { wait_drained(); });
  };
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    log_info(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ": draining");
    app.draining = true;
    server.drain();
    *drain_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg.drain_timeout_ms);
    wait_drained();
  });

  log_info("listening on " + scheme + cfg.listen_host + ":" + std::to_string(cfg.listen_port) + " with " +
           std::to_string(threads) + " threads; PostgreSQL " + redact_url(cfg.pg_url) + ", Redis " +
           redact_url(cfg.redis_url));
  loops.run();
  }  // the signal set and timer go before the io_context

  if (app.monitors) app.monitors->stop();
  if (app.streams) app.streams->stop();  // each consumer stores what it batched, then leaves its group
  if (app.sync) app.sync->stop();
  app.registry->stop();
  app.pg->stop();
  // I/O objects before their io_context; the io_context (and the handlers it still holds) before App.
  app.redis.reset();
  server_owner.reset();
  loops_owner.reset();
  log_info("stopped");
  return 0;
}
