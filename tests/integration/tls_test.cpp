// TLS everywhere (issue 14), against real processes and the harness's test CA: fstore-server with
// --tls-cert/--tls-key speaks HTTPS only (TLS 1.2 and 1.3; plain HTTP, TLS 1.0 and 1.1 refused),
// reads and syncs through a Redis that speaks only TLS (rediss://, its certificate verified), and
// reaches a PostgreSQL that refuses connections without SSL with sslmode=verify-full; and a Redis
// Cluster whose nodes speak only TLS (rediss+cluster://), to clients, replicas and each other.
#include "http_fixture.hpp"
#include "support/redis_cluster.hpp"
#include "support/sync_check.hpp"
#include "tls_context.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <openssl/ssl.h>

#include <thread>

namespace fstore::testing {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

// What one HTTPS request got: the handshake's outcome, then the response.
struct HttpsResult {
  bool handshake_ok = false;
  std::string error;    // of the handshake or the exchange
  std::string version;  // negotiated protocol, e.g. "TLSv1.3"
  int status = 0;
  std::string body;
};

// A client context trusting `ca` and pinned to protocol versions [min, max] (0: OpenSSL's
// bound). Old versions need security level 0 in OpenSSL 3, or the client itself refuses them.
std::shared_ptr<ssl::context> client_context(const std::string& ca, int min = 0, int max = 0) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->load_verify_file(ca);
  ctx->set_verify_mode(ssl::verify_peer);
  if (min) SSL_CTX_set_min_proto_version(ctx->native_handle(), min);
  if (max) SSL_CTX_set_max_proto_version(ctx->native_handle(), max);
  if (min && min < TLS1_2_VERSION) SSL_CTX_set_security_level(ctx->native_handle(), 0);
  return ctx;
}

// GET `target` over HTTPS from 127.0.0.1:port, verifying the certificate for `host`.
HttpsResult https_get(int port, const std::string& target, ssl::context& ctx, const std::string& host = "127.0.0.1") {
  HttpsResult out;
  net::io_context ioc;
  ssl::stream<tcp::socket> stream(ioc, ctx);
  boost::system::error_code ec;
  stream.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)), ec);
  if (ec) { out.error = "connect: " + ec.message(); return out; }
  server::prepare_client_tls(stream.native_handle(), host);
  stream.handshake(ssl::stream_base::client, ec);
  if (ec) { out.error = ec.message(); return out; }
  out.handshake_ok = true;
  out.version = SSL_get_version(stream.native_handle());
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, host);
  http::write(stream, req, ec);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  if (!ec) http::read(stream, buffer, res, ec);
  if (ec) { out.error = "exchange: " + ec.message(); return out; }
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  return out;
}

// Accepts one TLS connection on a free port with only protocol `version` allowed and reports
// whether its handshake succeeded: the control that shows a client really speaks that version.
bool old_version_control(const TestCerts& certs, int version) {
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  int port = acceptor.local_endpoint().port();
  ssl::context server_ctx(ssl::context::tls_server);
  SSL_CTX_set_security_level(server_ctx.native_handle(), 0);
  SSL_CTX_set_min_proto_version(server_ctx.native_handle(), version);
  SSL_CTX_set_max_proto_version(server_ctx.native_handle(), version);
  server_ctx.use_certificate_chain_file(certs.file("server.pem"));
  server_ctx.use_private_key_file(certs.file("server.key"), ssl::context::pem);
  std::thread server([&] {
    ssl::stream<tcp::socket> s(ioc, server_ctx);
    boost::system::error_code ec;
    acceptor.accept(s.next_layer(), ec);
    if (!ec) s.handshake(ssl::stream_base::server, ec);
  });
  auto ctx = client_context(certs.file("ca.pem"), version, version);
  net::io_context client_ioc;
  ssl::stream<tcp::socket> c(client_ioc, *ctx);
  boost::system::error_code ec;
  c.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)), ec);
  if (!ec) c.handshake(ssl::stream_base::client, ec);
  c.next_layer().close();
  server.join();
  return !ec;
}

