#include "http/route_match.hpp"

namespace fstore::server {

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') { out.push_back(s[i]); continue; }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::vector<std::string> query_values(std::string_view query, std::string_view name) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(pos, amp - pos);
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (key == name) {
      auto v = percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
      out.push_back(v ? *v : std::string());
    }
    pos = amp + 1;
  }
  return out;
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string_view::npos) comma = s.size();
    std::string_view item = s.substr(pos, comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    pos = comma + 1;
  }
  return out;
}

// The file a /ui/... path names, relative to the UI's root ("" for /ui and /ui/).
static std::string ui_path(const std::vector<std::string>& seg) {
  std::string out;
  for (size_t i = 1; i < seg.size(); ++i) out += (i > 1 ? "/" : "") + seg[i];
  return out;
}

RouteMatch match_route(std::string_view method, std::string_view target) {
  RouteMatch m;
  auto qpos = target.find('?');
  std::string_view path = target.substr(0, qpos);
  if (qpos != std::string_view::npos) m.query = std::string(target.substr(qpos + 1));
  // Segments, decoded one by one so an encoded '/' stays inside its segment.
  std::vector<std::string> seg;
  if (path.empty() || path[0] != '/') return m;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    auto d = percent_decode(path.substr(pos, slash - pos));
    if (!d) { m.bad_encoding = true; return m; }
    seg.push_back(std::move(*d));
    pos = slash + 1;
  }
  if (!seg.empty() && seg.back().empty() && seg.size() > 1) seg.pop_back();  // trailing slash
  auto set = [&](Route r, const char* allow, std::vector<std::string> params = {}) {
    m.route = r;
    m.found = true;
    m.allow = allow;
    m.method_ok = method == allow;
    m.params = std::move(params);
  };
  size_t n = seg.size();
  if (n == 1 && seg[0] == "health") set(Route::health, "GET");
  else if (n == 1 && seg[0] == "ready") set(Route::ready, "GET");
  else if (n == 1 && seg[0] == "metrics") set(Route::metrics, "GET");
  else if (n == 1 && seg[0] == "groups") set(Route::groups, "GET");
  else if (n == 1 && seg[0] == "features") set(Route::features, "GET");
  else if (n == 1 && seg[0] == "get-online-features") set(Route::online_features, "POST");
  else if (n == 2 && seg[0] == "ingest") set(Route::ingest, "POST", {seg[1]});
  else if (n == 2 && seg[0] == "statistics") set(Route::statistics, "GET", {seg[1]});
  else if (n == 1 && seg[0] == "monitoring") set(Route::monitoring, "GET");
  else if (n == 1 && seg[0] == "lineage") set(Route::lineage, "GET");
  else if (n == 1 && seg[0] == "history") set(Route::history, "GET");
  else if (n == 1 && seg[0] == "entities") set(Route::create_entity, "POST");
  else if (n == 1 && seg[0] == "feature-views") set(Route::create_feature_view, "POST");
  else if (n == 3 && seg[0] == "feature-views" && seg[2] == "features") set(Route::add_features, "POST", {seg[1]});
  else if (n == 1 && seg[0] == "feature-services") set(Route::create_feature_service, "POST");
  else if (n == 4 && seg[0] == "features" && seg[3] == "status") set(Route::set_feature_status, "PUT", {seg[1], seg[2]});
  else if (n >= 1 && seg[0] == "ui") set(Route::ui, "GET", {ui_path(seg)});
  else if (n == 3 && seg[0] == "features") set(Route::entity_features, "GET", {seg[1], seg[2]});
  else if (n == 4 && seg[0] == "features" && seg[3] == "metadata")
    set(Route::feature_metadata, "GET", {seg[1], seg[2]});
  return m;
}

}  // namespace fstore::server
