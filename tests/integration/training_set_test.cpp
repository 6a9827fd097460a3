// fstore.create_training_set against a plain SQL reference (one LEFT JOIN LATERAL ... ORDER BY
// event_ts DESC, created_ts DESC NULLS LAST LIMIT 1 per view) on random data with ties, ttl, NULL
// and unknown keys, NULL and pre-2000 created times, infinite times, entity times equal to event
// times, several entities and views, managed, registered and registered partitioned tables; run by
// a role with only fstore_reader and SELECT, in a C database and in an ICU en-US database.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/stack.hpp"

namespace {

using fstore::testing::PgCluster;

// One database of the test cluster: each call in its own connection and transaction.
class Db {
 public:
  explicit Db(std::string url) : url_(std::move(url)) {}
  void exec(const std::string& sql) const {
    pqxx::connection conn(url_);
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
  }
  std::string query_value(const std::string& sql) const {
    pqxx::connection conn(url_);
    pqxx::work tx(conn);
    auto result = tx.exec(sql);
    tx.commit();
    return result.empty() || result[0][0].is_null() ? "" : result[0][0].c_str();
  }
 private:
  std::string url_;
};

class TrainingSetRandom : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = std::make_unique<PgCluster>("fstore_pit");
    // The harness runs initdb --no-locale; text keys must also work in a linguistic collation,
    // where a btree's order differs from the bytes' order.
    pqxx::connection conn(pg_->url());
    pqxx::nontransaction(conn).exec(
        "CREATE DATABASE fstore_pit_icu WITH TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'");
    std::string base = "postgresql://postgres@127.0.0.1:" + std::to_string(pg_->port()) + "/";
    c_db_ = std::make_unique<Db>(base + "fstore_pit");
    icu_db_ = std::make_unique<Db>(base + "fstore_pit_icu");
    icu_db_->exec("CREATE EXTENSION fstore");
    for (const Db* db : {c_db_.get(), icu_db_.get()})
      db->exec("SELECT fstore.create_entity('rider', 'rider_id', 'bigint');"
               "SELECT fstore.create_entity('zone', 'zone_id', 'text');"
               "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ts_reader') THEN"
               "  CREATE ROLE ts_reader LOGIN IN ROLE fstore_reader; END IF; END $$;"
               "GRANT CREATE ON SCHEMA public TO ts_reader;");
  }
  static void TearDownTestSuite() {
    c_db_.reset();
    icu_db_.reset();
    pg_.reset();
  }
  static std::unique_ptr<PgCluster> pg_;
  static std::unique_ptr<Db> c_db_, icu_db_;
};
std::unique_ptr<PgCluster> TrainingSetRandom::pg_;
std::unique_ptr<Db> TrainingSetRandom::c_db_, TrainingSetRandom::icu_db_;

// Shape of one random round.
struct Round {
  int seed;
  int keys;           // distinct entity keys with history
  int history;        // rows per view
  int entity_rows;
  int time_slots;     // distinct event times: fewer slots, more ties
  const char* ttl;    // ttl of the first view, SQL literal or NULL
};

// Text keys that differ only in case, accents or length: equal bytes are the only equal keys, but
// a linguistic collation sorts them unlike memcmp.
const char* kZoneKeys =
    "ARRAY['a','A','á','Á','à','b','B','ab','aB','Ab','AB','résumé','resume','Resume','RÉSUMÉ','e','é','E','É',"
    "'ß','ss','SS','z1','Z1','z10','z2','ö','o','O','Ö','œ','oe']";