// Waits until an HTTPS /health answers 200, or the process exits, or 20 s pass.
bool wait_https(ServerProcess& s, ssl::context& ctx) {
  return eventually([&] { return !s.running() || https_get(s.port(), "/health", ctx).status == 200; },
                    std::chrono::seconds(20)) && s.running();
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new TestCerts();
    pg_ = new PgCluster();
    pg_->enable_ssl(certs_->dir());
    redis_ = new RedisServer(false, certs_->dir());
    pg_->exec(R"SQL(
      SELECT fstore.create_entity('driver', 'driver_id', 'bigint');
      SELECT fstore.create_feature_view('driver_stats', 'driver',
        '[{"name": "trips", "type": "int8"}, {"name": "city", "type": "text"}]');
    )SQL");
    ctx_ = client_context(certs_->file("ca.pem"));
    server_ = start(pg_url(), redis_->url()).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete redis_;
    delete pg_;
    delete certs_;
    ctx_.reset();
  }

  // PostgreSQL's URL with sslmode=verify-full against `ca` (default: the test CA).
  static std::string pg_url(const std::string& ca = "") {
    return pg_->url() + "?sslmode=verify-full&sslrootcert=" + (ca.empty() ? certs_->file("ca.pem") : ca);
  }

  // An HTTPS fstore-server (the sync included) on a free port with these backends.
  static std::unique_ptr<ServerProcess> start(const std::string& pg, const std::string& redis,
                                              std::vector<std::string> extra = {}) {
    int port = free_port();
    std::vector<std::string> args = {"--pg", pg, "--redis", redis, "--listen", "127.0.0.1:" + std::to_string(port),
                                     "--no-auth", "--tls-cert", certs_->file("server.pem"),
                                     "--tls-key", certs_->file("server.key")};
    args.insert(args.end(), extra.begin(), extra.end());
    auto s = std::make_unique<ServerProcess>(args, port);
    EXPECT_TRUE(wait_https(*s, *ctx_)) << s->log();
    return s;
  }

  static int port() { return server_->port(); }

  static inline TestCerts* certs_ = nullptr;
  static inline PgCluster* pg_ = nullptr;
  static inline RedisServer* redis_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::shared_ptr<ssl::context> ctx_;  // trusts the test CA
};

TEST_F(TlsTest, HttpsAnswersWithModernVersionsOnly) {
  auto health = https_get(port(), "/health", *ctx_);
  ASSERT_TRUE(health.handshake_ok) << health.error;
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "{\"status\":\"ok\"}");
  EXPECT_TRUE(health.version == "TLSv1.3" || health.version == "TLSv1.2") << health.version;
  // The same routes as over plain HTTP: readiness (PostgreSQL and Redis both over TLS) and metrics.
  EXPECT_TRUE(eventually([&] { return https_get(port(), "/ready", *ctx_).status == 200; }, std::chrono::seconds(20)))
      << https_get(port(), "/ready", *ctx_).body << server_->log();
  auto metrics = https_get(port(), "/metrics", *ctx_);
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("fstore_http_requests_total"), std::string::npos);
  // The certificate names localhost too; each modern version on its own is accepted.
  EXPECT_EQ(https_get(port(), "/health", *ctx_, "localhost").status, 200);
  for (int v : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    auto pinned = client_context(certs_->file("ca.pem"), v, v);
    auto r = https_get(port(), "/health", *pinned);
    EXPECT_EQ(r.status, 200) << v << ": " << r.error;
    EXPECT_EQ(r.version, v == TLS1_2_VERSION ? "TLSv1.2" : "TLSv1.3");
  }
  // A client that trusts another CA does not accept the server's certificate.
  auto other = client_context(certs_->file("other-ca.pem"));
  auto untrusted = https_get(port(), "/health", *other);
  EXPECT_FALSE(untrusted.handshake_ok);
  EXPECT_NE(untrusted.error.find("certificate verify failed"), std::string::npos) << untrusted.error;
}

TEST_F(TlsTest, PlainHttpIsRefused) {
  std::string raw = raw_exchange(port(), "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", std::chrono::seconds(5));
  EXPECT_EQ(parse_response(raw).status, 0) << raw;
  EXPECT_EQ(raw.find("HTTP/1."), std::string::npos) << raw;
  EXPECT_EQ(raw.find("status"), std::string::npos) << raw;
  // The server lives on.
  EXPECT_EQ(https_get(port(), "/health", *ctx_).status, 200);
}

TEST_F(TlsTest, TlsTenAndElevenAreRefused) {
  for (int v : {TLS1_VERSION, TLS1_1_VERSION}) {
    // The control: this client completes a handshake of that version with a server that allows it.
    ASSERT_TRUE(old_version_control(*certs_, v)) << "the test client cannot speak version " << v;
    auto old = client_context(certs_->file("ca.pem"), v, v);
    auto r = https_get(port(), "/health", *old);
    EXPECT_FALSE(r.handshake_ok) << v << " was accepted: " << r.version;
    EXPECT_EQ(r.status, 0);
  }
  EXPECT_EQ(https_get(port(), "/health", *ctx_).status, 200);
}

