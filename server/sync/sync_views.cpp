#include "sync/sync_views.hpp"

#include "sync/sync_util.hpp"

#include <nlohmann/json.hpp>

namespace fstore::sync {

namespace {

constexpr int64_t kTimestamptzOid = 1184;
constexpr int64_t kFirstNormalObjectId = 16384;  // OIDs below belong to initdb's built-in objects

// The registry query: one row per online view, with the type OIDs of its table's columns (NULL:
// no such column) so they can be compared with the registry's types without touching the data.
constexpr const char* kLoadSql = R"SQL(
SELECT v.name, pg_catalog.format('%I.%I', n.nspname, c.relname), v.join_key,
       pg_catalog.format_type(v.key_type, NULL), v.timestamp_column, v.created_column, v.ttl::text,
       c.relkind::text, c.oid::text,
       (SELECT pg_catalog.array_to_json(pg_catalog.array_agg(f.name ORDER BY f.position, f.name))::text
          FROM fstore.features f WHERE f.view = v.name AND f.status <> 'archived'),
       (extract(year FROM v.ttl) * 12 + extract(month FROM v.ttl))::int8,
       extract(day FROM v.ttl)::int8, extract(hour FROM v.ttl)::int8,
       extract(minute FROM v.ttl)::int8, extract(microseconds FROM v.ttl)::int8,
       v.key_type::oid::int8,
       (SELECT a.atttypid::int8 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid
           AND a.attname = v.join_key::name AND a.attnum > 0 AND NOT a.attisdropped),
       (SELECT a.atttypid::int8 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid
           AND a.attname = v.timestamp_column::name AND a.attnum > 0 AND NOT a.attisdropped),
       (SELECT a.atttypid::int8 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid
           AND a.attname = v.created_column::name AND a.attnum > 0 AND NOT a.attisdropped),
       (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(f.name, f.type::oid::int8, a.atttypid::int8,
                 pg_catalog.format_type(f.type, NULL), pg_catalog.format_type(a.atttypid, NULL))
                 ORDER BY f.position, f.name)::text
          FROM fstore.features f LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
           AND a.attname = f.name::name AND a.attnum > 0 AND NOT a.attisdropped
         WHERE f.view = v.name AND f.status <> 'archived'),
       pg_catalog.has_column_privilege(c.oid, 'ctid', 'SELECT')
  FROM fstore.feature_views v JOIN pg_catalog.pg_class c ON c.oid = v.table_name
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE v.online AND ($1::text IS NULL OR v.name = $1)
)SQL";

// Why a column of the table cannot be read as the registry says ("" when it can).
std::string column_problem(const std::string& what, const std::string& col, const pqxx::field& att, int64_t want,
                           const std::string& want_name) {
  if (att.is_null()) return what + " column \"" + col + "\" does not exist";
  if (att.as<int64_t>() != want) return what + " column \"" + col + "\" is not of type " + want_name + " any more";
  return "";
}

// The JSON text of a feature column: to_jsonb for built-in types (no user cast to json can exist
// for them); otherwise the type's own output function, as a JSON string.
std::string feature_json_sql(const std::string& col, int64_t type_oid) {
  if (type_oid < kFirstNormalObjectId) return "COALESCE(pg_catalog.to_jsonb(" + col + ")::text, 'null')";
  return "CASE WHEN " + col + " IS NULL THEN 'null' ELSE pg_catalog.to_jsonb(pg_catalog.format('%s', " + col +
         "))::text END";
}