// SQL making the partitioned table `t` (range on seen): a MINVALUE partition, one with another
// physical column order and a dropped column (attached later), one sub-partitioned by hash, and a
// default one. `index`: 'parent' (a partitioned index, so leaf indexes), 'one' (an index on one
// partition only) or anything else (none).
std::string partitioned_table(const std::string& t, const std::string& index) {
  std::string sql =
      "CREATE TABLE " + t + " (rider_id bigint, seen timestamptz, loaded timestamptz, p_num float8, p_txt text)"
      " PARTITION BY RANGE (seen);"
      "CREATE TABLE " + t + "_old PARTITION OF " + t + " FOR VALUES FROM (MINVALUE) TO ('2024-01-01 06:00+00');"
      "CREATE TABLE " + t + "_mid (p_txt text, dropme int, loaded timestamptz, p_num float8, seen timestamptz,"
      " rider_id bigint);"
      "ALTER TABLE " + t + "_mid DROP COLUMN dropme;"
      "ALTER TABLE " + t + " ATTACH PARTITION " + t + "_mid FOR VALUES FROM ('2024-01-01 06:00+00') TO ('2024-01-02+00');"
      "CREATE TABLE " + t + "_hash PARTITION OF " + t + " FOR VALUES FROM ('2024-01-02+00') TO ('2024-01-04+00')"
      " PARTITION BY HASH (rider_id);"
      "CREATE TABLE " + t + "_hash0 PARTITION OF " + t + "_hash FOR VALUES WITH (MODULUS 2, REMAINDER 0);"
      "CREATE TABLE " + t + "_hash1 PARTITION OF " + t + "_hash FOR VALUES WITH (MODULUS 2, REMAINDER 1);"
      "CREATE TABLE " + t + "_rest PARTITION OF " + t + " DEFAULT;";
  if (index == "parent") sql += "CREATE INDEX ON " + t + " (rider_id, seen);";
  if (index == "one") sql += "CREATE INDEX ON " + t + "_mid (rider_id, seen);";
  return sql;
}

// SQL giving some rows of registered table `t` a NULL created time (at most one per key and event
// time, so the reference has a unique winner) and others a created time before 2000 (negative in
// PostgreSQL's representation), plus rows at -infinity and infinity.
std::string created_and_infinities(const std::string& t, const std::string& key_expr, const std::string& values) {
  return "UPDATE " + t + " SET loaded = NULL WHERE (tableoid, ctid) IN (SELECT DISTINCT ON (rider_id, seen)"
         " tableoid, ctid FROM " + t + " WHERE random() < 0.3 ORDER BY rider_id, seen, random());"
         "UPDATE " + t + " SET loaded = loaded - interval '30 years' WHERE loaded IS NOT NULL AND random() < 0.1;"
         "INSERT INTO " + t + " SELECT " + key_expr + ", ts, timestamptz '2024-06-01' + (g || ' seconds')::interval, " +
         values + " FROM generate_series(1, 20) g, (VALUES ('-infinity'::timestamptz), ('infinity')) i(ts);";
}

// One way of reading the views: fstore.training_set_scan, and for sequential reads with or without
// PostgreSQL's parallel workers (min_parallel_table_scan_size = 0 makes even these small tables
// big enough; max_parallel_workers = 0 launches none, so the leader reads the whole parallel scan).
struct ReadMode {
  const char* name;
  const char* settings;
};
const ReadMode kReadModes[] = {
    {"seq", "SET fstore.training_set_scan = seq; SET max_parallel_workers_per_gather = 0"},
    {"index", "SET fstore.training_set_scan = index"},
    {"probe", "SET fstore.training_set_scan = probe"},
    {"auto", "SET fstore.training_set_scan = auto"},
    {"parallel", "SET fstore.training_set_scan = seq; SET min_parallel_table_scan_size = 0;"
                 " SET max_parallel_workers_per_gather = 2"},
    {"parallel_workers_only", "SET fstore.training_set_scan = seq; SET min_parallel_table_scan_size = 0;"
                              " SET parallel_leader_participation = off"},
    {"parallel_auto", "SET fstore.training_set_scan = auto; SET min_parallel_table_scan_size = 0"},
    {"parallel_none_launched", "SET fstore.training_set_scan = seq; SET min_parallel_table_scan_size = 0;"
                               " SET max_parallel_workers = 0"},
};

