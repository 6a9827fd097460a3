// Diffs a feature repository against the registry (see planner.hpp). Only registry functions
// change the registry, so a difference that none of them can make is an "unsupported" step that
// apply refuses, rather than a direct write behind the registry's back.
#include "planner.hpp"

#include <algorithm>
#include <iostream>
#include <map>
#include <set>

using nlohmann::json;

namespace fstore_cli {

namespace {

// Apply order: removals first, then creates in dependency order.
enum Order { kDropMonitor = 0, kDropStream, kDropView, kEntity, kView, kViewChange, kService,
             kServiceChange, kMonitor, kStream };

// The registry's current objects of each kind, as JSON rows keyed by name.
std::map<std::string, json> load(Db& db, const std::string& select) {
  Rows r = db.query("SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]')::text FROM (" + select + ") x");
  std::map<std::string, json> out;
  for (auto& row : json::parse(*r.rows[0][0])) out[row["name"].get<std::string>()] = row;
  return out;
}

std::string bump(const std::string& v, char part) {
  int a = 0, b = 0, c = 0;
  std::sscanf(v.c_str(), "%d.%d.%d", &a, &b, &c);
  if (part == 'M') return std::to_string(a + 1) + ".0.0";
  if (part == 'm') return std::to_string(a) + "." + std::to_string(b + 1) + ".0";
  return std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c + 1);
}

// A typed argument of a registry function call, passed as a parameter.
struct Arg {
  std::string name, type;
  json value;
};

Param text_of(const json& v) {
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// SELECT fn(name => $1::type, ...): named arguments, so omitted ones keep their defaults.
Call call(const std::string& fn, const std::vector<Arg>& args) {
  Call c;
  std::string list;
  for (const auto& a : args) {
    c.params.push_back(text_of(a.value));
    const std::string p = "$" + std::to_string(c.params.size());
    const std::string expr = a.type == "text[]" ? "ARRAY(SELECT jsonb_array_elements_text(" + p + "::jsonb))"
                                                : p + "::" + a.type;
    list += (list.empty() ? "" : ", ") + a.name + " => " + expr;
  }
  c.sql = "SELECT fstore." + fn + "(" + list + ")";
  return c;
}

// The arguments of `spec` that are in `types` (name -> SQL type), in that order.
std::vector<Arg> args_of(const json& spec, const std::vector<std::pair<std::string, std::string>>& types) {
  std::vector<Arg> out;
  for (const auto& [k, t] : types)
    if (spec.contains(k)) out.push_back({k, t, spec[k]});
  return out;
}

class Planner {
 public:
  Planner(Db& db, const Repository& repo) : db_(db), repo_(repo) {}
  Plan run();

 private:
  std::string norm(const std::string& sql, const json& v) {
    if (v.is_null()) return "";
    Rows r = db_.query(sql, {text_of(v)});
    return r.rows[0][0].value_or("");
  }
  std::string type_of(const json& v) { return norm("SELECT pg_catalog.format_type(pg_catalog.to_regtype($1), NULL)", v); }
  std::string interval_of(const json& v) { return norm("SELECT $1::interval::text", v); }
  // Field-by-field differences of the fields the repository states (omitted ones are not managed).
  std::vector<std::string> differences(const json& want, const json& have, const std::set<std::string>& skip);
  void entities();
  void views();
  void view_changes(const RepoObject& o, const json& have);
  void services();
  void monitors();
  void streams();
  void add(Step s) { plan_.steps.push_back(std::move(s)); }

  Db& db_;
  const Repository& repo_;
  Plan plan_;
  std::map<std::string, json> features_;  // view -> array of its features
};

std::vector<std::string> Planner::differences(const json& want, const json& have, const std::set<std::string>& skip) {
  static const std::set<std::string> kIntervals = {"ttl", "detection", "reference", "every", "retention"};
  std::vector<std::string> out;
  for (const auto& [k, v] : want.items()) {
    if (skip.count(k)) continue;
    json h = have.contains(k) ? have[k] : json();
    bool same;
    if (kIntervals.count(k)) same = interval_of(v) == (h.is_string() ? h.get<std::string>() : "");
    else if (k == "key_type" || k == "type") same = type_of(v) == (h.is_string() ? h.get<std::string>() : "");
    else if (k == "description" && v.is_null()) same = h == "";
    else if (v.is_number() && h.is_number()) same = v.get<double>() == h.get<double>();
    else same = v == h;
    if (!same) out.push_back(k + ": " + (h.is_null() ? "null" : h.dump()) + " -> " + v.dump());
  }
  return out;
}

void Planner::entities() {
  auto have = load(db_, "SELECT name, join_key, key_type::text AS key_type, description, owner, tags FROM fstore.entities");
  for (const auto& o : repo_.objects) {
    if (o.kind != "entity") continue;
    auto it = have.find(o.name);
    if (it == have.end()) {
      add({"create", "entity", o.name, "join key " + o.spec["join_key"].get<std::string>(), o.where, "", false, kEntity,
           {call("create_entity", args_of(o.spec, {{"name", "text"}, {"join_key", "text"}, {"key_type", "regtype"},
                                                   {"description", "text"}, {"owner", "text"}, {"tags", "text[]"}}))}});
      continue;
    }
    auto d = differences(o.spec, it->second, {"name"});
    for (const auto& x : d)
      add({"unsupported", "entity", o.name, x + " (no registry function changes an entity)", o.where, "", false, kEntity, {}});
  }
  for (const auto& [name, _] : have)
    if (!repo_.find("entity", name)) plan_.notes.push_back("entity \"" + name + "\" is not in the repository: kept (no registry function removes entities)");
}

void Planner::views() {
  auto have = load(db_, "SELECT name, entity, ttl::text AS ttl, online, version, description, owner, tags, managed, "
                        "table_name::text AS source, timestamp_column, created_column, partition_by, "
                        "retention::text AS retention FROM fstore.feature_views");
  Rows fr = db_.query("SELECT view, coalesce(jsonb_agg(jsonb_build_object('name', name, 'type', pg_catalog.format_type(type, NULL), "
                      "'description', description, 'tags', tags, 'status', status, 'validation', validation, 'expression', expression) "
                      "ORDER BY position), '[]')::text FROM fstore.features GROUP BY view");
  for (const auto& row : fr.rows) features_[*row[0]] = json::parse(*row[1]);
  for (const auto& o : repo_.objects) {
    if (o.kind != "feature_view") continue;
    auto it = have.find(o.name);
    Step create{"create", "feature_view", o.name, "", o.where, "1.0.0", false, kView, {}};
    if (o.spec.contains("source")) {
      json spec = o.spec;
      if (spec.contains("features")) {
        json names = json::array();
        for (const auto& f : spec["features"]) names.push_back(f.is_object() ? f["name"] : f);
        spec["features"] = names;
      }
      create.detail = "registered on " + spec["source"].get<std::string>();
      create.calls.push_back(call("register_feature_view",
          args_of(spec, {{"name", "text"}, {"entity", "text"}, {"source", "regclass"}, {"timestamp_column", "text"},
                         {"created_column", "text"}, {"features", "text[]"}, {"ttl", "interval"}, {"online", "boolean"},
                         {"description", "text"}, {"owner", "text"}, {"tags", "text[]"}})));
    } else {
      create.detail = std::to_string(o.spec["features"].size()) + " features";
      create.calls.push_back(call("create_feature_view",
          args_of(o.spec, {{"name", "text"}, {"entity", "text"}, {"features", "jsonb"}, {"ttl", "interval"},
                           {"online", "boolean"}, {"description", "text"}, {"owner", "text"}, {"tags", "text[]"},
                           {"partition_by", "text"}, {"retention", "interval"}})));
    }
    if (it == have.end()) {
      add(create);
      continue;
    }
    view_changes(o, it->second);
  }
  for (const auto& [name, v] : have)
    if (!repo_.find("feature_view", name))
      add({"remove", "feature_view", name, "drop the view (its data table stays)", "", "", true, kDropView,
           {call("drop_feature_view", {{"name", "text", name}})}});
}

// Changes of an existing view: new features (add_features, minor version), status changes and
// archived features (set_feature_status, patch version); anything else is unsupported.
void Planner::view_changes(const RepoObject& o, const json& have) {
  for (const auto& x : differences(o.spec, have, {"name", "features", "source"}))
    add({"unsupported", "feature_view", o.name, x + " (no registry function changes it)", o.where, "", false, kViewChange, {}});
  std::string version = have["version"];
  const json& current = features_[o.name];
  std::set<std::string> in_repo;
  json added = json::array();
  std::vector<Step> status;
  for (const auto& f : o.spec.value("features", json::array())) {
    json spec = f.is_object() ? f : json{{"name", f}};
    const std::string fname = spec["name"];
    in_repo.insert(fname);
    auto cur = std::find_if(current.begin(), current.end(), [&](const json& c) { return c["name"] == fname; });
    if (cur == current.end()) {
      added.push_back(f.is_object() ? f : json(fname));
      continue;
    }
    if (spec.contains("type") && type_of(spec["type"]) != (*cur)["type"]) {
      add({"unsupported", "feature", o.name + ":" + fname,
           "type " + (*cur)["type"].get<std::string>() + " -> " + type_of(spec["type"]) +
               " is incompatible: archive the feature and add one with a new name", o.where, "", true, kViewChange, {}});
      continue;
    }
    for (const auto& x : differences(spec, *cur, {"name", "type", "status"}))
      add({"unsupported", "feature", o.name + ":" + fname, x + " (no registry function changes it)", o.where, "", false, kViewChange, {}});
    const std::string want = spec.value("status", std::string("active"));
    if (want != (*cur)["status"]) {
      version = bump(version, 'p');
      status.push_back({"change", "feature", o.name + ":" + fname, "status " + (*cur)["status"].get<std::string>() + " -> " + want,
                        o.where, version, want == "archived", kViewChange,
                        {call("set_feature_status", {{"feature", "text", o.name + ":" + fname}, {"status", "text", want}})}});
    }
  }
  for (const auto& c : current)
    if (!in_repo.count(c["name"]) && c["status"] != "archived") {
      version = bump(version, 'p');
      status.push_back({"remove", "feature", o.name + ":" + c["name"].get<std::string>(), "archive (not in the repository)",
                        o.where, version, true, kViewChange,
                        {call("set_feature_status", {{"feature", "text", o.name + ":" + c["name"].get<std::string>()},
                                                     {"status", "text", "archived"}})}});
    }
  for (auto& s : status) add(std::move(s));
  if (!added.empty()) {
    version = bump(version, 'm');
    std::string names;
    for (const auto& f : added) names += (names.empty() ? "" : ", ") + (f.is_object() ? f["name"].get<std::string>() : f.get<std::string>());
    add({"change", "feature_view", o.name, "add features " + names, o.where, version, false, kViewChange,
         {call("add_features", {{"view", "text", o.name}, {"features", "jsonb", added}})}});
  }
}

// True when every key of `want` (transforms as written) equals the stored, normalized one.
bool covers(const json& want, const json& have) {
  if (!want.is_object() || !have.is_object()) return want == have;
  if (want.size() != have.size() && have.is_object() && want.is_object() && want.size() > have.size()) return false;
  for (const auto& [k, v] : want.items()) {
    if (!have.contains(k)) return false;
    if (v.is_object() ? !covers(v, have[k]) : !(v.is_number() && have[k].is_number() ? v.get<double>() == have[k].get<double>() : v == have[k])) return false;
  }
  return true;
}

void Planner::services() {
  auto have = load(db_, "SELECT name, features, description, owner, tags, version, transforms FROM fstore.feature_services");
  for (const auto& o : repo_.objects) {
    if (o.kind != "feature_service") continue;
    auto it = have.find(o.name);
    Call transforms = call("set_transforms", {{"service", "text", o.name}, {"transforms", "jsonb", o.spec.value("transforms", json::object())}});
    if (it == have.end()) {
      Step s{"create", "feature_service", o.name, std::to_string(o.spec["features"].size()) + " feature references", o.where, "1.0.0", false, kService,
             {call("create_feature_service", args_of(o.spec, {{"name", "text"}, {"features", "text[]"}, {"description", "text"},
                                                              {"owner", "text"}, {"tags", "text[]"}}))}};
      if (o.spec.contains("transforms") && !o.spec["transforms"].empty()) {
        s.calls.push_back(transforms);
        s.version = "1.1.0";
        s.detail += ", transforms of " + std::to_string(o.spec["transforms"].size());
      }
      add(s);
      continue;
    }
    for (const auto& x : differences(o.spec, it->second, {"name", "transforms"}))
      add({"unsupported", "feature_service", o.name, x + " (no registry function changes it)", o.where, "", false, kServiceChange, {}});
    json want = o.spec.value("transforms", json::object());
    json cur = it->second["transforms"].is_null() ? json::object() : it->second["transforms"];
    bool same = want.size() == cur.size();
    for (const auto& [k, v] : want.items()) same = same && cur.contains(k) && covers(v, cur[k]);
    if (!same)
      add({"change", "feature_service", o.name, "transforms " + cur.dump() + " -> " + want.dump(), o.where,
           bump(it->second["version"], 'm'), false, kServiceChange, {transforms}});
  }
  for (const auto& [name, _] : have)
    if (!repo_.find("feature_service", name)) plan_.notes.push_back("feature service \"" + name + "\" is not in the repository: kept (no registry function removes services)");
}

void Planner::monitors() {
  auto have = load(db_, "SELECT name, feature, metric, threshold, detection::text AS detection, reference::text AS reference, "
                        "every::text AS every, description, owner FROM fstore.monitors");
  for (const auto& o : repo_.objects) {
    if (o.kind != "monitor") continue;
    Call create = call("create_monitor", args_of(o.spec, {{"name", "text"}, {"feature", "text"}, {"metric", "text"}, {"threshold", "float8"},
                                                           {"detection", "interval"}, {"reference", "interval"}, {"every", "interval"},
                                                           {"description", "text"}, {"owner", "text"}}));
    auto it = have.find(o.name);
    if (it == have.end()) {
      add({"create", "monitor", o.name, "watches " + o.spec["feature"].get<std::string>(), o.where, "", false, kMonitor, {create}});
      continue;
    }
    auto d = differences(o.spec, it->second, {"name"});
    if (d.empty()) continue;
    std::string detail;
    for (const auto& x : d) detail += (detail.empty() ? "" : "; ") + x;
    add({"replace", "monitor", o.name, detail + " (dropped and created again; its results stay)", o.where, "", false, kMonitor,
         {call("drop_monitor", {{"name", "text", o.name}}), create}});
  }
  for (const auto& [name, _] : have)
    if (!repo_.find("monitor", name))
      add({"remove", "monitor", name, "drop the monitor", "", "", true, kDropMonitor, {call("drop_monitor", {{"name", "text", name}})}});
}

void Planner::streams() {
  auto have = load(db_, "SELECT name, view, kind, options FROM fstore.stream_sources");
  for (const auto& o : repo_.objects) {
    if (o.kind != "stream_source") continue;
    Call create = call("create_stream_source", args_of(o.spec, {{"name", "text"}, {"view", "text"}, {"options", "jsonb"}, {"kind", "text"}}));
    auto it = have.find(o.name);
    if (it == have.end()) {
      add({"create", "stream_source", o.name, "into " + o.spec["view"].get<std::string>(), o.where, "", false, kStream, {create}});
      continue;
    }
    bool same = o.spec["view"] == it->second["view"] && covers(o.spec["options"], it->second["options"]);
    if (!same)
      add({"replace", "stream_source", o.name, "view or options changed (dropped with its stored offsets and created again)",
           o.where, "", true, kStream, {call("drop_stream_source", {{"name", "text", o.name}}), create}});
  }
  for (const auto& [name, _] : have)
    if (!repo_.find("stream_source", name))
      add({"remove", "stream_source", name, "drop the source and its stored offsets", "", "", true, kDropStream,
           {call("drop_stream_source", {{"name", "text", name}})}});
}

Plan Planner::run() {
  entities();
  views();
  services();
  monitors();
  streams();
  std::stable_sort(plan_.steps.begin(), plan_.steps.end(), [](const Step& a, const Step& b) { return a.order < b.order; });
  return plan_;
}

}  // namespace

bool Plan::has_destructive() const {
  return std::any_of(steps.begin(), steps.end(), [](const Step& s) { return s.destructive && s.action != "unsupported"; });
}

bool Plan::has_unsupported() const {
  return std::any_of(steps.begin(), steps.end(), [](const Step& s) { return s.action == "unsupported"; });
}

json Plan::to_json() const {
  json out = {{"steps", json::array()}, {"notes", notes}};
  std::map<std::string, int> counts = {{"create", 0}, {"change", 0}, {"replace", 0}, {"remove", 0}, {"unsupported", 0}};
  for (const auto& s : steps) {
    counts[s.action]++;
    out["steps"].push_back({{"action", s.action}, {"kind", s.kind}, {"name", s.name}, {"detail", s.detail},
                            {"where", s.where.empty() ? json() : json(s.where)},
                            {"version", s.version.empty() ? json() : json(s.version)}, {"destructive", s.destructive}});
  }
  out["summary"] = counts;
  out["destructive"] = has_destructive();
  out["unsupported"] = has_unsupported();
  return out;
}

void print_plan(const Plan& p, bool as_json) {
  if (as_json) {
    std::cout << p.to_json().dump(2) << "\n";
    return;
  }
  if (p.steps.empty()) std::cout << "no changes: the registry matches the repository\n";
  static const std::map<std::string, std::string> kSign = {{"create", "+"}, {"change", "~"}, {"replace", "-/+"},
                                                           {"remove", "-"}, {"unsupported", "!"}};
  for (const auto& s : p.steps) {
    std::cout << "  " << kSign.at(s.action) << " " << s.action << " " << s.kind << " " << s.name;
    if (!s.version.empty()) std::cout << " (version " << s.version << ")";
    std::cout << ": " << s.detail;
    if (s.destructive) std::cout << " [destructive]";
    if (!s.where.empty()) std::cout << "  (" << s.where << ")";
    std::cout << "\n";
  }
  for (const auto& n : p.notes) std::cout << "  note: " << n << "\n";
  auto j = p.to_json()["summary"];
  std::cout << "plan: " << j["create"] << " to create, " << j["change"].get<int>() + j["replace"].get<int>() << " to change, "
            << j["remove"] << " to remove, " << j["unsupported"] << " unsupported\n";
}

Plan make_plan(Db& db, const Repository& repo) { return Planner(db, repo).run(); }

}  // namespace fstore_cli
