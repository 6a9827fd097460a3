// A small RAII layer over libpq for the fstore command line: parameterized statements (NULLs
// as std::nullopt), errors as exceptions carrying the SQLSTATE, and raw COPY streaming.
#pragma once
#include <libpq-fe.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace fstore_cli {

// Exit codes (docs/cli.md): scripts act on them.
enum Exit { kOk = 0, kError = 1, kUsage = 2, kDestructive = 3, kUnsupported = 4 };

// An error the command reports and exits with; `code` is the exit code.
struct CliError : std::runtime_error {
  int code;
  std::string sqlstate;
  CliError(const std::string& m, int c = kError, std::string state = "")
      : std::runtime_error(m), code(c), sqlstate(std::move(state)) {}
};

using Param = std::optional<std::string>;

// One result: rows of optional text values, column names.
struct Rows {
  std::vector<std::string> columns;
  std::vector<std::vector<Param>> rows;
  size_t size() const { return rows.size(); }
};

// A connection to PostgreSQL (a URL or, when empty, the libpq environment).
class Db {
 public:
  explicit Db(const std::string& url);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  // Runs `sql` with `$1..$n` parameters; throws CliError (with the SQLSTATE) on failure.
  Rows query(const std::string& sql, const std::vector<Param>& params = {});
  // Runs a statement without parameters (BEGIN, COMMIT, SAVEPOINT ...).
  void exec(const std::string& sql) { query(sql); }
  // Starts COPY ... FROM STDIN, sends data with put(), ends with end_copy() (returns rows).
  void begin_copy_in(const std::string& sql);
  void put(const char* data, size_t n);
  long long end_copy();
  // Starts COPY ... TO STDOUT; next_copy_chunk returns false at the end.
  void begin_copy_out(const std::string& sql);
  bool next_copy_chunk(std::string& out);
  // Quotes an identifier the way PostgreSQL does.
  std::string ident(const std::string& name);
  PGconn* raw() { return conn_; }

 private:
  [[noreturn]] void fail(PGresult* r, const std::string& what);
  PGconn* conn_ = nullptr;
};

}  // namespace fstore_cli
