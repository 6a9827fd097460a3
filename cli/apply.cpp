// fstore apply: runs a plan in one transaction through the registry functions.
#include "commands.hpp"

#include <iostream>

#include "planner.hpp"
#include "repository.hpp"

namespace fstore_cli {

// Plans `dir` and, unless `dry_run`, applies it; returns the exit code.
int cmd_plan_apply(const Options& o, const std::string& dir, bool dry_run, bool allow_destructive) {
  Repository repo = load_repository(dir);
  Db db(o.pg);
  db.exec("BEGIN");
  Plan plan = make_plan(db, repo);
  if (dry_run) {
    db.exec("ROLLBACK");
    print_plan(plan, o.json);
    return kOk;
  }
  auto refuse = [&](int code, const std::string& why) {
    db.exec("ROLLBACK");
    if (o.json) {
      auto j = plan.to_json();
      j["applied"] = false;
      j["error"] = why;
      std::cout << j.dump(2) << "\n";
    } else {
      print_plan(plan, false);
      std::cerr << "fstore: " << why << "\n";
    }
    return code;
  };
  if (plan.has_unsupported())
    return refuse(kUnsupported, "nothing applied: the plan has changes that no registry function makes (marked !)");
  if (plan.has_destructive() && !allow_destructive)
    return refuse(kDestructive, "nothing applied: the plan removes or archives objects; run again with --allow-destructive");
  for (const auto& s : plan.steps) {
    for (const auto& c : s.calls) {
      try {
        db.query(c.sql, c.params);
      } catch (const CliError& e) {
        db.exec("ROLLBACK");
        throw CliError((s.where.empty() ? "" : s.where + ": ") + s.action + " " + s.kind + " \"" + s.name + "\": " + e.what() +
                           "\nnothing applied (one transaction)",
                       kError, e.sqlstate);
      }
    }
  }
  db.exec("COMMIT");
  if (o.json) {
    auto j = plan.to_json();
    j["applied"] = true;
    std::cout << j.dump(2) << "\n";
  } else {
    print_plan(plan, false);
    if (!plan.steps.empty()) std::cout << "applied " << plan.steps.size() << " steps in one transaction\n";
  }
  return kOk;
}

}  // namespace fstore_cli
