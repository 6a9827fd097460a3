// YAML feature repository loader (see repository.hpp). yaml-cpp gives every node its Mark
// (line, column), so each error names the file, the line and the field.
#include "repository.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "db.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace fstore_cli {

namespace {

// What a field holds: the shapes the registry functions accept.
enum class Shape { Str, Bool, Num, StrList, Map, Any, Features };

struct Field {
  Shape shape;
  bool required;
};

using Schema = std::map<std::string, Field>;

const Schema kEntity = {{"name", {Shape::Str, true}}, {"join_key", {Shape::Str, true}},
                        {"key_type", {Shape::Str, false}}, {"description", {Shape::Str, false}},
                        {"owner", {Shape::Str, false}}, {"tags", {Shape::StrList, false}}};
const Schema kView = {{"name", {Shape::Str, true}}, {"entity", {Shape::Str, true}},
                      {"features", {Shape::Features, false}}, {"ttl", {Shape::Str, false}},
                      {"online", {Shape::Bool, false}}, {"description", {Shape::Str, false}},
                      {"owner", {Shape::Str, false}}, {"tags", {Shape::StrList, false}},
                      {"source", {Shape::Str, false}}, {"timestamp_column", {Shape::Str, false}},
                      {"created_column", {Shape::Str, false}}, {"partition_by", {Shape::Str, false}},
                      {"retention", {Shape::Str, false}}};
const Schema kFeature = {{"name", {Shape::Str, true}}, {"type", {Shape::Str, true}},
                         {"description", {Shape::Str, false}}, {"tags", {Shape::StrList, false}},
                         {"status", {Shape::Str, false}}, {"validation", {Shape::Map, false}},
                         {"expression", {Shape::Str, false}}};
const Schema kService = {{"name", {Shape::Str, true}}, {"features", {Shape::StrList, true}},
                         {"description", {Shape::Str, false}}, {"owner", {Shape::Str, false}},
                         {"tags", {Shape::StrList, false}}, {"transforms", {Shape::Map, false}}};
const Schema kMonitor = {{"name", {Shape::Str, true}}, {"feature", {Shape::Str, true}},
                         {"metric", {Shape::Str, false}}, {"threshold", {Shape::Num, false}},
                         {"detection", {Shape::Str, false}}, {"reference", {Shape::Str, false}},
                         {"every", {Shape::Str, false}}, {"description", {Shape::Str, false}},
                         {"owner", {Shape::Str, false}}};
const Schema kStream = {{"name", {Shape::Str, true}}, {"view", {Shape::Str, true}},
                        {"options", {Shape::Map, true}}, {"kind", {Shape::Str, false}}};

const std::vector<std::pair<std::string, std::pair<std::string, const Schema*>>> kSections = {
    {"entities", {"entity", &kEntity}},           {"feature_views", {"feature_view", &kView}},
    {"feature_services", {"feature_service", &kService}}, {"monitors", {"monitor", &kMonitor}},
    {"stream_sources", {"stream_source", &kStream}}};

struct Ctx {
  std::string file;
  [[noreturn]] void fail(const YAML::Node& n, const std::string& path, const std::string& msg) const {
    const auto m = n.Mark();
    throw CliError(file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": " +
                   (path.empty() ? "" : path + ": ") + msg);
  }
  std::string where(const YAML::Node& n) const { return file + ":" + std::to_string(n.Mark().line + 1); }
};

// A YAML scalar as JSON: plain scalars follow the core schema (true/false, null, numbers),
// quoted ones are strings.
json scalar(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() != "?") return s;  // quoted or explicitly tagged: text
  static const std::regex kInt("[-+]?[0-9]+"), kFloat("[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?");
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s == "null" || s == "~" || s == "Null" || s == "NULL" || s.empty()) return nullptr;
  if (std::regex_match(s, kInt)) {
    try { return std::stoll(s); } catch (...) { return std::stod(s); }
  }
  if (std::regex_match(s, kFloat)) return std::stod(s);
  return s;
}

json to_json(const Ctx& c, const YAML::Node& n, const std::string& path) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar: return scalar(n);
    case YAML::NodeType::Null: return nullptr;
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (size_t i = 0; i < n.size(); ++i) a.push_back(to_json(c, n[i], path + "[" + std::to_string(i) + "]"));
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) c.fail(kv.first, path, "keys must be text");
        o[kv.first.Scalar()] = to_json(c, kv.second, path + "." + kv.first.Scalar());
      }
      return o;
    }
    default: c.fail(n, path, "undefined value");
  }
}

void check_shape(const Ctx& c, const YAML::Node& n, const std::string& path, Shape shape);