TEST_F(TlsTest, SyncAndLookupsGoThroughRedisOverTls) {
  pg_->exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, trips, city) "
            "SELECT g, now() - interval '1 minute', g * 10, 'city ' || g FROM generate_series(1, 200) g");
  auto want = [] {
    return expected(*pg_, "fstore_data.driver_stats", "driver_id", "event_ts", "created_ts", {"trips", "city"});
  };
  // Read back through RedisLink over TLS (support/sync_check.cpp): every key, as PostgreSQL says.
  expect_converges(*redis_, "driver_stats", want);
  EXPECT_NE(redis_->cli("HGET fstore:v1:driver_stats:7 trips").find("70"), std::string::npos);
  auto one = https_get(port(), "/features/driver_stats/7", *ctx_);
  ASSERT_EQ(one.status, 200) << one.body << one.error;
  auto body = nlohmann::json::parse(one.body);
  EXPECT_EQ(body["features"]["trips"], 70);
  EXPECT_EQ(body["features"]["city"], "city 7");
  // A later change reaches Redis over TLS and the next lookup.
  pg_->exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, trips, city) VALUES (7, now(), 71, 'moved')");
  EXPECT_TRUE(eventually([&] {
    auto r = https_get(port(), "/features/driver_stats/7", *ctx_);
    return r.status == 200 && nlohmann::json::parse(r.body)["features"]["trips"] == 71;
  }, std::chrono::seconds(20)));
  expect_converges(*redis_, "driver_stats", want);
}

TEST_F(TlsTest, PostgresqlConnectionsUseSsl) {
  ASSERT_TRUE(eventually([&] { return https_get(port(), "/ready", *ctx_).status == 200; }, std::chrono::seconds(20)));
  // The server's sessions (sync, monitors, pools) are there, and every one is encrypted.
  EXPECT_EQ(pg_->query_value("SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
                             "WHERE a.backend_type = 'client backend' AND a.application_name = 'fstore-sync' AND s.ssl"),
            "1");
  EXPECT_EQ(pg_->query_value("SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
                             "WHERE a.backend_type = 'client backend' AND NOT s.ssl"),
            "0");
  // Without SSL PostgreSQL refuses the connection (so the server above did use it).
  EXPECT_THROW(pqxx::connection(pg_->url() + "?sslmode=disable"), pqxx::broken_connection);
  // verify-full with a CA that did not sign PostgreSQL's certificate: the server does not get ready.
  auto wrong = start(pg_url(certs_->file("other-ca.pem")), redis_->url(), {"--no-sync", "--no-streams"});
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(https_get(wrong->port(), "/ready", *ctx_).status, 503);
  EXPECT_NE(wrong->log().find("certificate verify failed"), std::string::npos) << wrong->log();
}

TEST_F(TlsTest, RedisCertificateIsVerifiedAndClientCertificatesWork) {
  std::string base = "rediss://127.0.0.1:" + std::to_string(redis_->port());
  // A CA that did not sign Redis' certificate: neither the read path nor the sync connects.
  auto wrong = start(pg_url(), base + "?cacert=" + certs_->file("other-ca.pem"), {"--no-streams"});
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto ready = https_get(wrong->port(), "/ready", *ctx_);
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_NE(wrong->log().find("TLS handshake with Redis at 127.0.0.1:" + std::to_string(redis_->port()) + " failed"),
            std::string::npos) << wrong->log();
  EXPECT_NE(wrong->log().find("certificate verify failed"), std::string::npos) << wrong->log();
  wrong.reset();
  // Mutual TLS: a client certificate signed by the CA Redis trusts.
  auto mutual = start(pg_url(), base + "?cacert=" + certs_->file("ca.pem") + "&cert=" + certs_->file("client.pem") +
                                    "&key=" + certs_->file("client.key"),
                      {"--no-sync", "--no-streams"});
  EXPECT_TRUE(eventually([&] { return https_get(mutual->port(), "/features/driver_stats/3", *ctx_).status == 200; },
                         std::chrono::seconds(20))) << mutual->log();
}

// Starts fstore-server with `args` and returns its exit status and log once it exited.
std::pair<int, std::string> exit_of(std::vector<std::string> args) {
  ServerProcess s(std::move(args), free_port());
  int status = s.wait_exit(std::chrono::seconds(20));
  return {status, s.log()};
}

