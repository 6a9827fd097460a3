// The online views as the sync worker sees them: loaded from the registry, checked against the
// tables' columns by type OID (so that no user-defined cast, operator or json conversion ever runs
// in the worker), and the SQL that reads their winners (the point-in-time rule at the batch's
// "now"). Decoding a winner row into Redis commands lives here too (see docs/sync.md).
#pragma once

#include "sync/redis_link.hpp"
#include "time_rule.hpp"

#include <pqxx/pqxx>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fstore::sync {

std::string quote_ident(const std::string& s);

// One online feature view as the worker needs it, with its SQL prepared once.
struct ViewInfo {
  std::string name;
  std::string table;        // schema-qualified, quoted
  std::string key_col, key_type, ts_col, created_col;
  std::optional<Interval> ttl;
  std::vector<std::string> features;  // non-archived, in position order
  std::string signature;    // what Redis was built with; a change resyncs the view
  std::string problem;      // why the view cannot be synced now ("" when it can)

  std::string select_sql;   // SELECT <winner columns> FROM table t WHERE key IS NOT NULL AND ts <= now()
  std::string order_sql;    // ORDER BY key, the tie-break (fstore::winner_order_sql), ctid

  // Winners of the keys in $1 (a text[] literal).
  std::string keyed_sql() const;
  // Winners in key order, $1 of them (LIMIT), after key $2 when `after` (keyset pages).
  std::string page_sql(bool after) const;
  // Queues the keys (of $2, or all when !keyed) that have rows later than now (finite ones only),
  // one queue row per next event time, due then.
  std::string requeue_sql(bool keyed) const;
};

// Loads every online view, checks its columns and builds its SQL.
std::map<std::string, ViewInfo> load_views(pqxx::transaction_base& tx);

// Right before a view's table is read in `tx`: locks it (ACCESS SHARE, so no ALTER TABLE can
// commit until `tx` ends) and loads the view again, with its columns checked as they are now.
// nullopt: the view is gone or offline. Throws pqxx::sql_error when the table cannot be locked.
std::optional<ViewInfo> lock_and_check_view(pqxx::transaction_base& tx, const ViewInfo& v);

// SQL for a timestamptz expression as PostgreSQL microseconds (int8, infinities as INT64_MIN/MAX,
// NULL stays NULL). Exact (extract returns numeric), never fails on an infinity.
std::string micros_sql(const std::string& expr);

// Appends the commands that make Redis hold winner row `row` (columns of ViewInfo::select_sql) of
// view `v` at `now_pg_us`: HSET (after a DEL when `reset`) and PEXPIREAT, or DEL when the row is
// outside the ttl or already expired at `wall_ms`.
void add_winner(std::vector<Command>& cmds, const ViewInfo& v, const pqxx::row& row, bool reset, int64_t now_pg_us,
                int64_t wall_ms);

}  // namespace fstore::sync
