// Partitioned views through fstore-server (API.md "Partitioned history"): the syncing server
// creates the partitions ahead as soon as it leads, retention drops exactly the partitions wholly
// older than it and their keys leave Redis while the other keys keep their winners, and ingestion
// of late, far-future and current rows never fails, also while maintenance splits the default
// partition under it.
#include "http_fixture.hpp"
#include "support/sync_check.hpp"

#include <pqxx/pqxx>

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

using namespace fstore::testing;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kFeatures = {"amount", "kind"};

// A daily view `events` of entity `card`, online, with `retention` (SQL: an interval or NULL).
void create_view(const PgCluster& pg, const std::string& retention) {
  pg.exec(R"SQL(
    SELECT fstore.create_entity('card', 'card_id', 'bigint');
    SELECT fstore.create_feature_view('events', 'card',
      '[{"name": "amount", "type": "float8"}, {"name": "kind", "type": "text"}]',
      partition_by => 'day', retention => )SQL" + retention + ")");
}

Store expected_events(const PgCluster& pg) {
  return expected(pg, "fstore_data.events", "card_id", "event_ts", "created_ts", kFeatures);
}

// The range partitions of the view as day offsets from today (UTC), in order.
std::vector<int> partition_days(const PgCluster& pg) {
  auto conn = pg.connect();
  pqxx::read_transaction tx(conn);
  auto rows = tx.exec(
      "SELECT (r.lower AT TIME ZONE 'UTC')::date - (now() AT TIME ZONE 'UTC')::date "
      "FROM fstore._range_partitions('fstore_data.events'::regclass) r ORDER BY r.lower");
  std::vector<int> days;
  for (const auto& row : rows) days.push_back(row[0].as<int>());
  return days;
}

}  // namespace

TEST(Partitions, LeaderKeepsPartitionsAheadAndRetentionEmptiesRedis) {
  PgCluster pg;
  create_view(pg, "'60 days'");
  // Keys 1..20 only have rows 20 and 21 days ago; keys 21..50 have rows 20 days ago, 2 days ago
  // and today, so they outlive a shorter retention with the same winner. All arrive late: into
  // the default partition. The partitions of tomorrow and the day after are dropped: the leader
  // must bring them back.
  pg.exec(R"SQL(
    INSERT INTO fstore_data.events (card_id, event_ts, amount, kind)
    SELECT k, now() - d * interval '1 day', k * 10 + d, 'k' || d
      FROM generate_series(1, 50) k, unnest(ARRAY[20, 21]) d WHERE k <= 20 OR d = 20;
    INSERT INTO fstore_data.events (card_id, event_ts, amount, kind)
    SELECT k, now() - d * interval '1 day' - interval '1 minute', k * 10 + d, 'k' || d
      FROM generate_series(21, 50) k, unnest(ARRAY[0, 2]) d;
  )SQL");
  auto before = partition_days(pg);
  ASSERT_EQ(before, (std::vector<int>{0, 1, 2}));
  pg.exec(R"SQL(
    DO $$ DECLARE p regclass; BEGIN
      FOR p IN SELECT r.part FROM fstore._range_partitions('fstore_data.events'::regclass) r
                WHERE r.lower > now() LOOP
        EXECUTE format('DROP TABLE %s', p);
      END LOOP;
    END $$;
  )SQL");
  ASSERT_EQ(partition_days(pg), (std::vector<int>{0}));

  RedisServer redis;
  int port = 0;
  auto sp = start_server([&](int p) { return server_args(pg, redis, p, /*no_auth=*/true); }, port);
  ASSERT_TRUE(sp);
  // The leader maintains at once: today and the next two, and the late rows' days split out of
  // the default partition (which then holds nothing).
  std::vector<int> want_days = {-21, -20, -2, 0, 1, 2};
  EXPECT_TRUE(eventually([&] { return partition_days(pg) == want_days; }, 30s))
      << "partitions: " << ::testing::PrintToString(partition_days(pg)) << "\n" << sp->log();
  EXPECT_EQ(pg.query_value("SELECT count(*) FROM fstore_data.events_default"), "0");
  EXPECT_EQ(pg.query_value("SELECT count(*) FROM fstore_data.events"), "130");
  expect_converges(redis, "events", [&] { return expected_events(pg); });
  ASSERT_EQ(redis_view(redis, "events").size(), 50u);

  // Retention shortened to 10 days (as if time had passed): the partitions 20 and 21 days back
  // are wholly older and dropped, exactly those; keys 1..20 leave Redis, keys 21..50 keep theirs.
  pg.exec("UPDATE fstore.view_registry SET retention = '10 days' WHERE name = 'events'");
  EXPECT_EQ(pg.query_value("SELECT string_agg(action, ',') FROM fstore.maintain_partitions('events')"),
            "dropped,dropped");
  EXPECT_EQ(partition_days(pg), (std::vector<int>{-2, 0, 1, 2}));
  EXPECT_EQ(pg.query_value("SELECT count(*) FROM fstore_data.events"), "60");
  expect_converges(redis, "events", [&] { return expected_events(pg); });
  Store online = redis_view(redis, "events");
  ASSERT_EQ(online.size(), 30u);
  for (const auto& [key, hash] : online) EXPECT_GE(std::stoi(key), 21) << key;
  EXPECT_EQ(online["21"]["kind"], "\"k0\"");
  EXPECT_EQ(sp->terminate(), 0) << sp->log();
}

