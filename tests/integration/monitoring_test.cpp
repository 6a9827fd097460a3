// Statistics and drift monitors through fstore-server: GET /statistics/{view}, a monitor run on
// schedule by the syncing server, NOTIFY fstore_alert, /metrics and GET /monitoring, and results
// that survive a kill -9 and a takeover without a due time running twice.
#include "http_fixture.hpp"

#include <pqxx/pqxx>

#include <set>

using namespace fstore::testing;
using json = nlohmann::json;

namespace {

// A card view with a week of reference rows and a last day in which `amount` moved up by 5 while
// `stable` kept its distribution.
void create_monitored_view(const PgCluster& pg) {
  pg.exec(R"SQL(
    SELECT setseed(0.5);
    SELECT fstore.create_entity('card', 'card_id', 'bigint');
    SELECT fstore.create_feature_view('card_stats', 'card', '[
      {"name": "amount", "type": "float8"}, {"name": "stable", "type": "float8"}, {"name": "kind", "type": "text"}]');
    INSERT INTO fstore_data.card_stats (card_id, event_ts, amount, stable, kind)
    SELECT i, now() - (i % 192) * interval '1 hour' - interval '1 minute',
           random() * 10 + CASE WHEN i % 192 < 24 THEN 5 ELSE 0 END, random() * 10,
           (ARRAY['pos', 'web', 'atm'])[1 + i % 3]
      FROM generate_series(1, 6000) i;
  )SQL");
}

// The server's /metrics line starting with `prefix`, or "".
std::string metric_line(HttpClient& c, const std::string& prefix) {
  std::string text = c.get("/metrics").body;
  size_t at = text.find("\n" + prefix);
  if (at == std::string::npos) return "";
  size_t end = text.find('\n', at + 1);
  return text.substr(at + 1, end - at - 1);
}

}  // namespace

TEST(Statistics, LatestSnapshotPerFeatureOverHttp) {
  PgCluster pg;
  create_monitored_view(pg);
  RedisServer redis;
  int port = 0;
  auto sp = start_server([&](int p) { return server_args(pg, redis, p, /*no_auth=*/true); }, port);
  ASSERT_TRUE(sp);
  HttpClient c(port);
  // Before any snapshot: the view's features list is empty, not an error. Before its first
  // registry load the server answers 503 not_ready (never a 404 for a view that exists).
  HttpResponse empty;
  ASSERT_TRUE(eventually([&] {
    empty = c.get("/statistics/card_stats");
    EXPECT_TRUE(empty.status == 200 || (empty.status == 503 && body_json(empty)["error"]["code"] == "not_ready"))
        << empty.status << " " << empty.body;
    return empty.status == 200;
  }, std::chrono::seconds(15))) << empty.body << sp->log();
  EXPECT_EQ(body_json(empty)["features"], json::array());
  pg.exec("SELECT fstore.compute_statistics('card_stats', now() - interval '30 days', now() - interval '1 day')");
  pg.exec("SELECT fstore.compute_statistics('card_stats')");
  auto r = c.get("/statistics/card_stats");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = body_json(r);
  EXPECT_EQ(j["view"], "card_stats");
  ASSERT_EQ(j["features"].size(), 3u);
  std::string newest = pg.query_value("SELECT max(snapshot_id) FROM fstore.statistics");
  for (const auto& f : j["features"]) EXPECT_EQ(std::to_string(f["snapshot_id"].get<long long>()), newest);
  const json& amount = j["features"][0];
  EXPECT_EQ(amount["feature"], "amount");
  EXPECT_EQ(amount["row_count"], 6000);
  // avg() sums in another order: equal to 1e-12 (relative), not to the last bit.
  EXPECT_NEAR(amount["mean"].get<double>(), std::stod(pg.query_value("SELECT avg(amount) FROM fstore_data.card_stats")),
              1e-11);
  EXPECT_EQ(amount["histogram"]["counts"].size(), 20u);
  EXPECT_TRUE(j["features"][1]["top_values"].is_array());  // kind: text
  EXPECT_EQ(c.get("/statistics/nope").status, 404);
  EXPECT_EQ(c.get("/statistics/bad%20name").status, 404);
  EXPECT_EQ(sp->terminate(), 0) << sp->log();
}

