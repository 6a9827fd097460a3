// fstore: the command line of the feature store (docs/cli.md). Each subcommand is a function of
// commands.hpp; here only the options and the exit codes.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "commands.hpp"

using namespace fstore_cli;

int main(int argc, char** argv) {
  CLI::App app{"fstore: the feature store's command line (docs/cli.md)"};
  app.require_subcommand(1);
  Options o;
  if (const char* s = std::getenv("FSTORE_SERVER")) o.server = s;
  app.add_option("--pg", o.pg, "PostgreSQL URL or conninfo (default: the libpq environment, PGHOST etc.)")->envname("FSTORE_PG");
  app.add_option("--server", o.server, "fstore-server base URL, e.g. http://127.0.0.1:8080 (status)");
  app.add_flag("--json", o.json, "machine-readable JSON output");
  app.footer("Exit codes: 0 ok, 1 error, 2 usage, 3 destructive changes refused (apply), 4 unsupported changes (apply).");

  std::string dir;
  bool allow_destructive = false;
  auto* plan = app.add_subcommand("plan", "show what apply would change in the registry");
  plan->add_option("DIR", dir, "feature repository (a folder of *.yaml files)")->required();
  auto* apply = app.add_subcommand("apply", "apply a feature repository in one transaction");
  apply->add_option("DIR", dir, "feature repository (a folder of *.yaml files)")->required();
  apply->add_flag("--allow-destructive", allow_destructive, "allow removals and archiving");

  std::string what, name, role;
  auto* ls = app.add_subcommand("ls", "list entities|views|features|services|monitors|streams|tokens");
  ls->add_option("WHAT", what, "entities, views, features, services, monitors, streams or tokens")->required()
      ->check(CLI::IsMember({"entities", "views", "features", "services", "monitors", "streams", "tokens"}));
  auto* describe = app.add_subcommand("describe", "an entity, view, feature (view:feature), service or monitor with its history");
  describe->add_option("NAME", name)->required();

  std::string view, file, format, on_error = "raise";
  bool no_progress = false;
  auto* ingest = app.add_subcommand("ingest", "load a CSV (with header) or JSON lines file into a feature view");
  ingest->add_option("VIEW", view)->required();
  ingest->add_option("FILE", file, "file, or - for standard input")->required();
  ingest->add_option("--format", format, "csv or jsonl (default: from the file name)")->check(CLI::IsMember({"csv", "jsonl"}));
  ingest->add_option("--on-error", on_error, "raise (one bad row fails all) or reject (bad rows to fstore.rejected_rows)")
      ->check(CLI::IsMember({"raise", "reject"}));
  ingest->add_flag("--no-progress", no_progress, "no progress output");

  std::string service, features, entities, out = "-", transform;
  auto* ts = app.add_subcommand("training-set", "a point-in-time training set to a CSV file");
  ts->add_option("--service", service, "feature service");
  ts->add_option("--features", features, "feature references, comma-separated (instead of --service)");
  ts->add_option("--entities", entities, "entity rows: a CSV file, a table name or a SELECT")->required();
  ts->add_option("--out", out, "CSV file to write (- for standard output)");
  ts->add_option("--transform", transform, "fit, latest or a version number");

  auto* status = app.add_subcommand("status", "sync lag, stream sources, monitors and alerts");

  auto* token = app.add_subcommand("token", "API tokens of fstore-server");
  token->require_subcommand(1);
  auto* tcreate = token->add_subcommand("create", "create a token (printed once)");
  tcreate->add_option("NAME", name)->required();
  tcreate->add_option("ROLE", role, "reader, writer or admin")->required();
  auto* trevoke = token->add_subcommand("revoke", "revoke a token");
  trevoke->add_option("NAME", name)->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }
  try {
    if (*plan) return cmd_plan_apply(o, dir, true, false);
    if (*apply) return cmd_plan_apply(o, dir, false, allow_destructive);
    if (*ls) return cmd_ls(o, what);
    if (*describe) return cmd_describe(o, name);
    if (*ingest) return cmd_ingest(o, view, file, format, on_error, !no_progress && !o.json);
    if (*ts) return cmd_training_set(o, service, features, entities, out, transform);
    if (*status) return cmd_status(o);
    if (*tcreate) return cmd_token_create(o, name, role);
    if (*trevoke) return cmd_token_revoke(o, name);
  } catch (const CliError& e) {
    if (o.json) {
      std::cout << nlohmann::json{{"error", {{"message", e.what()}, {"sqlstate", e.sqlstate.empty() ? nlohmann::json() : nlohmann::json(e.sqlstate)}}}}.dump(2) << "\n";
    }
    std::cerr << "fstore: " << e.what() << "\n";
    return e.code;
  } catch (const std::exception& e) {
    std::cerr << "fstore: " << e.what() << "\n";
    return kError;
  }
  return kUsage;
}
