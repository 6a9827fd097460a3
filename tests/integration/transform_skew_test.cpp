// The skew test (issue 11): for random data, a training set built with transform => 'fit' at
// time t and online answers for the same entities at t hold bit-identical transformed values,
// for every kind. The training set's float8 columns are read back exactly (as the 17-digit text
// PostgreSQL prints with extra_float_digits = 3) and compared with the JSON numbers of
// POST /get-online-features parsed as doubles: equal, not nearly equal.
#include "http_fixture.hpp"

#include <random>
#include <sstream>

using namespace fstore::testing;
using json = nlohmann::json;

namespace {

// Random rows for `entities` customers, one row each, event times an hour ago: the rows that win
// at "now" online are the ones a training set at now sees.
std::string random_rows_sql(int entities, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> spent(120.0, 45.0);
  std::uniform_int_distribution<int> orders(0, 40), city(0, 9);
  std::uniform_real_distribution<double> unit(0, 1);
  std::ostringstream sql;
  sql.precision(17);
  sql << "INSERT INTO fstore_data.skew_stats (customer_id, event_ts, spent, orders, city, vip, score, ratio) VALUES ";
  for (int i = 1; i <= entities; ++i) {
    if (i > 1) sql << ",";
    sql << "(" << i << ", now() - interval '1 hour', ";
    if (unit(rng) < 0.05) sql << "NULL"; else sql << spent(rng);        // NULLs to impute
    sql << ", " << orders(rng) << ", ";
    if (unit(rng) < 0.05) sql << "NULL"; else sql << "'city " << city(rng) << (unit(rng) < 0.3 ? " Nord" : "") << "'";
    sql << ", " << (unit(rng) < 0.3 ? "true" : "false") << ", " << unit(rng) * 1000 << "::numeric(12,5), "
        << static_cast<float>(unit(rng)) << "::real)";
  }
  return sql.str();
}

}  // namespace

TEST(TransformSkew, TrainingAndServingAgreeBitForBit) {
  PgCluster pg;
  RedisServer redis;
  constexpr int kEntities = 300;
  pg.exec(R"SQL(
    SELECT fstore.create_entity('skew_customer', 'customer_id', 'bigint');
    SELECT fstore.create_feature_view('skew_stats', 'skew_customer', '[
      {"name": "spent", "type": "float8"}, {"name": "orders", "type": "integer"},
      {"name": "city", "type": "text"}, {"name": "vip", "type": "boolean"},
      {"name": "score", "type": "numeric"}, {"name": "ratio", "type": "real"},
      {"name": "raw", "type": "integer"}]', ttl => '1 day');
    SELECT fstore.create_feature_service('skew_model', ARRAY['skew_stats:*']);
    SELECT fstore.set_transforms('skew_model', '{
      "skew_stats:spent": {"kind": "standard", "impute": "median"},
      "skew_stats:orders": {"kind": "bucketize", "bins": 5},
      "skew_stats:city": {"kind": "onehot", "max_categories": 8, "impute": "most_frequent"},
      "skew_stats:vip": {"kind": "label"},
      "skew_stats:score": {"kind": "robust"},
      "skew_stats:ratio": {"kind": "minmax", "clip": true}}');
  )SQL");
  pg.exec(random_rows_sql(kEntities, 20261203));
  // Entity rows at "now" for every customer, and a few that have no row (NOT_FOUND online).
  pg.exec("CREATE TABLE skew_rows AS SELECT i::bigint AS customer_id, now() AS event_timestamp "
          "FROM generate_series(1, " + std::to_string(kEntities + 5) + ") i");
  pg.exec("SELECT fstore.create_training_set('skew_fit', 'skew_rows', feature_service => 'skew_model', transform => 'fit')");

  int port = 0;
  auto sp = start_server([&](int p) { return server_args(pg, redis, p, /*no_auth=*/true); }, port);
  ASSERT_TRUE(sp);
  HttpClient c(port);
  ASSERT_TRUE(eventually([&] { return c.get("/ready").status == 200; }, std::chrono::seconds(30))) << sp->log();

  // The training set, every column as exact text.
  auto conn = pg.connect();
  pqxx::work tx(conn);
  tx.exec("SET extra_float_digits = 3");
  auto cols = tx.exec("SELECT column_name FROM information_schema.columns WHERE table_name = 'skew_fit' "
                      "AND column_name NOT IN ('customer_id', 'event_timestamp') ORDER BY ordinal_position");
  std::vector<std::string> names;
  for (const auto& r : cols) names.push_back(r[0].c_str());
  std::string select = "SELECT customer_id";
  for (const auto& n : names) select += ", " + tx.quote_name(n) + "::text";
  auto table = tx.exec(select + " FROM skew_fit ORDER BY customer_id");
  tx.commit();
  ASSERT_EQ(table.size(), static_cast<size_t>(kEntities + 5));

  // Online, in batches of 100 entities, the same columns by name.
  size_t compared = 0;
  for (size_t start = 0; start < table.size(); start += 100) {
    json ids = json::array();
    for (size_t i = start; i < std::min<size_t>(table.size(), start + 100); ++i)
      ids.push_back(table[static_cast<pqxx::result::size_type>(i)][0].as<int64_t>());
    json request = {{"feature_service", "skew_model"}, {"transform", "latest"}, {"entities", {{"customer_id", ids}}}};
    auto r = c.post("/get-online-features", request.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    json body = json::parse(r.body);
    ASSERT_EQ(body["metadata"]["transform_version"], 1);
    std::vector<std::string> online_names = body["metadata"]["feature_names"];
    ASSERT_EQ(online_names.size(), names.size() + 1) << r.body;  // + the join key
    for (size_t k = 0; k < names.size(); ++k) {
      ASSERT_EQ(online_names[k + 1], names[k]);
      const json& values = body["results"][k + 1]["values"];
      for (size_t i = 0; i < ids.size(); ++i) {
        const auto cell = table[static_cast<pqxx::result::size_type>(start + i)][static_cast<pqxx::row::size_type>(k + 1)];
        const json& online = values[i];
        if (cell.is_null()) {
          EXPECT_TRUE(online.is_null()) << names[k] << " of " << ids[i] << ": " << online;
          continue;
        }
        ASSERT_TRUE(online.is_number()) << names[k] << " of " << ids[i] << ": " << online;
        // Bit for bit: the double PostgreSQL stored, parsed from its exact text, equals the JSON number.
        double trained = std::strtod(cell.c_str(), nullptr);
        EXPECT_EQ(trained, online.get<double>()) << names[k] << " of " << ids[i] << ": " << cell.c_str() << " vs " << online;
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, static_cast<size_t>(kEntities * 10));  // every kind, most rows

  // A version that does not exist is a 404, never another version; a stale state is refused.
  auto missing = c.post("/get-online-features",
                        R"({"feature_service": "skew_model", "transform": "7", "entities": {"customer_id": [1]}})");
  EXPECT_EQ(missing.status, 404) << missing.body;
  pg.exec(R"(SELECT fstore.set_transforms('skew_model', '{"skew_stats:spent": {"kind": "log1p"}}'))");
  ASSERT_TRUE(eventually([&] {
    return c.post("/get-online-features",
                  R"({"feature_service": "skew_model", "transform": "latest", "entities": {"customer_id": [1]}})")
               .status == 422;
  }, std::chrono::seconds(10)));
  auto raw = c.post("/get-online-features", R"({"feature_service": "skew_model", "entities": {"customer_id": [1]}})");
  EXPECT_EQ(raw.status, 200) << raw.body;  // without transform: raw values as before
  EXPECT_EQ(sp->terminate(), 0) << sp->log();
}
