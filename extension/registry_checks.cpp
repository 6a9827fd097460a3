// C++ helpers the registry's SQL functions call: name and expression checks, version bumps and
// the validation failure raised by feature constraints.
#include <string>

#include "names.hpp"
#include "semver.hpp"
#include "pg_boundary.hpp"

extern "C" {
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/builtins.h"
}

namespace {

// Parses `sql` with PostgreSQL's raw parser; PostgreSQL syntax errors come back as PgError.
List* raw_parse(const std::string& sql) {
  return fstore::pg_guard([&] { return raw_parser(sql.c_str(), RAW_PARSE_DEFAULT); });
}

}  // namespace

// _check_name(kind, name): raises 22023 unless name is a valid fstore name.
FSTORE_FUNCTION(fstore_check_name) {
  std::string kind = fstore::text_arg(fcinfo, 0, "kind");
  std::string name = PG_ARGISNULL(1) ? std::string() : fstore::text_arg(fcinfo, 1, "name");
  if (!fstore::is_valid_name(name))
    throw fstore::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                        "invalid " + kind + " name \"" + name + "\"",
                        "Names must start with a letter or underscore, contain only letters, digits and "
                        "underscores, and be at most 63 characters long.");
  PG_RETURN_VOID();
}

// _check_expression(expression): raises 22023 unless it is one plain SQL scalar expression.
// Guards the derived-feature text before it becomes part of a GENERATED column definition.
FSTORE_FUNCTION(fstore_check_expression) {
  std::string expression = fstore::text_arg(fcinfo, 0, "expression");
  auto invalid = [&](const std::string& why) {
    return fstore::Error(ERRCODE_INVALID_PARAMETER_VALUE, "invalid feature expression \"" + expression + "\"", why);
  };
  List* statements;
  try {
    statements = raw_parse("SELECT (" + expression + ")");
  } catch (const fstore::PgError& e) {
    throw invalid(e.what());
  }
  if (list_length(statements) != 1) throw invalid("It must be a single expression.");
  Node* stmt = linitial_node(RawStmt, statements)->stmt;
  if (!IsA(stmt, SelectStmt)) throw invalid("It must be a single expression.");
  auto* select = reinterpret_cast<SelectStmt*>(stmt);
  if (list_length(select->targetList) != 1 || select->fromClause || select->whereClause ||
      select->groupClause || select->havingClause || select->windowClause || select->sortClause ||
      select->limitCount || select->limitOffset || select->lockingClause || select->withClause ||
      select->distinctClause || select->op != SETOP_NONE || select->intoClause)
    throw invalid("It must be a single expression over the view's features.");
  PG_RETURN_VOID();
}

// _next_version(version, part): the version after `version` with part 'major'|'minor'|'patch'.
FSTORE_FUNCTION(fstore_next_version) {
  std::string version = fstore::text_arg(fcinfo, 0, "version");
  std::string part = fstore::text_arg(fcinfo, 1, "part");
  auto parsed = fstore::parse_semver(version);
  if (!parsed) throw fstore::Error(ERRCODE_INVALID_PARAMETER_VALUE, "invalid version \"" + version + "\"");
  fstore::VersionBump bump_part;
  if (part == "major") bump_part = fstore::VersionBump::Major;
  else if (part == "minor") bump_part = fstore::VersionBump::Minor;
  else if (part == "patch") bump_part = fstore::VersionBump::Patch;
  else throw fstore::Error(ERRCODE_INVALID_PARAMETER_VALUE, "invalid version part \"" + part + "\"");
  std::string next = fstore::bump(*parsed, bump_part).str();
  PG_RETURN_TEXT_P(cstring_to_text_with_len(next.data(), static_cast<int>(next.size())));
}

// _validation_failed(view, feature, rule, value): always raises 23514 naming all four.
// Feature CHECK constraints call it only when the rule does not hold, so the error a user sees
// on INSERT, COPY or fstore.ingest says exactly which value broke which rule.
FSTORE_FUNCTION(fstore_validation_failed) {
  std::string view = fstore::text_arg(fcinfo, 0, "view");
  std::string feature = fstore::text_arg(fcinfo, 1, "feature");
  std::string rule = fstore::text_arg(fcinfo, 2, "rule");
  std::string value = PG_ARGISNULL(3) ? "NULL" : fstore::text_arg(fcinfo, 3, "value");
  throw fstore::Error(ERRCODE_CHECK_VIOLATION,
                      "feature view \"" + view + "\", feature \"" + feature + "\": value " + value +
                          " violates rule " + rule);
}