TEST(Partitions, LateAndFarFutureIngestionNeverFails) {
  PgCluster pg;
  create_view(pg, "NULL");  // every row stays
  RedisServer redis;
  int port = 0;
  auto sp = start_server([&](int p) { return server_args(pg, redis, p, /*no_auth=*/true); }, port);
  ASSERT_TRUE(sp);
  HttpClient client(port);
  // Over HTTP: a row five years back, one ten years ahead, one now.
  auto r = client.post("/ingest/events", R"([
      {"card_id": 1, "event_ts": "2021-06-01T00:00:00Z", "amount": 1, "kind": "late"},
      {"card_id": 2, "event_ts": "2036-06-01T00:00:00Z", "amount": 2, "kind": "future"},
      {"card_id": 3, "event_ts": ")" + pg.query_value("SELECT to_json(now())#>>'{}'") + R"(", "amount": 3, "kind": "now"}])");
  ASSERT_EQ(r.status, 200) << r.body;
  // Writers insert rows at random times (15 days back to 15 days ahead, and one row of each
  // statement years off) while maintenance keeps splitting the default partition under them: no
  // insert fails.
  const char* years_off[] = {"timestamptz '2021-06-01 12:00+00'", "timestamptz '2031-01-01 00:00+00'",
                             "timestamptz '2036-06-01 00:00+00'"};
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, rows{0};
  std::string first_error;
  std::mutex error_mutex;
  auto writer = [&](unsigned seed) {
    std::mt19937 rng(seed);
    auto conn = pg.connect();
    while (!stop) {
      try {
        pqxx::work tx(conn);
        std::string sql = "INSERT INTO fstore_data.events (card_id, event_ts, amount, kind) VALUES ";
        for (int i = 0; i < 20; ++i) {
          long minutes = static_cast<long>(rng() % (30 * 1440)) - 15 * 1440;
          std::string ts = i == 0 ? years_off[rng() % 3] : "now() + interval '" + std::to_string(minutes) + " minutes'";
          sql += (i ? ", (" : "(") + std::to_string(rng() % 500) + ", " + ts + ", 1, 'w')";
        }
        tx.exec(sql);
        tx.commit();
        rows += 20;
      } catch (const std::exception& e) {
        ++failures;
        std::lock_guard<std::mutex> lock(error_mutex);
        if (first_error.empty()) first_error = e.what();
      }
    }
  };
  std::thread w1(writer, 1), w2(writer, 2);
  int rounds = 0;
  {
    auto conn = pg.connect();
    for (; rounds < 15; ++rounds) {
      pqxx::work tx(conn);
      tx.exec("SELECT count(*) FROM fstore.maintain_partitions('events')");
      tx.commit();
      std::this_thread::sleep_for(100ms);
    }
  }
  stop = true;
  w1.join();
  w2.join();
  EXPECT_EQ(failures.load(), 0) << first_error;
  EXPECT_GT(rows.load(), 0);
  EXPECT_EQ(pg.query_value("SELECT count(*) FROM fstore_data.events"), std::to_string(rows.load() + 3));
  // After maintenance the default partition holds only rows beyond the next two days (far future).
  pg.exec("SELECT fstore.maintain_partitions('events')");
  EXPECT_EQ(pg.query_value("SELECT count(*) FROM fstore_data.events_default WHERE event_ts < now() + interval '2 days'"),
            "0");
  EXPECT_EQ(pg.query_value("SELECT tableoid::regclass::text FROM fstore_data.events WHERE card_id = 1 AND kind = 'late'"),
            "fstore_data.events_p20210601");
  EXPECT_EQ(pg.query_value("SELECT tableoid::regclass::text FROM fstore_data.events WHERE card_id = 2 AND kind = 'future'"),
            "fstore_data.events_default");
  expect_converges(redis, "events", [&] { return expected_events(pg); });
  EXPECT_EQ(sp->terminate(), 0) << sp->log();
}
