// fstore.create_training_set against a plain SQL reference (one LEFT JOIN LATERAL ... ORDER BY
// event_ts DESC, created_ts DESC LIMIT 1 per view) on random data with ties, ttl, NULL and unknown
// keys, entity times equal to event times, several entities and views, managed and registered.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/stack.hpp"

namespace {

using fstore::testing::PgCluster;

class TrainingSetRandom : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pg_ = std::make_unique<PgCluster>("fstore_pit"); }
  static void TearDownTestSuite() { pg_.reset(); }
  static std::unique_ptr<PgCluster> pg_;
};
std::unique_ptr<PgCluster> TrainingSetRandom::pg_;

// Shape of one random round.
struct Round {
  int seed;
  int keys;           // distinct entity keys with history
  int history;        // rows per view
  int entity_rows;
  int time_slots;     // distinct event times: fewer slots, more ties
  const char* ttl;    // ttl of the first view, SQL literal or NULL
};

// Builds the round's views and entity rows, then compares fstore with the reference.
void run_round(const PgCluster& pg, const Round& r) {
  std::string s = std::to_string(r.seed);
  std::string ttl = r.ttl;
  pg.exec(
      "SELECT setseed(" + std::to_string(r.seed / 1000.0) + ");"
      "SELECT fstore.create_feature_view('rider_a_" + s + "', 'rider', '[{\"name\": \"a_int\", \"type\": \"int\"},"
      " {\"name\": \"a_float\", \"type\": \"float8\"}, {\"name\": \"a_text\", \"type\": \"text\"}]', ttl => " + ttl + ");"
      // Registered view with its own column names and a created column.
      "CREATE TABLE rider_b_src_" + s + " (rider_id bigint, seen timestamptz, loaded timestamptz, b_num numeric);"
      // Odd rounds give the registered table an index (read through it), even rounds none (always a scan).
      + std::string(r.seed % 2 ? "CREATE INDEX ON rider_b_src_" + s + " (rider_id, seen);" : "") +
      "SELECT fstore.register_feature_view('rider_b_" + s + "', 'rider', 'rider_b_src_" + s + "', 'seen', 'loaded');"
      "SELECT fstore.create_feature_view('zone_" + s + "', 'zone', '[{\"name\": \"z_val\", \"type\": \"float8\"}]', ttl => '3 hours');"
      // History: event times on a coarse grid (ties), created times unique per row.
      "INSERT INTO fstore_data.rider_a_" + s + " (rider_id, event_ts, created_ts, a_int, a_float, a_text)"
      " SELECT (random() * " + std::to_string(r.keys) + ")::bigint,"
      "  timestamptz '2024-01-01' + (floor(random() * " + std::to_string(r.time_slots) + ") || ' hours')::interval,"
      "  timestamptz '2024-01-01' + (g || ' seconds')::interval,"
      "  CASE WHEN random() < 0.1 THEN NULL ELSE (random() * 1000)::int END, random(),"
      "  CASE WHEN random() < 0.1 THEN NULL ELSE md5(g::text) END"
      " FROM generate_series(1, " + std::to_string(r.history) + ") g;"
      "INSERT INTO rider_b_src_" + s + " SELECT (random() * " + std::to_string(r.keys) + ")::bigint,"
      "  timestamptz '2024-01-01' + (floor(random() * " + std::to_string(r.time_slots) + ") || ' hours')::interval,"
      "  timestamptz '2024-01-01' + (g || ' seconds')::interval, round((random() * 100)::numeric, 2)"
      " FROM generate_series(1, " + std::to_string(r.history) + ") g;"
      "INSERT INTO fstore_data.zone_" + s + " (zone_id, event_ts, created_ts, z_val)"
      " SELECT 'z' || (random() * 10)::int,"
      "  timestamptz '2024-01-01' + (floor(random() * " + std::to_string(r.time_slots) + ") || ' hours')::interval,"
      "  timestamptz '2024-01-01' + (g || ' seconds')::interval, random()"
      " FROM generate_series(1, " + std::to_string(r.history) + ") g;"
      // Entity rows: unknown keys (beyond the range), NULL keys, times on and off the grid.
      "CREATE TABLE labels_" + s + " AS SELECT g AS ord,"
      "  CASE WHEN random() < 0.05 THEN NULL ELSE (random() * " + std::to_string(r.keys + 5) + ")::bigint END AS rider_id,"
      "  'z' || (random() * 12)::int AS zone_id,"
      "  timestamptz '2024-01-01' + (CASE WHEN random() < 0.5 THEN floor(random() * " + std::to_string(r.time_slots) +
      ") * 60 ELSE random() * " + std::to_string(r.time_slots) + " * 60 END || ' minutes')::interval AS event_timestamp,"
      "  random() < 0.3 AS label"
      " FROM generate_series(1, " + std::to_string(r.entity_rows) + ") g ORDER BY md5(g::text);");

  std::string a = "rider_a_" + s, b = "rider_b_" + s, z = "zone_" + s;
  pg.exec("ANALYZE");  // the planner's statistics drive fstore.training_set_scan = auto
  // The reference: the rule written as SQL, one LATERAL per view.
  auto ttl_cond = [](const std::string& col, const std::string& ttl_sql) {
    return ttl_sql == "NULL" ? std::string() : " AND " + col + " >= e.event_timestamp - " + ttl_sql + "::interval";
  };
  pg.exec("CREATE TABLE ref_" + s + " AS SELECT e.*, va.a_int, va.a_float, va.a_text, vb.b_num, vz.z_val FROM labels_" + s + " e"
          " LEFT JOIN LATERAL (SELECT a_int, a_float, a_text FROM fstore_data." + a + " v WHERE v.rider_id = e.rider_id"
          " AND v.event_ts <= e.event_timestamp" + ttl_cond("v.event_ts", ttl) +
          " ORDER BY v.event_ts DESC, v.created_ts DESC LIMIT 1) va ON true"
          " LEFT JOIN LATERAL (SELECT b_num FROM rider_b_src_" + s + " v WHERE v.rider_id = e.rider_id"
          " AND v.seen <= e.event_timestamp ORDER BY v.seen DESC, v.loaded DESC LIMIT 1) vb ON true"
          " LEFT JOIN LATERAL (SELECT z_val FROM fstore_data." + z + " v WHERE v.zone_id = e.zone_id"
          " AND v.event_ts <= e.event_timestamp AND v.event_ts >= e.event_timestamp - interval '3 hours'"
          " ORDER BY v.event_ts DESC, v.created_ts DESC LIMIT 1) vz ON true");

  // Every way of reading the views must give the reference's answer.
  for (const std::string mode : {"seq", "index", "probe", "auto"}) {
    std::string ts = "ts_" + s + "_" + mode, ref = "ref_" + s;
    pg.exec("SET fstore.training_set_scan = " + mode + "; SELECT fstore.create_training_set('" + ts + "', 'labels_" + s +
            "', ARRAY['" + a + ":*', '" + b + ":b_num', '" + z + ":z_val'])");
    SCOPED_TRACE("seed " + s + ", fstore.training_set_scan = " + mode);
    EXPECT_EQ(pg.query_value("SELECT count(*) FROM " + ts), std::to_string(r.entity_rows));
    EXPECT_EQ(pg.query_value("SELECT count(*) FROM (SELECT * FROM " + ts + " EXCEPT ALL SELECT * FROM " + ref + ") d"), "0")
        << "rows of fstore not in the reference";
    EXPECT_EQ(pg.query_value("SELECT count(*) FROM (SELECT * FROM " + ref + " EXCEPT ALL SELECT * FROM " + ts + ") d"), "0")
        << "rows of the reference not in fstore";
    // Same order as the entity rows: both tables were written once, front to back, so physical
    // (ctid) order is write order. The labels were written in scrambled order, so ord is not sorted.
    EXPECT_EQ(pg.query_value("SELECT (SELECT array_agg(ord ORDER BY ctid) FROM " + ts + ") = "
                             "(SELECT array_agg(ord ORDER BY ctid) FROM labels_" + s + ")"),
              "t");
    // The data really exercises the rule: some rows match, some do not.
    EXPECT_NE(pg.query_value("SELECT count(a_int) FROM " + ts), "0");
    EXPECT_NE(pg.query_value("SELECT count(*) - count(a_float) FROM " + ts), "0");
  }
}

TEST_F(TrainingSetRandom, MatchesLateralReference) {
  pg_->exec("SELECT fstore.create_entity('rider', 'rider_id', 'bigint');"
            "SELECT fstore.create_entity('zone', 'zone_id', 'text');");
  const Round rounds[] = {
      {11, 20, 400, 300, 12, "NULL"},        // many ties, no ttl
      {12, 50, 2000, 1000, 48, "'5 hours'"}, // ttl cuts some matches
      {13, 5, 300, 500, 4, "'1 hour'"},      // few keys, few times: ties everywhere
      {14, 200, 5000, 3000, 200, "NULL"},    // larger
      {15, 30, 1000, 800, 24, "'1 day'"},
  };
  for (const auto& r : rounds) run_round(*pg_, r);
}

}  // namespace