// Rewrites `tables` in key order (CLUSTER on their first index, when they have one), as a bulk
// load by entity leaves a history, and refreshes the statistics.
void cluster_by_key(const Db& db, const std::vector<std::string>& tables) {
  for (const auto& t : tables) {
    std::string index = db.query_value("SELECT quote_ident(c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                                       " WHERE i.indrelid = '" + t + "'::regclass ORDER BY i.indexrelid LIMIT 1");
    if (!index.empty()) db.exec("CLUSTER " + t + " USING " + index + "; ANALYZE " + t);
  }
}

void compare_with_reference(const Db& db, const Round& r, const ReadMode& m, const std::string& layout);

// Builds the round's views and entity rows, then compares fstore with the reference.
void run_round(const Db& db, const Round& r) {
  std::string s = std::to_string(r.seed);
  std::string ttl = r.ttl;
  std::string keys = std::to_string(r.keys), slots = std::to_string(r.time_slots);
  std::string b_src = "rider_b_src_" + s, p_src = "rider_p_src_" + s;
  db.exec(
      "SELECT setseed(" + std::to_string(r.seed / 1000.0) + ");"
      "SELECT fstore.create_feature_view('rider_a_" + s + "', 'rider', '[{\"name\": \"a_int\", \"type\": \"int\"},"
      " {\"name\": \"a_float\", \"type\": \"float8\"}, {\"name\": \"a_text\", \"type\": \"text\"}]', ttl => " + ttl + ");"
      // Registered view with its own column names and a created column.
      "CREATE TABLE " + b_src + " (rider_id bigint, seen timestamptz, loaded timestamptz, b_num numeric);"
      // Odd rounds give the registered table an index (read through it), even rounds none (always a scan).
      + std::string(r.seed % 2 ? "CREATE INDEX ON " + b_src + " (rider_id, seen);" : "") +
      "SELECT fstore.register_feature_view('rider_b_" + s + "', 'rider', '" + b_src + "', 'seen', 'loaded');"
      + partitioned_table(p_src, r.seed % 3 == 0 ? "one" : r.seed % 2 ? "parent" : "none") +
      "SELECT fstore.register_feature_view('rider_p_" + s + "', 'rider', '" + p_src + "', 'seen', 'loaded', ttl => " +
      ttl + ");"
      "SELECT fstore.create_feature_view('zone_" + s + "', 'zone', '[{\"name\": \"z_val\", \"type\": \"float8\"}]', ttl => '3 hours');"
      // History: event times on a coarse grid (ties), created times unique per row.
      "INSERT INTO fstore_data.rider_a_" + s + " (rider_id, event_ts, created_ts, a_int, a_float, a_text)"
      " SELECT (random() * " + keys + ")::bigint,"
      "  timestamptz '2024-01-01' + (floor(random() * " + slots + ") || ' hours')::interval,"
      "  timestamptz '2024-01-01' + (g || ' seconds')::interval,"
      "  CASE WHEN random() < 0.1 THEN NULL ELSE (random() * 1000)::int END, random(),"
      "  CASE WHEN random() < 0.1 THEN NULL ELSE md5(g::text) END"
      " FROM generate_series(1, " + std::to_string(r.history) + ") g;"
      "INSERT INTO " + b_src + " SELECT (random() * " + keys + ")::bigint,"
      "  timestamptz '2024-01-01' + (floor(random() * " + slots + ") || ' hours')::interval,"
      "  timestamptz '2024-01-01' + (g || ' seconds')::interval, round((random() * 100)::numeric, 2)"
      " FROM generate_series(1, " + std::to_string(r.history) + ") g;"
      "INSERT INTO " + p_src + " SELECT (random() * " + keys + ")::bigint,"
      "  timestamptz '2024-01-01' + (floor(random() * " + slots + ") || ' hours')::interval,"
      "  timestamptz '2024-01-01' + (g || ' seconds')::interval, random(),"
      "  CASE WHEN random() < 0.1 THEN NULL ELSE md5(g::text) END"
      " FROM generate_series(1, " + std::to_string(r.history) + ") g;"
      + created_and_infinities(b_src, "(random() * " + keys + ")::bigint", "round((random() * 100)::numeric, 2)")
      + created_and_infinities(p_src, "(random() * " + keys + ")::bigint", "random(), md5(g::text)") +
      "INSERT INTO fstore_data.zone_" + s + " (zone_id, event_ts, created_ts, z_val)"
      " SELECT (" + kZoneKeys + ")[1 + floor(random() * 28)::int],"
      "  timestamptz '2024-01-01' + (floor(random() * " + slots + ") || ' hours')::interval,"
      "  timestamptz '2024-01-01' + (g || ' seconds')::interval, random()"
      " FROM generate_series(1, " + std::to_string(r.history) + ") g;"
      // Entity rows: unknown keys (beyond the range), NULL keys, times on and off the grid, a few
      // at -infinity and infinity.
      "CREATE TABLE labels_" + s + " AS SELECT g AS ord,"
      "  CASE WHEN random() < 0.05 THEN NULL ELSE (random() * " + std::to_string(r.keys + 5) + ")::bigint END AS rider_id,"
      "  (" + kZoneKeys + ")[1 + floor(random() * 32)::int] AS zone_id,"
      "  CASE WHEN g % 97 = 0 THEN 'infinity' WHEN g % 89 = 0 THEN '-infinity' ELSE"
      "  timestamptz '2024-01-01' + (CASE WHEN random() < 0.5 THEN floor(random() * " + slots +
      ") * 60 ELSE random() * " + slots + " * 60 END || ' minutes')::interval END AS event_timestamp,"
      "  random() < 0.3 AS label"
      " FROM generate_series(1, " + std::to_string(r.entity_rows) + ") g ORDER BY md5(g::text);"
      "GRANT SELECT ON labels_" + s + " TO ts_reader;");

  std::string a = "rider_a_" + s, b = "rider_b_" + s, p = "rider_p_" + s, z = "zone_" + s;
  db.exec("ANALYZE");  // the planner's statistics drive fstore.training_set_scan = auto
  // The reference: the rule written as SQL, one LATERAL per view, ttl arithmetic in UTC.
  auto ttl_cond = [](const std::string& col, const std::string& ttl_sql) {
    return ttl_sql == "NULL" ? std::string() : " AND " + col + " >= e.event_timestamp - " + ttl_sql + "::interval";
  };
  // Odd rounds read both features of the partitioned view (values fetched again by row id), even
  // rounds only the number (values captured during the scan).
  std::string p_cols = r.seed % 2 ? "p_num, p_txt" : "p_num";
  db.exec("SET TimeZone = 'UTC';"
          "CREATE TABLE ref_" + s + " AS SELECT e.*, va.a_int, vp.p_num, va.a_float, vb.b_num, va.a_text, vz.z_val" +
          (r.seed % 2 ? ", vp.p_txt" : "") + " FROM labels_" + s + " e"
          " LEFT JOIN LATERAL (SELECT a_int, a_float, a_text FROM fstore_data." + a + " v WHERE v.rider_id = e.rider_id"
          " AND v.event_ts <= e.event_timestamp" + ttl_cond("v.event_ts", ttl) +
          " ORDER BY v.event_ts DESC, v.created_ts DESC NULLS LAST LIMIT 1) va ON true"
          " LEFT JOIN LATERAL (SELECT b_num FROM " + b_src + " v WHERE v.rider_id = e.rider_id"
          " AND v.seen <= e.event_timestamp ORDER BY v.seen DESC, v.loaded DESC NULLS LAST LIMIT 1) vb ON true"
          " LEFT JOIN LATERAL (SELECT " + p_cols + " FROM " + p_src + " v WHERE v.rider_id = e.rider_id"
          " AND v.seen <= e.event_timestamp" + ttl_cond("v.seen", ttl) +
          " ORDER BY v.seen DESC, v.loaded DESC NULLS LAST LIMIT 1) vp ON true"
          " LEFT JOIN LATERAL (SELECT z_val FROM fstore_data." + z + " v WHERE v.zone_id = e.zone_id"
          " AND v.event_ts <= e.event_timestamp AND v.event_ts >= e.event_timestamp - interval '3 hours'"
          " ORDER BY v.event_ts DESC, v.created_ts DESC NULLS LAST LIMIT 1) vz ON true");

  // Every way of reading the views must give the reference's answer, with the columns in the
  // requested order (features of different views interleaved), on both layouts of a history.
  for (const char* layout : {"time", "clustered"}) {
    if (std::string(layout) == "clustered") cluster_by_key(db, {"fstore_data." + a, "fstore_data." + z, b_src});
    for (const ReadMode& m : kReadModes) compare_with_reference(db, r, m, layout);
  }
}

// Compares one build of the round's training set, read by `m`, with the reference ref_<seed>.
void compare_with_reference(const Db& db, const Round& r, const ReadMode& m, const std::string& layout) {
  std::string s = std::to_string(r.seed);
  std::string a = "rider_a_" + s, b = "rider_b_" + s, p = "rider_p_" + s, z = "zone_" + s;
  std::string mode = m.name;
  std::string ts = "ts_" + s + "_" + layout + "_" + mode, ref = "ref_" + s;
  db.exec(std::string("SET ROLE ts_reader; ") + m.settings + "; SELECT fstore.create_training_set('" + ts +
          "', 'labels_" + s + "', ARRAY['" + a + ":a_int', " + "'" + p + ":p_num'" + ", '" + a +
          ":a_float', '" + b + ":b_num', '" + a + ":a_text', '" + z + ":z_val'" +
          (r.seed % 2 ? ", '" + p + ":p_txt'" : "") + "])");
  SCOPED_TRACE("seed " + s + ", layout " + layout + ", read " + mode + " (" + m.settings + ")");
  EXPECT_EQ(db.query_value("SELECT count(*) FROM " + ts), std::to_string(r.entity_rows));
  EXPECT_EQ(db.query_value("SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '" +
                           ts + "'::regclass AND attnum > 0"),
            db.query_value("SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '" +
                           ref + "'::regclass AND attnum > 0"));
  EXPECT_EQ(db.query_value("SELECT count(*) FROM (SELECT * FROM " + ts + " EXCEPT ALL SELECT * FROM " + ref + ") d"), "0")
      << "rows of fstore not in the reference";
  EXPECT_EQ(db.query_value("SELECT count(*) FROM (SELECT * FROM " + ref + " EXCEPT ALL SELECT * FROM " + ts + ") d"), "0")
      << "rows of the reference not in fstore";
  // Same order as the entity rows: both tables were written once, front to back, so physical
  // (ctid) order is write order. The labels were written in scrambled order, so ord is not sorted.
  EXPECT_EQ(db.query_value("SELECT (SELECT array_agg(ord ORDER BY ctid) FROM " + ts + ") = "
                           "(SELECT array_agg(ord ORDER BY ctid) FROM labels_" + s + ")"),
            "t");
  // The data really exercises the rule: some rows match, some do not, in every view.
  for (const char* col : {"a_int", "p_num", "b_num", "z_val"}) {
    EXPECT_NE(db.query_value(std::string("SELECT count(") + col + ") FROM " + ts), "0") << col;
    EXPECT_NE(db.query_value(std::string("SELECT count(*) - count(") + col + ") FROM " + ts), "0") << col;
  }
}

const Round kRounds[] = {
    {11, 20, 400, 300, 12, "NULL"},        // many ties, no ttl
    {12, 50, 2000, 1000, 48, "'5 hours'"}, // ttl cuts some matches
    {13, 5, 300, 500, 4, "'1 hour'"},      // few keys, few times: ties everywhere
    {14, 200, 5000, 3000, 200, "NULL"},    // larger
    {15, 30, 1000, 800, 24, "'1 day'"},
};

TEST_F(TrainingSetRandom, MatchesLateralReference) {
  for (const auto& r : kRounds) run_round(*c_db_, r);
}

// The same rounds in a database whose default collation is ICU en-US (text keys in case and
// accent variants), where the key index is ordered linguistically.
TEST_F(TrainingSetRandom, MatchesLateralReferenceInIcuDatabase) {
  for (const auto& r : kRounds) run_round(*icu_db_, r);
}

}  // namespace

