// The fstore commands: each returns the process's exit code (see db.hpp, Exit) or throws CliError.
#pragma once
#include <string>

#include "db.hpp"

namespace fstore_cli {

struct Options {
  std::string pg;         // libpq connection string or URL ("" = the libpq environment)
  std::string server;     // fstore-server base URL, for status
  bool json = false;      // machine-readable output
};

int cmd_plan_apply(const Options& o, const std::string& dir, bool dry_run, bool allow_destructive);
int cmd_ls(const Options& o, const std::string& what);
int cmd_describe(const Options& o, const std::string& name);
int cmd_status(const Options& o);
int cmd_token_create(const Options& o, const std::string& name, const std::string& role);
int cmd_token_revoke(const Options& o, const std::string& name);
int cmd_ingest(const Options& o, const std::string& view, const std::string& file, const std::string& format,
               const std::string& on_error, bool progress_flag);
int cmd_training_set(const Options& o, const std::string& service, const std::string& features,
                     const std::string& entities, const std::string& out, const std::string& transform);

// Prints query rows as an aligned table, or as a JSON array of objects.
void print_rows(const Rows& r, bool as_json);

}  // namespace fstore_cli