// Checks mapping `n` against `schema`: no unknown keys, required ones present, shapes right.
void check_map(const Ctx& c, const YAML::Node& n, const std::string& path, const Schema& schema) {
  if (!n.IsMap()) c.fail(n, path, "must be a mapping");
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    auto it = schema.find(key);
    if (it == schema.end()) {
      std::string known;
      for (const auto& [k, _] : schema) known += (known.empty() ? "" : ", ") + k;
      c.fail(kv.first, path + "." + key, "unknown key \"" + key + "\" (known: " + known + ")");
    }
    check_shape(c, kv.second, path + "." + key, it->second.shape);
  }
  for (const auto& [key, f] : schema)
    if (f.required && !n[key]) c.fail(n, path, "missing required key \"" + key + "\"");
}

void check_shape(const Ctx& c, const YAML::Node& n, const std::string& path, Shape shape) {
  switch (shape) {
    case Shape::Str:
      if (!n.IsScalar() && !n.IsNull()) c.fail(n, path, "must be text");
      break;
    case Shape::Bool:
      if (!n.IsScalar() || !scalar(n).is_boolean()) c.fail(n, path, "must be true or false");
      break;
    case Shape::Num:
      if (!n.IsScalar() || !scalar(n).is_number()) c.fail(n, path, "must be a number");
      break;
    case Shape::StrList:
      if (!n.IsSequence()) c.fail(n, path, "must be a list of text");
      for (size_t i = 0; i < n.size(); ++i)
        if (!n[i].IsScalar()) c.fail(n[i], path + "[" + std::to_string(i) + "]", "must be text");
      break;
    case Shape::Map:
      if (!n.IsMap()) c.fail(n, path, "must be a mapping");
      break;
    case Shape::Features:
      if (!n.IsSequence()) c.fail(n, path, "must be a list of features");
      for (size_t i = 0; i < n.size(); ++i) {
        const std::string p = path + "[" + std::to_string(i) + "]";
        if (n[i].IsScalar()) continue;  // a column name of a registered view (source:)
        check_map(c, n[i], p, kFeature);
      }
      break;
    case Shape::Any: break;
  }
}

void load_file(const fs::path& file, Repository& repo, std::map<std::string, std::string>& seen) {
  Ctx c{file.string()};
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAllFromFile(file.string());
  } catch (const YAML::Exception& e) {
    throw CliError(c.file + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                   ": " + e.msg);
  }
  for (const auto& doc : docs) {
    if (doc.IsNull()) continue;
    if (!doc.IsMap()) c.fail(doc, "", "a repository file is a mapping of entities, feature_views, feature_services, monitors, stream_sources");
    for (const auto& kv : doc) {
      const std::string section = kv.first.Scalar();
      auto it = std::find_if(kSections.begin(), kSections.end(), [&](const auto& s) { return s.first == section; });
      if (it == kSections.end())
        c.fail(kv.first, section, "unknown key \"" + section + "\" (known: entities, feature_views, feature_services, monitors, stream_sources)");
      if (!kv.second.IsSequence()) c.fail(kv.second, section, "must be a list");
      for (size_t i = 0; i < kv.second.size(); ++i) {
        const YAML::Node& item = kv.second[i];
        const std::string path = section + "[" + std::to_string(i) + "]";
        check_map(c, item, path, *it->second.second);
        RepoObject o{it->second.first, item["name"].Scalar(), to_json(c, item, path), c.where(item)};
        if (o.kind == "feature_view" && !o.spec.contains("features") && !o.spec.contains("source"))
          c.fail(item, path, "missing required key \"features\"");
        const std::string key = o.kind + "/" + o.name;
        if (seen.count(key)) c.fail(item, path + ".name", o.kind + " \"" + o.name + "\" is also defined at " + seen[key]);
        seen[key] = o.where;
        repo.objects.push_back(std::move(o));
      }
    }
  }
}

}  // namespace

const RepoObject* Repository::find(const std::string& kind, const std::string& name) const {
  for (const auto& o : objects)
    if (o.kind == kind && o.name == name) return &o;
  return nullptr;
}

Repository load_repository(const std::string& dir) {
  if (!fs::is_directory(dir)) throw CliError(dir + ": not a directory", kUsage);
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && (e.path().extension() == ".yaml" || e.path().extension() == ".yml"))
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw CliError(dir + ": no *.yaml files");
  Repository repo;
  std::map<std::string, std::string> seen;
  for (const auto& f : files) load_file(f, repo, seen);
  return repo;
}

}  // namespace fstore_cli