// Builds the view's SQL from its checked columns.
void build_sql(ViewInfo& v, const std::vector<int64_t>& feature_types, bool use_ctid) {
  const std::string k = "t." + quote_ident(v.key_col);
  const std::string ts = "t." + quote_ident(v.ts_col);
  const std::string created = v.created_col.empty() ? "" : "t." + quote_ident(v.created_col);
  std::string sel = "SELECT DISTINCT ON (" + k + ") (" + k + ")::text, " + micros_sql(ts) + ", " +
                    micros_sql(created.empty() ? ts : created);
  for (size_t i = 0; i < v.features.size(); ++i)
    sel += ", " + feature_json_sql("t." + quote_ident(v.features[i]), feature_types[i]);
  // A NULL key can never be looked up; a NULL or 'infinity' event time never wins at now.
  v.select_sql = sel + " FROM " + v.table + " t WHERE " + k + " IS NOT NULL AND " + ts + " <= pg_catalog.now()";
  v.order_sql = " ORDER BY " + k + ", " + winner_order_sql(ts, created);
  if (use_ctid) v.order_sql += ", t.ctid DESC";
}

}  // namespace

std::string quote_ident(const std::string& s) {
  std::string out = "\"";
  for (char c : s) { if (c == '"') out.push_back('"'); out.push_back(c); }
  out.push_back('"');
  return out;
}

std::string micros_sql(const std::string& e) {
  return "(CASE WHEN (" + e + ") IS NULL THEN NULL::int8 WHEN pg_catalog.isfinite(" + e +
         ") THEN ((extract(epoch FROM " + e + ") - 946684800) * 1000000)::int8 WHEN (" + e +
         ") > 'epoch'::timestamptz THEN '9223372036854775807'::int8 ELSE '-9223372036854775808'::int8 END)";
}

std::string ViewInfo::keyed_sql() const {
  return select_sql + " AND t." + quote_ident(key_col) + " = ANY($1::" + key_type + "[])" + order_sql;
}

std::string ViewInfo::page_sql(bool after) const {
  return select_sql + (after ? " AND t." + quote_ident(key_col) + " > $2::" + key_type : std::string()) + order_sql +
         " LIMIT $1";
}

std::string ViewInfo::requeue_sql(bool keyed) const {
  const std::string k = "t." + quote_ident(key_col), ts = "t." + quote_ident(ts_col);
  return "INSERT INTO fstore.change_queue (view_name, keys, due_at) "
         "SELECT $1, pg_catalog.array_agg(s.k), s.t FROM ("
         "SELECT (" + k + ")::text AS k, pg_catalog.min(" + ts + ") AS t FROM " + table + " t WHERE " + k +
         " IS NOT NULL AND " + ts + " > pg_catalog.now() AND " + ts + " < 'infinity'::timestamptz" +
         (keyed ? " AND " + k + " = ANY($2::" + key_type + "[])" : std::string()) + " GROUP BY " + k +
         ") s GROUP BY s.t";
}

