// fstore-server with the least privilege docs/operations.md gives it (0.1.1): a login role with
// fstore_sync and fstore_writer only, no admin, no superuser. It syncs managed and registered
// views, serves them, checks tokens and ingests; and it cannot change the registry.
#include "http_fixture.hpp"

using namespace fstore::testing;
using json = nlohmann::json;

TEST(LeastPrivilege, ServerRunsAsSyncAndWriterOnly) {
  PgCluster pg;
  create_registry(pg);
  RedisServer redis;
  pg.exec(R"SQL(
    CREATE ROLE fstore_server LOGIN;
    GRANT fstore_sync, fstore_writer TO fstore_server;
    CREATE SCHEMA shop;
    CREATE TABLE shop.visits (driver_id bigint NOT NULL, event_ts timestamptz NOT NULL, pages int, secret text);
    CREATE INDEX ON shop.visits (driver_id, event_ts);
    INSERT INTO shop.visits VALUES (5, now() - interval '1 hour', 7, 'not for readers');
    SELECT fstore.register_feature_view('visits', 'driver', 'shop.visits', features => ARRAY['pages']);
  )SQL");
  std::string token = pg.query_value("SELECT fstore.create_api_token('svc', 'writer')");
  int port = 0;
  auto sp = start_server([&](int p) {
    return std::vector<std::string>{"--pg", pg.url_for("fstore_server"), "--redis", redis.url(),
                                    "--listen", "127.0.0.1:" + std::to_string(p)};
  }, port);
  ASSERT_TRUE(sp);
  HttpClient c(port);
  ASSERT_TRUE(eventually([&] { return c.get("/ready").status == 200; }, std::chrono::seconds(30))) << sp->log();
  // The registered table's rows reach Redis through the column grants registration made.
  ASSERT_TRUE(eventually([&] { return c.get("/features/visits/5", token).status == 200; },
                         std::chrono::seconds(15))) << sp->log();
  EXPECT_EQ(body_json(c.get("/features/visits/5", token))["features"]["pages"], 7);
  // Ingest on behalf of a writer token, then the managed view syncs it.
  auto r = c.post("/ingest/driver_stats", R"({"driver_id": 77, "event_ts": "2024-01-01T00:00:00Z", "trips": 4})",
                  token);
  ASSERT_EQ(r.status, 200) << r.body;
  pg.exec("UPDATE fstore_data.driver_stats SET event_ts = now() - interval '1 minute' WHERE driver_id = 77");
  EXPECT_TRUE(eventually([&] {
    auto g = c.get("/features/driver_stats/77", token);
    return g.status == 200 && body_json(g)["features"]["trips"] == 4;
  }, std::chrono::seconds(15))) << sp->log();
  // The server's role is no admin and reads no column registration did not share.
  pqxx::connection as_server(pg.url_for("fstore_server"));
  pqxx::work tx(as_server);
  EXPECT_THROW(tx.exec("SELECT fstore.create_entity('x', 'x_id')"), pqxx::insufficient_privilege);
  tx.abort();
  pqxx::work tx2(as_server);
  EXPECT_THROW(tx2.exec("SELECT secret FROM shop.visits"), pqxx::insufficient_privilege);
  tx2.abort();
  EXPECT_EQ(sp->terminate(), 0) << sp->log();
}
