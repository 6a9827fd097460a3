// fstore-server against what the network may send: malformed HTTP, oversized requests, slow and
// idle clients, pipelining, connection limits, SIGTERM while requests are in flight, and Redis or
// PostgreSQL going away. The server must answer 4xx or close, and live on.
#include "http_fixture.hpp"

#include <sys/socket.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <future>

using namespace fstore::testing;
using json = nlohmann::json;

class HttpHardening : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg = std::make_unique<PgCluster>();
    redis = std::make_unique<RedisServer>();
    create_registry(*pg);
    server = start_server([](int p) {
      auto args = server_args(*pg, *redis, p, /*no_auth=*/true);
      args.insert(args.end(), {"--no-sync", "--read-timeout-ms", "1500", "--idle-timeout-ms", "2500", "--max-header", "8k",
                               "--max-body", "64k", "--max-ingest-body", "128k"});
      return args;
    }, port);
    ASSERT_TRUE(server);
    HttpClient c(port);
    ASSERT_TRUE(eventually([&] { return c.get("/ready").status == 200; })) << server->log();
    put_entity(redis->port(), "driver_stats", "1001", now_us(), {{"conv_rate", "0.5"}, {"trips", "1"}});
  }
  static void TearDownTestSuite() {
    if (server && HasFailure()) std::cerr << "server log:\n" << server->log() << "\n";
    server.reset();
    redis.reset();
    pg.reset();
  }
  void TearDown() override {
    // Whatever a test sent, the server is still alive and serving.
    ASSERT_TRUE(server->running()) << server->log();
    HttpClient c(port);
    EXPECT_EQ(c.get("/health").status, 200);
  }
  // Sends raw bytes and returns the parsed first response (status 0: the server closed without one).
  static HttpResponse raw(const std::string& bytes, bool shutdown_write = false) {
    return parse_response(raw_exchange(port, bytes, std::chrono::seconds(5), shutdown_write));
  }
  static void expect_400_or_closed(const std::string& bytes) {
    auto r = raw(bytes, true);
    EXPECT_TRUE(r.status == 0 || r.status == 400) << "status " << r.status << " for " << json(bytes.substr(0, 60)).dump();
  }

  static inline std::unique_ptr<PgCluster> pg;
  static inline std::unique_ptr<RedisServer> redis;
  static inline std::unique_ptr<ServerProcess> server;
  static inline int port = 0;
};

TEST_F(HttpHardening, GarbageRequestLines) {
  EXPECT_EQ(raw("GARBAGE\r\n\r\n").status, 400);
  expect_400_or_closed("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");  // a TLS ClientHello
  expect_400_or_closed(std::string("\0\0\0\0\r\n\r\n", 8));
  expect_400_or_closed("GET\r\n\r\n");
  expect_400_or_closed("GET /health HTTP/9.9\r\n\r\n");
  expect_400_or_closed("GET /health HTTP/1.1\r\nNo colon here\r\n\r\n");
  expect_400_or_closed("GET /health HTTP/1.1\r\nHost: a\rb\r\n\r\n");
  expect_400_or_closed("GET /he alth HTTP/1.1\r\n\r\n");
  expect_400_or_closed("\r\n\r\n\r\n\r\n");
  EXPECT_EQ(raw("GET health HTTP/1.1\r\nHost: x\r\n\r\n", true).status, 404);  // not origin-form
  expect_400_or_closed("GET /health HTTP/1.1\r\nHost: x\r\n");  // truncated: closed
}