// ttl windows follow the UTC rule (fstore::add_interval_utc) whatever the session's TimeZone, also
// across DST changes and for month ttls, and infinite times are exact: the reference runs in UTC,
// fstore in Europe/Berlin, by every scan path.
TEST_F(TrainingSetRandom, TtlInUtcAndInfiniteTimes) {
  const Db& db = *c_db_;
  db.exec(
      "SELECT fstore.create_feature_view('edge_day', 'rider', '[{\"name\": \"d\", \"type\": \"int\"}]', ttl => '1 day');"
      "SELECT fstore.create_feature_view('edge_month', 'rider', '[{\"name\": \"m\", \"type\": \"int\"}]', ttl => '1 month');"
      "SELECT fstore.create_feature_view('edge_none', 'rider', '[{\"name\": \"n\", \"type\": \"int\"}]');"
      "CREATE TABLE edge_rows (rider_id bigint, event_ts timestamptz, v int);"
      "INSERT INTO edge_rows VALUES"
      // Spring DST change (2024-03-31 01:00 UTC): inside the UTC day, outside Berlin's.
      " (1, '2024-03-30 10:30+00', 1),"
      // Autumn DST change (2024-10-27 01:00 UTC): outside the UTC day, inside Berlin's.
      " (1, '2024-10-26 11:30+00', 2),"
      // A month back from 2024-04-30 22:30 UTC is 2024-03-30 22:30 UTC (Berlin: 2024-03-31 22:30 UTC).
      " (4, '2024-03-31 10:00+00', 3),"
      // Infinities: -infinity is older than every row, infinity newer.
      " (2, '-infinity', -1), (2, '2024-01-01+00', 10), (2, 'infinity', 99), (3, '-infinity', -3);"
      "INSERT INTO fstore_data.edge_day (rider_id, event_ts, d) SELECT rider_id, event_ts, v FROM edge_rows;"
      "INSERT INTO fstore_data.edge_month (rider_id, event_ts, m) SELECT rider_id, event_ts, v FROM edge_rows;"
      "INSERT INTO fstore_data.edge_none (rider_id, event_ts, n) SELECT rider_id, event_ts, v FROM edge_rows;"
      "CREATE TABLE edge_labels AS SELECT ord, rider_id, event_timestamp::timestamptz FROM (VALUES"
      " (1, 1, '2024-03-31 10:00+00'), (2, 1, '2024-10-27 12:00+00'), (3, 4, '2024-04-30 22:30+00'),"
      " (4, 2, 'infinity'), (5, 2, '-infinity'), (6, 2, '2024-06-01+00'), (7, 3, '2024-06-01+00'),"
      " (8, 3, 'infinity'), (9, 3, '-infinity'), (10, 1, 'infinity')) AS l(ord, rider_id, event_timestamp);"
      "ANALYZE;"
      "SET TimeZone = 'UTC';"
      "CREATE TABLE edge_ref AS SELECT e.*,"
      " (SELECT d FROM fstore_data.edge_day v WHERE v.rider_id = e.rider_id AND v.event_ts <= e.event_timestamp"
      "   AND v.event_ts >= e.event_timestamp - interval '1 day' ORDER BY v.event_ts DESC LIMIT 1) AS d,"
      " (SELECT m FROM fstore_data.edge_month v WHERE v.rider_id = e.rider_id AND v.event_ts <= e.event_timestamp"
      "   AND v.event_ts >= e.event_timestamp - interval '1 month' ORDER BY v.event_ts DESC LIMIT 1) AS m,"
      " (SELECT n FROM fstore_data.edge_none v WHERE v.rider_id = e.rider_id AND v.event_ts <= e.event_timestamp"
      "   ORDER BY v.event_ts DESC LIMIT 1) AS n FROM edge_labels e;");
  // What the UTC rule says, spelled out: the reference itself is checked.
  EXPECT_EQ(db.query_value("SELECT string_agg(format('%s:%s/%s/%s', ord, d, m, n), ' ' ORDER BY ord) FROM edge_ref"),
            "1:1/1/1 2:/2/2 3:/3/3 4:99/99/99 5:-1/-1/-1 6://10 7://-3 8://-3 9:-3/-3/-3 10://2");
  for (const std::string mode : {"seq", "index", "probe", "auto"}) {
    SCOPED_TRACE("fstore.training_set_scan = " + mode);
    std::string ts = "edge_ts_" + mode;
    db.exec("SET TimeZone = 'Europe/Berlin'; SET fstore.training_set_scan = " + mode +
            "; SELECT fstore.create_training_set('" + ts +
            "', 'edge_labels', ARRAY['edge_day:d', 'edge_month:m', 'edge_none:n'])");
    EXPECT_EQ(db.query_value("SELECT count(*) FROM (SELECT * FROM " + ts + " EXCEPT ALL SELECT * FROM edge_ref) d"), "0");
    EXPECT_EQ(db.query_value("SELECT count(*) FROM (SELECT * FROM edge_ref EXCEPT ALL SELECT * FROM " + ts + ") d"), "0");
  }
}

