#include "support/sync_check.hpp"

#include "sync/redis_link.hpp"

#include <algorithm>

namespace fstore::testing {

using fstore::sync::Command;
using fstore::sync::RedisLink;
using fstore::sync::redis_link_endpoint;
using fstore::sync::reply_text;

// What Redis must hold for `view` (the point-in-time rule at now), computed by a reference query.
Store expected(const PgCluster& pg, const std::string& table, const std::string& key, const std::string& ts,
               const std::string& created, const std::vector<std::string>& features, const std::string& ttl) {
  // Unix microseconds, exact; infinities and a NULL created_ts as INT64_MIN / INT64_MAX.
  auto epoch_us = [&](const std::string& col) {
    return "(CASE WHEN " + col + " IS NULL OR " + col + " = '-infinity' THEN '-9223372036854775808' WHEN " + col +
           " = 'infinity' THEN '9223372036854775807' ELSE (extract(epoch FROM " + col + ") * 1000000)::int8::text END)";
  };
  std::string sql = "SELECT DISTINCT ON (" + key + ") " + key + "::text, " + epoch_us(ts) + ", " +
                    epoch_us(created.empty() ? ts : created);
  for (const auto& f : features) sql += ", coalesce(to_jsonb(" + f + ")::text, 'null')";
  sql += " FROM " + table + " WHERE " + key + " IS NOT NULL AND " + ts + " <= now()";
  if (!ttl.empty()) sql += " AND " + ts + " >= now() - interval '" + ttl + "'";
  sql += " ORDER BY " + key + ", " + ts + " DESC" + (created.empty() ? "" : ", " + created + " DESC NULLS LAST");
  auto conn = pg.connect();
  pqxx::work tx(conn);
  Store out;
  for (const auto& row : tx.exec(sql)) {
    Hash h{{"@event_ts", row[1].c_str()}, {"@created_ts", row[2].c_str()}};
    for (size_t i = 0; i < features.size(); ++i) h[features[i]] = row[static_cast<pqxx::row::size_type>(3 + i)].c_str();
    out[row[0].c_str()] = std::move(h);
  }
  return out;
}

// Everything Redis holds for `view`.
Store redis_view(const RedisServer& redis, const std::string& view) { return redis_view_at(redis.url(), view); }

// Everything the Redis at `url` holds for `view`.
Store redis_view_at(const std::string& url, const std::string& view) {
  RedisLink link(redis_link_endpoint(url));
  std::vector<std::string> keys;
  std::string cursor = "0";
  const std::string prefix = "fstore:v1:" + view + ":";
  do {
    auto r = link.command({"SCAN", cursor, "MATCH", prefix + "*", "COUNT", "10000"});
    cursor = reply_text(r->element[0]);
    for (size_t i = 0; i < r->element[1]->elements; ++i) keys.push_back(reply_text(r->element[1]->element[i]));
  } while (cursor != "0");
  Store out;
  for (size_t i = 0; i < keys.size(); i += 5000) {
    std::vector<Command> cmds;
    for (size_t j = i; j < std::min(keys.size(), i + 5000); ++j) cmds.push_back({"HGETALL", keys[j]});
    auto replies = link.pipeline(cmds);
    for (size_t j = 0; j < replies.size(); ++j) {
      Hash h;
      for (size_t e = 0; e + 1 < replies[j]->elements; e += 2)
        h[reply_text(replies[j]->element[e])] = reply_text(replies[j]->element[e + 1]);
      if (!h.empty()) out[keys[i + j].substr(prefix.size())] = std::move(h);
    }
  }
  return out;
}

std::string describe_diff(const Store& want, const Store& got) {
  std::string d;
  int shown = 0;
  for (const auto& [k, h] : want) {
    auto it = got.find(k);
    if (it == got.end()) { d += "missing " + k + "\n"; }
    else if (it->second != h) {
      d += "differs " + k + ":";
      for (const auto& [f, v] : h) d += " " + f + "=" + v + "/" + (it->second.count(f) ? it->second.at(f) : "<none>");
      d += "\n";
    } else continue;
    if (++shown > 10) break;
  }
  for (const auto& [k, h] : got)
    if (!want.count(k) && shown++ < 20) d += "extra " + k + "\n";
  return d + "want " + std::to_string(want.size()) + " keys, got " + std::to_string(got.size());
}

}  // namespace fstore::testing