TEST_F(TlsTest, BadCertificatesStopTheStartWithAClearMessage) {
  auto with = [&](const std::string& cert, const std::string& key, const std::string& redis = "") {
    return exit_of({"--pg", pg_url(), "--redis", redis.empty() ? redis_->url() : redis, "--listen",
                    "127.0.0.1:" + std::to_string(free_port()), "--no-auth", "--tls-cert", cert, "--tls-key", key});
  };
  auto [s1, l1] = with("/nonexistent/cert.pem", certs_->file("server.key"));
  EXPECT_EQ(s1, 2);
  EXPECT_NE(l1.find("cannot read --tls-cert /nonexistent/cert.pem: No such file or directory"), std::string::npos) << l1;
  auto [s2, l2] = with(certs_->file("server.pem"), certs_->file("client.key"));  // another certificate's key
  EXPECT_EQ(s2, 2);
  EXPECT_NE(l2.find("is not the private key of the certificate in --tls-cert"), std::string::npos) << l2;
  auto [s3, l3] = with(certs_->file("server.pem"), certs_->file("server.ext"));  // not a key at all
  EXPECT_EQ(s3, 2);
  EXPECT_NE(l3.find("is not an unencrypted PEM private key"), std::string::npos) << l3;
  auto [s4, l4] = with(certs_->file("server.ext"), certs_->file("server.key"));
  EXPECT_EQ(s4, 2);
  EXPECT_NE(l4.find("is not a PEM certificate"), std::string::npos) << l4;
  auto [s5, l5] = exit_of({"--pg", pg_url(), "--redis", redis_->url(), "--tls-cert", certs_->file("server.pem")});
  EXPECT_EQ(s5, 2);
  EXPECT_NE(l5.find("--tls-cert needs --tls-key FILE"), std::string::npos) << l5;
  auto [s6, l6] = with(certs_->file("server.pem"), certs_->file("server.key"),
                       "rediss://127.0.0.1:1?cacert=/nonexistent/ca.pem");
  EXPECT_EQ(s6, 2);
  EXPECT_NE(l6.find("cannot read rediss:// cacert /nonexistent/ca.pem"), std::string::npos) << l6;
}


// rediss+cluster://: the slot map, the reads and the sync go to every node over TLS (the nodes
// accept nothing else), and the masters end up holding PostgreSQL's winners for every key.
TEST(TlsClusterTest, SyncAndLookupsGoThroughARedisClusterOverTls) {
  TestCerts certs;
  RedisClusterNodes cluster(certs.dir());
  ASSERT_EQ(cluster.url().rfind("rediss+cluster://", 0), 0u) << cluster.url();
  // Plain connections are refused by every node: what follows can only have gone over TLS.
  for (int p : cluster.ports())
    EXPECT_EQ(run_command("redis-cli -p " + std::to_string(p) + " PING 2>&1 || true").find("PONG"), std::string::npos) << p;
  PgCluster pg;
  pg.exec(R"SQL(
    SELECT fstore.create_entity('driver', 'driver_id', 'bigint');
    SELECT fstore.create_feature_view('driver_stats', 'driver',
      '[{"name": "trips", "type": "int8"}, {"name": "city", "type": "text"}]');
  )SQL");
  int port = free_port();
  ServerProcess server({"--pg", pg.url(), "--redis", cluster.url(), "--listen", "127.0.0.1:" + std::to_string(port),
                        "--no-auth"}, port);
  ASSERT_TRUE(server.wait_healthy(std::chrono::seconds(30))) << server.log();
  pg.exec("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, trips, city) "
          "SELECT g, now() - interval '1 minute', g * 10, 'city ' || g FROM generate_series(1, 300) g");
  auto want = [&] { return expected(pg, "fstore_data.driver_stats", "driver_id", "event_ts", "created_ts", {"trips", "city"}); };
  expect_store_converges([&] { return cluster.view("driver_stats"); }, want, std::chrono::seconds(60));
  for (int p : cluster.masters()) EXPECT_GT(redis_view_at(cluster.node_url(p), "driver_stats").size(), 50u) << p;
  EXPECT_TRUE(eventually([&] { return HttpClient(port).get("/ready").status == 200; }, std::chrono::seconds(30)))
      << server.log();
  for (int key : {7, 123, 299}) {
    auto r = HttpClient(port).get("/features/driver_stats/" + std::to_string(key));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(nlohmann::json::parse(r.body)["features"]["trips"], key * 10);
  }
  pg.exec("UPDATE fstore_data.driver_stats SET trips = trips + 1 WHERE driver_id <= 100");
  expect_store_converges([&] { return cluster.view("driver_stats"); }, want, std::chrono::seconds(60));
}

}  // namespace
}  // namespace fstore::testing
