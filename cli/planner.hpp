// The plan: what `fstore apply` would do to bring the registry to a repository's state.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "db.hpp"
#include "repository.hpp"

namespace fstore_cli {

// One registry function call that a step makes.
struct Call {
  std::string sql;
  std::vector<Param> params;
};

// One step of a plan: a create, change or removal of one object.
struct Step {
  std::string action;   // create | change | remove | replace | unsupported
  std::string kind;     // entity | feature_view | feature | feature_service | monitor | stream_source
  std::string name;
  std::string detail;   // what changes, in words
  std::string where;    // file:line in the repository ("" for removals)
  std::string version;  // the version the object gets ("" when it has none)
  bool destructive = false;
  int order = 0;        // apply order (drops first, then creates in dependency order)
  std::vector<Call> calls;
};

struct Plan {
  std::vector<Step> steps;
  std::vector<std::string> notes;  // objects kept because no registry function removes them
  bool has_destructive() const;
  bool has_unsupported() const;
  nlohmann::json to_json() const;
};

// Diffs repository `repo` against the registry of `db`.
Plan make_plan(Db& db, const Repository& repo);

// Prints plan `p` for people (or as JSON).
void print_plan(const Plan& p, bool as_json);

}  // namespace fstore_cli