TEST_F(HttpHardening, ContentLengthAbuse) {
  const std::string head = "POST /get-online-features HTTP/1.1\r\nHost: x\r\n";
  EXPECT_EQ(raw(head + "Content-Length: -5\r\n\r\n{}").status, 400);
  EXPECT_EQ(raw(head + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x").status, 400);
  EXPECT_EQ(raw(head + "Content-Length: 2, 3\r\n\r\n{}x").status, 400);
  EXPECT_EQ(raw(head + "Content-Length: abc\r\n\r\n{}").status, 400);
  EXPECT_EQ(raw(head + "Content-Length: 99999999999999999999999\r\n\r\n{}").status, 400);
  expect_400_or_closed(head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  expect_400_or_closed(head + "Transfer-Encoding: gzip, chunked, identity\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  expect_400_or_closed(head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n");
  // A body shorter than announced: the read times out and the connection closes.
  auto r = raw(head + "Content-Length: 100\r\n\r\n{}");
  EXPECT_TRUE(r.status == 0 || r.status == 400);
}

TEST_F(HttpHardening, OversizedUrlHeadersAndBody) {
  auto url = raw("GET /features/driver_stats/" + std::string(20000, '1') + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(url.status == 431 || url.status == 0) << url.status;
  std::string many = "GET /health HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 500; ++i) many += "X-Filler-" + std::to_string(i) + ": " + std::string(40, 'a') + "\r\n";
  auto h = raw(many + "\r\n");
  EXPECT_TRUE(h.status == 431 || h.status == 0) << h.status;
  // Announced too large: 413 before the body is sent.
  auto big = raw("POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n");
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(body_json(big)["error"]["code"], "body_too_large");
  // Sent too large in chunks: 413 too.
  std::string chunked = "POST /get-online-features HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) chunked += "1000\r\n" + std::string(4096, ' ') + "\r\n";
  chunked += "0\r\n\r\n";
  EXPECT_EQ(raw(chunked).status, 413);
  // Ingest has its own, larger limit.
  HttpClient c(port);
  std::string rows = "[";
  for (int i = 0; i < 1500; ++i) rows += std::string(i ? "," : "") + R"({"driver_id": )" + std::to_string(5000 + i) + R"(, "event_ts": "2024-01-01T00:00:00Z"})";
  rows += "]";
  ASSERT_GT(rows.size(), 64u * 1024);
  auto ok = c.post("/ingest/driver_stats", rows);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(c.post("/get-online-features", rows).status, 413);
}

TEST_F(HttpHardening, ChunkedRequestBodyWorks) {
  auto chunk = [](const std::string& data) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx", data.size());
    return std::string(size) + "\r\n" + data + "\r\n";
  };
  auto r = raw("POST /get-online-features HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
               chunk("{\"features\": [\"d") + chunk("river_stats:trips\"], \"entities\": {\"driver_id\": [1001]}}") +
               "0\r\n\r\n");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(r)["results"][1]["values"], json({1}));
}

TEST_F(HttpHardening, PipelinedRequestsAnsweredInOrder) {
  std::string reqs;
  for (int i = 0; i < 20; ++i) reqs += "GET /features/driver_stats/" + std::string(i % 2 ? "1001" : "9") + " HTTP/1.1\r\nHost: x\r\n\r\n";
  reqs += "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  std::string all = raw_exchange(port, reqs);
  int fd = -1;
  (void)fd;
  std::vector<int> statuses;
  size_t pos = 0;
  while ((pos = all.find("HTTP/1.1 ", pos)) != std::string::npos) {
    statuses.push_back(std::atoi(all.c_str() + pos + 9));
    pos += 9;
  }
  ASSERT_EQ(statuses.size(), 21u) << all.substr(0, 500);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(statuses[i], i % 2 ? 200 : 404) << i;
  EXPECT_EQ(statuses[20], 200);
}

TEST_F(HttpHardening, SlowClientsDoNotBlockOthers) {
  // 300 clients that send half a request line and then nothing.
  std::vector<int> slow;
  for (int i = 0; i < 300; ++i) {
    int fd = connect_loopback(port);
    ASSERT_GE(fd, 0);
    std::string partial = "GET /features/driver_stats/1001 HTTP/1.1\r\nHos";
    ASSERT_GT(send(fd, partial.data(), partial.size(), MSG_NOSIGNAL), 0);
    slow.push_back(fd);
  }
  // Meanwhile others are served, fast.
  auto start = std::chrono::steady_clock::now();
  std::vector<std::future<int>> others;
  for (int t = 0; t < 4; ++t)
    others.push_back(std::async(std::launch::async, [] {
      HttpClient c(port);
      int ok = 0;
      for (int i = 0; i < 25; ++i) ok += c.get("/features/driver_stats/1001").status == 200;
      return ok;
    }));
  int ok = 0;
  for (auto& f : others) ok += f.get();
  EXPECT_EQ(ok, 100);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // The slow ones are closed by the read timeout (1.5 s here).
  int closed = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  for (int fd : slow) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    char buf[256];
    if (poll(&p, 1, static_cast<int>(std::max<long>(left, 0))) > 0 && recv(fd, buf, sizeof buf, 0) <= 0) ++closed;
    close(fd);
  }
  EXPECT_EQ(closed, 300);
  HttpClient c(port);
  auto m = c.get("/metrics");
  EXPECT_NE(m.body.find("fstore_http_timeouts_total"), std::string::npos);
}

TEST_F(HttpHardening, IdleKeepAliveConnectionsClosed) {
  int fd = connect_loopback(port);
  std::string req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string pending;
  EXPECT_EQ(read_response(fd, pending, std::chrono::seconds(2)).status, 200);
  auto t0 = std::chrono::steady_clock::now();
  pollfd p{fd, POLLIN, 0};
  char buf[16];
  ASSERT_EQ(poll(&p, 1, 6000), 1);
  EXPECT_EQ(recv(fd, buf, sizeof buf, 0), 0);  // closed by the server
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GT(waited, std::chrono::milliseconds(2000));
  EXPECT_LT(waited, std::chrono::milliseconds(5000));
  close(fd);
}

TEST_F(HttpHardening, ConnectionLimit) {
  int p2 = 0;
  auto small = start_server([](int p) {
    auto args = server_args(*pg, *redis, p, true);
    args.insert(args.end(), {"--no-sync", "--max-connections", "5"});
    return args;
  }, p2);
  ASSERT_TRUE(small);
  std::vector<std::unique_ptr<HttpClient>> held;
  for (int i = 0; i < 5; ++i) {
    held.push_back(std::make_unique<HttpClient>(p2));
    ASSERT_EQ(held.back()->get("/health").status, 200);
  }
  // The sixth connection is closed at once.
  auto r = parse_response(raw_exchange(p2, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", std::chrono::seconds(2)));
  EXPECT_EQ(r.status, 0);
  held.pop_back();
  EXPECT_TRUE(eventually([&] {
    return parse_response(raw_exchange(p2, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                       std::chrono::seconds(2))).status == 200;
  }, std::chrono::seconds(3)));
  std::string metrics;
  EXPECT_TRUE(eventually([&] { return (metrics = HttpClient(p2).get("/metrics").body).size() > 0; }, std::chrono::seconds(3)));
  auto pos = metrics.find("\nfstore_http_connections_rejected_total ");
  ASSERT_NE(pos, std::string::npos);
  EXPECT_GE(std::atoi(metrics.c_str() + pos + 40), 1);  // 1, or more if a retry above came too early
}

TEST_F(HttpHardening, SigtermDrainsInFlightRequests) {
  int p2 = 0;
  auto sp = start_server([](int p) {
    auto args = server_args(*pg, *redis, p, true);
    args.push_back("--no-sync");
    return args;
  }, p2);
  ASSERT_TRUE(sp);
  ServerProcess& s = *sp;
  HttpClient warm(p2);
  ASSERT_TRUE(eventually([&] { return warm.get("/features/driver_stats/1001").status == 200; }));
  // Redis stops answering for 1.5 s: the next lookups are in flight when SIGTERM comes.
  redis->cli("CLIENT PAUSE 1500 ALL");
  auto inflight = std::async(std::launch::async, [&] { return HttpClient(p2).get("/features/driver_stats/1001"); });
  auto inflight2 = std::async(std::launch::async, [&] {
    return HttpClient(p2).post("/get-online-features", R"({"features": ["driver_stats:trips"], "entities": {"driver_id": [1001]}})");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int status = s.terminate(std::chrono::seconds(10));
  auto r = inflight.get();
  auto r2 = inflight2.get();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r2.status, 200) << r2.body;
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_EQ(status, 0) << s.log();
  EXPECT_NE(s.log().find("draining"), std::string::npos);
}

TEST(HttpStartup, BadOptionsExitWithStatus2) {
  std::string bin = build_dir() + "/fstore-server";
  auto code = [&](const std::string& args) {
    int st = std::system((bin + " " + args + " >/dev/null 2>&1").c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  };
  EXPECT_EQ(code("--help"), 0);
  EXPECT_EQ(code("--bogus"), 2);
  EXPECT_EQ(code("--redis redis://127.0.0.1:1"), 2);  // no --pg
  EXPECT_EQ(code("--pg x --redis redis://127.0.0.1:1 --threads 0"), 2);
  EXPECT_EQ(code("--pg x --redis redis://127.0.0.1:1 --listen nonsense"), 2);
  EXPECT_EQ(code("--pg x --redis http://127.0.0.1:1"), 2);
  std::string help = run_command(bin + " --help");
  for (const char* opt : {"--pg", "--redis", "--listen", "--threads", "--no-auth", "--max-body", "--max-header",
                          "--max-entities", "--max-connections", "--read-timeout-ms", "--idle-timeout-ms"})
    EXPECT_NE(help.find(opt), std::string::npos) << opt;
}

TEST(HttpStartup, UnreachableBackendsAreReportedAndRetried) {
  RedisServer redis;
  int dead_pg = free_port();
  int port = 0;
  std::string pg_url = "postgresql://postgres@127.0.0.1:" + std::to_string(dead_pg) + "/nowhere";
  auto sp = start_server([&](int p) {
    return std::vector<std::string>{"--pg", pg_url, "--redis", redis.url(), "--listen", "127.0.0.1:" + std::to_string(p),
                                    "--no-auth", "--no-sync"};
  }, port);
  ASSERT_TRUE(sp);
  ServerProcess& s = *sp;
  HttpClient c(port);
  EXPECT_EQ(c.get("/health").status, 200);
  auto r = c.get("/ready");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(body_json(r)["error"]["code"], "not_ready");
  EXPECT_NE(r.body.find("PostgreSQL"), std::string::npos) << r.body;
  EXPECT_TRUE(eventually([&] { return s.log().find("cannot reach PostgreSQL") != std::string::npos; }, std::chrono::seconds(5))) << s.log();
  // Redis goes away: /ready says so, lookups answer 503, and it recovers when Redis is back.
  redis.stop();
  EXPECT_TRUE(eventually([&] { return c.get("/ready").body.find("Redis") != std::string::npos; }, std::chrono::seconds(5)));
  EXPECT_TRUE(s.running());
}

TEST(HttpStartup, RedisOutageAnswers503ThenRecovers) {
  PgCluster pg;
  create_registry(pg);
  RedisServer redis;
  int port = 0;
  auto sp = start_server([&](int p) {
    auto args = server_args(pg, redis, p, true);
    args.push_back("--no-sync");
    return args;
  }, port);
  ASSERT_TRUE(sp);
  ServerProcess& s = *sp;
  HttpClient c(port);
  ASSERT_TRUE(eventually([&] { return c.get("/ready").status == 200; })) << s.log();
  put_entity(redis.port(), "driver_stats", "7", now_us(), {{"trips", "70"}});
  EXPECT_EQ(c.get("/features/driver_stats/7").status, 200);
  redis.stop();
  auto down = c.get("/features/driver_stats/7");
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_EQ(body_json(down)["error"]["code"], "redis_unavailable");
  EXPECT_EQ(c.post("/get-online-features", R"({"features": ["driver_stats:trips"], "entities": {"driver_id": [7]}})").status, 503);
  EXPECT_EQ(c.get("/ready").status, 503);
  redis.start();
  put_entity(redis.port(), "driver_stats", "7", now_us(), {{"trips", "71"}});
  EXPECT_TRUE(eventually([&] {
    auto r = c.get("/features/driver_stats/7");
    return r.status == 200 && body_json(r)["features"]["trips"] == 71;
  }, std::chrono::seconds(5))) << s.log();
  EXPECT_EQ(c.get("/ready").status, 200);
  EXPECT_NE(c.get("/metrics").body.find("fstore_redis_errors_total"), std::string::npos);
  // PostgreSQL restarts: ingest and the registry come back.
  pg.restart();
  EXPECT_TRUE(eventually([&] {
    return c.post("/ingest/driver_stats", R"({"driver_id": 8, "event_ts": "2024-01-01T00:00:00Z"})").status == 200;
  }, std::chrono::seconds(10)));
  EXPECT_TRUE(eventually([&] { return c.get("/ready").status == 200; }, std::chrono::seconds(5)));
}