namespace {
// Loads the online views named `only` (all when null).
std::map<std::string, ViewInfo> load(pqxx::transaction_base& tx, const std::optional<std::string>& only) {
  std::map<std::string, ViewInfo> loaded;
  pqxx::result rows = only ? tx.exec_params(kLoadSql, *only) : tx.exec_params(kLoadSql, nullptr);
  for (const auto& row : rows) {
    ViewInfo v;
    v.name = row[0].as<std::string>();
    v.table = row[1].as<std::string>();
    v.key_col = row[2].as<std::string>();
    v.key_type = row[3].as<std::string>();
    v.ts_col = row[4].as<std::string>();
    v.created_col = row[5].is_null() ? "" : row[5].as<std::string>();
    const std::string ttl_text = row[6].is_null() ? "" : row[6].as<std::string>();
    const std::string relkind = row[7].as<std::string>();
    const std::string names_json = row[9].is_null() ? "[]" : row[9].as<std::string>();
    if (!ttl_text.empty()) {
      Interval i;
      i.months = static_cast<int32_t>(row[10].as<int64_t>());
      i.days = static_cast<int32_t>(row[11].as<int64_t>());
      i.usecs = interval_time_usecs(row[12].as<int64_t>(), row[13].as<int64_t>(), row[14].as<int64_t>());
      v.ttl = i;
    }
    v.signature = row[8].as<std::string>() + "|" + v.key_col + "|" + v.key_type + "|" + v.ts_col + "|" +
                  v.created_col + "|" + ttl_text + "|" + names_json;
    // Columns as the table has them now, against the registry (by type OID, nothing is cast).
    std::vector<std::string> problems;
    problems.push_back(column_problem("join key", v.key_col, row[16], row[15].as<int64_t>(), v.key_type));
    problems.push_back(column_problem("event time", v.ts_col, row[17], kTimestamptzOid, "timestamptz"));
    if (!v.created_col.empty())
      problems.push_back(column_problem("created time", v.created_col, row[18], kTimestamptzOid, "timestamptz"));
    std::vector<int64_t> feature_types;
    auto features = nlohmann::json::parse(row[19].is_null() ? "[]" : row[19].c_str());
    for (const auto& f : features) {
      const std::string name = f[0].get<std::string>();
      const int64_t want = f[1].get<int64_t>();
      if (f[2].is_null()) problems.push_back("feature column \"" + name + "\" does not exist");
      else if (f[2].get<int64_t>() != want)
        problems.push_back("feature column \"" + name + "\" has type " + f[4].get<std::string>() + ", not " +
                           f[3].get<std::string>());
      v.features.push_back(name);
      feature_types.push_back(want);
    }
    for (const auto& p : problems)
      if (!p.empty()) v.problem += (v.problem.empty() ? "" : "; ") + p;
    const bool heap = relkind == "r" || relkind == "p" || relkind == "m";
    build_sql(v, feature_types, heap && !row[20].is_null() && row[20].as<bool>());
    loaded.emplace(v.name, std::move(v));
  }
  return loaded;
}
}  // namespace

std::map<std::string, ViewInfo> load_views(pqxx::transaction_base& tx) { return load(tx, std::nullopt); }

std::optional<ViewInfo> lock_and_check_view(pqxx::transaction_base& tx, const ViewInfo& v) {
  // A query takes ACCESS SHARE until the end of the transaction; unlike LOCK TABLE it needs no
  // table-level privilege (a column privilege on any column suffices).
  tx.exec("SELECT 1 FROM " + v.table + " LIMIT 0");
  auto fresh = load(tx, v.name);
  if (fresh.empty()) return std::nullopt;
  return std::move(fresh.begin()->second);
}

void add_winner(std::vector<Command>& cmds, const ViewInfo& v, const pqxx::row& row, bool reset, int64_t now_pg_us,
                int64_t wall_ms) {
  std::string key = entity_redis_key(v.name, row[0].as<std::string>());
  const int64_t event_us = row[1].as<int64_t>();
  const auto expiry = redis_expiry_ms(event_us, v.ttl, now_pg_us);
  if (!expiry || (*expiry != 0 && *expiry <= wall_ms)) {  // outside the ttl, or expired since the query
    cmds.push_back({"DEL", key});
    return;
  }
  if (reset) cmds.push_back({"DEL", key});
  Command h;
  h.reserve(6 + 2 * v.features.size());
  h.push_back("HSET");
  h.push_back(key);
  h.push_back("@event_ts");
  h.push_back(std::to_string(pg_to_unix_us(event_us)));
  h.push_back("@created_ts");
  // A NULL created_ts ranks below every value (fstore::kNullCreated).
  h.push_back(std::to_string(row[2].is_null() ? kNullCreated : pg_to_unix_us(row[2].as<int64_t>())));
  for (size_t i = 0; i < v.features.size(); ++i) {
    const auto& f = row[static_cast<pqxx::row::size_type>(3 + i)];
    h.push_back(v.features[i]);
    h.emplace_back(f.c_str(), f.size());
  }
  cmds.push_back(std::move(h));
  if (*expiry != 0) cmds.push_back({"PEXPIREAT", key, std::to_string(*expiry)});
}

}  // namespace fstore::sync