// True once no parallel worker of this cluster is left (waits up to 5 s: a worker leaves
// pg_stat_activity as it exits, just after the leader has its error).
bool no_parallel_workers_left(const Db& db) {
  for (int i = 0; i < 50; ++i) {
    if (db.query_value("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'") == "0")
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// A long join answers query cancel (here statement_timeout) with 57014 on every path: the scans
// check for interrupts every few thousand rows and before every index probe.
TEST_F(TrainingSetRandom, StatementTimeoutCancelsEveryPath) {
  const Db& db = *c_db_;
  db.exec("CREATE TABLE long_events (rider_id bigint, at timestamptz, x float8);"
          "INSERT INTO long_events SELECT g % 400000, timestamptz '2024-01-01' + g * interval '1 second', g"
          " FROM generate_series(1, 3000000) g;"
          "CREATE INDEX ON long_events (rider_id, at);"
          "SELECT fstore.register_feature_view('long_events', 'rider', 'long_events', 'at', online => false);"
          "CREATE TABLE long_labels AS SELECT g::bigint AS rider_id, timestamptz '2024-03-01' AS event_timestamp"
          " FROM generate_series(1, 400000) g;"
          "ANALYZE long_events, long_labels;");
  // "parallel": the sequential read with parallel workers, cancelled while they scan.
  for (const std::string mode : {"seq", "index", "probe", "parallel"}) {
    SCOPED_TRACE("fstore.training_set_scan = " + mode);
    auto start = std::chrono::steady_clock::now();
    std::string sqlstate;
    std::string settings = mode == "parallel" ? "SET fstore.training_set_scan = seq; SET min_parallel_table_scan_size = 0;"
                                              : "SET fstore.training_set_scan = " + mode + ";";
    try {
      db.exec(settings + " SET statement_timeout = '300ms';"
              "SELECT fstore.create_training_set('long_ts_" + mode + "', 'long_labels', ARRAY['long_events:x'])");
    } catch (const pqxx::sql_error& e) {
      sqlstate = e.sqlstate();
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(sqlstate, "57014");
    EXPECT_LT(seconds, 10.0) << "a generous bound: the cancel must not wait for the join to finish";
    EXPECT_TRUE(no_parallel_workers_left(db));
  }
}

// An error raised inside a parallel worker (by the test hook fstore.debug_training_set_worker_error)
// reaches the caller with the worker's SQLSTATE and message, leaves no worker running and no target
// table; with max_parallel_workers = 0 no worker starts, so the same call succeeds in the leader.
TEST_F(TrainingSetRandom, WorkerErrorReachesTheCallerWithItsSqlstate) {
  const Db& db = *c_db_;
  db.exec("CREATE TABLE werr_events (rider_id bigint, at timestamptz, x float8);"
          "INSERT INTO werr_events SELECT g % 5000, timestamptz '2024-01-01' + g * interval '1 second', g"
          " FROM generate_series(1, 200000) g;"
          "SELECT fstore.register_feature_view('werr_events', 'rider', 'werr_events', 'at', online => false);"
          "CREATE TABLE werr_labels AS SELECT g::bigint AS rider_id, timestamptz '2024-03-01' AS event_timestamp"
          " FROM generate_series(1, 5000) g;"
          "ANALYZE werr_events, werr_labels;");
  const std::string call = "SET fstore.training_set_scan = seq; SET min_parallel_table_scan_size = 0;"
                           "SET fstore.debug_training_set_worker_error = 'XX001';";
  std::string sqlstate, message;
  try {
    db.exec(call + "SELECT fstore.create_training_set('werr_ts', 'werr_labels', ARRAY['werr_events:x'])");
  } catch (const pqxx::sql_error& e) {
    sqlstate = e.sqlstate();
    message = e.what();
  }
  EXPECT_EQ(sqlstate, "XX001");
  EXPECT_NE(message.find("training-set worker"), std::string::npos) << message;
  EXPECT_TRUE(no_parallel_workers_left(db));
  EXPECT_EQ(db.query_value("SELECT to_regclass('werr_ts') IS NULL"), "t");
  db.exec(call + "SET max_parallel_workers = 0;"
                 "SELECT fstore.create_training_set('werr_ts', 'werr_labels', ARRAY['werr_events:x'])");
  EXPECT_EQ(db.query_value("SELECT count(x) FROM werr_ts"), "4999");  // rider 5000 has no history
}