TEST(Monitors, RunOnScheduleAlertOnDriftAndSurviveATakeover) {
  PgCluster pg;
  create_monitored_view(pg);
  RedisServer redis;
  // LISTEN fstore_alert before any monitor exists.
  pqxx::connection listener(pg.url());
  struct Receiver : pqxx::notification_receiver {
    using pqxx::notification_receiver::notification_receiver;
    std::set<std::string> payloads;
    void operator()(const std::string& payload, int) override { payloads.insert(payload); }
  } receiver(listener, "fstore_alert");
  int port_a = 0, port_b = 0;
  auto a = start_server([&](int p) { return server_args(pg, redis, p, true); }, port_a);
  ASSERT_TRUE(a);
  HttpClient ca(port_a);
  ASSERT_TRUE(eventually([&] { return metric_line(ca, "fstore_sync_leader") == "fstore_sync_leader 1"; },
                         std::chrono::seconds(15))) << a->log();
  auto b = start_server([&](int p) { return server_args(pg, redis, p, true); }, port_b);
  ASSERT_TRUE(b);
  pg.exec("SELECT fstore.create_monitor('amount_psi', 'card_stats:amount', every => '1 second')");
  pg.exec("SELECT fstore.create_monitor('stable_psi', 'card_stats:stable', every => '1 second')");
  pg.exec("SELECT fstore.create_monitor('kind_js', 'card_stats:kind', 'jensen_shannon', 0.1, every => '1 second')");

  // The leader runs them within a couple of seconds; the drifted feature alerts, the others not.
  ASSERT_TRUE(eventually([&] {
    return pg.query_value("SELECT count(DISTINCT monitor) FROM fstore.monitor_results") == "3";
  }, std::chrono::seconds(15))) << a->log();
  EXPECT_EQ(pg.query_value("SELECT bool_and(alert) FROM fstore.monitor_results WHERE monitor = 'amount_psi'"), "t");
  EXPECT_EQ(pg.query_value("SELECT bool_or(alert) FROM fstore.monitor_results WHERE monitor <> 'amount_psi'"), "f");
  EXPECT_EQ(pg.query_value("SELECT count(*) FROM fstore.monitor_results WHERE error IS NOT NULL"), "0");
  // NOTIFY fstore_alert names the monitor, at commit of its run.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (receiver.payloads.empty() && std::chrono::steady_clock::now() < deadline) listener.await_notification(1, 0);
  EXPECT_EQ(receiver.payloads, std::set<std::string>{"amount_psi"});
  // /metrics (also on the follower, from PostgreSQL) and /monitoring, alerts first.
  ASSERT_TRUE(eventually([&] { return metric_line(ca, "fstore_monitor_alert{monitor=\"amount_psi\"}") != ""; }));
  EXPECT_EQ(metric_line(ca, "fstore_monitor_alert{monitor=\"amount_psi\"}"), "fstore_monitor_alert{monitor=\"amount_psi\"} 1");
  EXPECT_EQ(metric_line(ca, "fstore_monitor_alert{monitor=\"stable_psi\"}"), "fstore_monitor_alert{monitor=\"stable_psi\"} 0");
  EXPECT_NE(metric_line(ca, "fstore_monitor_value{monitor=\"amount_psi\",feature=\"card_stats:amount\",metric=\"psi\"}"), "");
  HttpClient cb(port_b);
  ASSERT_TRUE(eventually([&] { return metric_line(cb, "fstore_monitor_alert{monitor=\"amount_psi\"}") != ""; }));
  auto mon = body_json(ca.get("/monitoring"));
  ASSERT_EQ(mon["monitors"].size(), 3u);
  EXPECT_EQ(mon["monitors"][0]["name"], "amount_psi");
  EXPECT_EQ(mon["monitors"][0]["alert"], true);
  EXPECT_FALSE(mon["monitors"][0]["results"].empty());
  EXPECT_EQ(mon["monitors"][1]["alert"], false);

  // kill -9 the leader: the follower takes over and goes on; what was written stays, and no due
  // time of a monitor has two results.
  std::string before = pg.query_value("SELECT count(*) FROM fstore.monitor_results");
  std::string last_at = pg.query_value("SELECT max(at) FROM fstore.monitor_results WHERE monitor = 'stable_psi'");
  a->kill_hard();
  ASSERT_TRUE(eventually([&] {
    return pg.query_value("SELECT count(*) FROM fstore.monitor_results WHERE monitor = 'stable_psi' AND at > '" +
                          last_at + "'") >= "3";
  }, std::chrono::seconds(30))) << b->log();
  EXPECT_EQ(metric_line(cb, "fstore_sync_leader"), "fstore_sync_leader 1");
  EXPECT_GE(std::stoll(pg.query_value("SELECT count(*) FROM fstore.monitor_results")), std::stoll(before));
  EXPECT_EQ(pg.query_value("SELECT count(*) FROM (SELECT monitor, at FROM fstore.monitor_results "
                           "GROUP BY 1, 2 HAVING count(*) > 1) d"), "0");
  // Due times are one schedule: each run's time is a whole number of seconds after the first.
  EXPECT_EQ(pg.query_value("SELECT count(*) FROM fstore.monitor_results r JOIN fstore.monitor_registry m "
                           "ON m.name = r.monitor WHERE extract(microseconds FROM r.at - m.created_at)::bigint % 1000000 <> 0"),
            "0");
  EXPECT_EQ(b->terminate(), 0) << b->log();
}
