// pg_dump keeps the registry with the data: a dump restored into a new database gives the same
// registry, feature rows, validation and training sets.
#include <gtest/gtest.h>

#include "support/stack.hpp"

namespace {

using fstore::testing::PgCluster;
using fstore::testing::run_command;

TEST(DumpRestore, RegistryAndDataSurvive) {
  PgCluster pg("fstore_dump_src");
  pg.exec(R"sql(
    SELECT fstore.create_entity('driver', 'driver_id', 'bigint', 'A driver', tags => ARRAY['core']);
    SELECT fstore.create_feature_view('driver_stats', 'driver',
      '[{"name": "conv_rate", "type": "float8", "validation": {"min": 0, "max": 1}},
        {"name": "trips", "type": "int"}, {"name": "trips_x2", "type": "int", "expression": "trips * 2"}]',
      ttl => '1 day');
    SELECT fstore.add_features('driver_stats', '[{"name": "tier", "type": "text", "validation": {"allowed": ["gold"]}}]');
    SELECT fstore.set_feature_status('driver_stats:tier', 'deprecated');
    CREATE TABLE public.driver_profile (driver_id bigint, updated timestamptz, city text);
    SELECT fstore.register_feature_view('driver_profile', 'driver', 'public.driver_profile', 'updated');
    SELECT fstore.create_feature_service('ranker', ARRAY['driver_stats:conv_rate', 'driver_profile:city']);
    SELECT fstore.create_api_token('svc', 'reader');
    INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips)
      SELECT g % 10, timestamptz '2024-01-01' + g * interval '1 hour', (g % 100) / 100.0, g FROM generate_series(1, 500) g;
    INSERT INTO public.driver_profile VALUES (1, '2024-01-01', 'Lyon'), (2, '2024-01-02', 'Oslo');
    SELECT fstore.ingest('driver_stats', '[{"driver_id": 1, "event_ts": "2024-02-01T00:00:00Z", "conv_rate": 2}]', 'reject');
  )sql");

  const std::string catalog =
      "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM ("
      " SELECT format('%s', e.*) x FROM fstore.entities e UNION ALL"
      " SELECT format('%s', v.*) FROM fstore.feature_views v UNION ALL"
      " SELECT format('%s', f.*) FROM fstore.features f UNION ALL"
      " SELECT format('%s', s.*) FROM fstore.feature_services s UNION ALL"
      " SELECT format('%s', h.*) FROM fstore.registry_history h UNION ALL"
      " SELECT format('%s %s %s', t.name, t.role, t.token_hash) FROM fstore.api_token_registry t UNION ALL"
      " SELECT format('%s %s', r.view, r.row) FROM fstore.rejected_rows r) q";
  const std::string data =
      "SELECT md5(string_agg(format('%s', d.*), '|' ORDER BY d.driver_id, d.event_ts)) FROM fstore_data.driver_stats d";
  std::string catalog_before = pg.query_value(catalog);
  std::string data_before = pg.query_value(data);
  ASSERT_FALSE(catalog_before.empty());

  std::string bin = run_command("pg_config --bindir");
  bin.erase(bin.find_last_not_of("\n") + 1);
  std::string conn = " -h 127.0.0.1 -p " + std::to_string(pg.port()) + " -U postgres ";
  run_command(bin + "/pg_dump" + conn + "-Fc -f /tmp/fstore_dump_" + std::to_string(pg.port()) + ".dump fstore_dump_src");
  run_command(bin + "/createdb" + conn + "fstore_dump_dst");
  run_command(bin + "/pg_restore" + conn + "--exit-on-error -d fstore_dump_dst /tmp/fstore_dump_" +
              std::to_string(pg.port()) + ".dump");
  run_command("rm -f /tmp/fstore_dump_" + std::to_string(pg.port()) + ".dump");

  auto in_restored = [&](const std::string& sql) {
    return run_command("psql -X -tA" + conn + "-d fstore_dump_dst -c \"" + sql + "\"");
  };
  EXPECT_EQ(in_restored(catalog), catalog_before + "\n");
  EXPECT_EQ(in_restored(data), data_before + "\n");
  // The restored database works: validation, registry functions and training sets.
  EXPECT_THROW(in_restored("INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate) VALUES (1, now(), 5)"),
               std::runtime_error);
  EXPECT_NE(in_restored("SELECT fstore.add_features('driver_stats', '[{\\\"name\\\": \\\"rating\\\", \\\"type\\\": \\\"int\\\"}]')")
                .find("1.2.0"), std::string::npos);
  in_restored("CREATE TABLE labels AS SELECT 1::bigint AS driver_id, timestamptz '2024-01-05' AS event_timestamp");
  EXPECT_EQ(in_restored("SELECT fstore.create_training_set('ts', 'labels', feature_service => 'ranker')"), "1\n");
  EXPECT_EQ(in_restored("SELECT conv_rate || ' ' || city FROM ts"), "0.91 Lyon\n");  // driver 1's row at g = 91, the last before Jan 5
}

}  // namespace
