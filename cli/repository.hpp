// A feature repository: the *.yaml files of a folder, read into registry objects whose keys are
// the registry functions' arguments (docs/cli.md, "The repository format").
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fstore_cli {

// One registry object of the repository, with where it was written.
struct RepoObject {
  std::string kind;   // entity | feature_view | feature_service | monitor | stream_source
  std::string name;
  nlohmann::json spec;  // the YAML mapping as JSON (scalars typed as YAML 1.2's core schema)
  std::string where;    // file:line
};

struct Repository {
  std::vector<RepoObject> objects;
  const RepoObject* find(const std::string& kind, const std::string& name) const;
};

// Reads every *.yaml / *.yml file under `dir` (sorted by name). Throws CliError naming
// file:line:column and the field for malformed YAML, unknown keys, missing or mistyped fields,
// and names defined twice.
Repository load_repository(const std::string& dir);

}  // namespace fstore_cli
