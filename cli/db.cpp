// libpq wrapper of the command line (see db.hpp).
#include "db.hpp"

#include <memory>

namespace fstore_cli {

namespace {
using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;
}

Db::Db(const std::string& url) {
  conn_ = PQconnectdb(url.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn_);
    PQfinish(conn_);
    conn_ = nullptr;
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    throw CliError("cannot connect to PostgreSQL: " + msg);
  }
  // Pinned search_path: every name the CLI sends is schema-qualified anyway.
  query("SET search_path = pg_catalog, pg_temp");
}

Db::~Db() {
  if (conn_) PQfinish(conn_);
}

// Throws the error of result `r` (or of the connection) with its SQLSTATE.
void Db::fail(PGresult* r, const std::string& what) {
  std::string state, msg, detail, hint;
  if (r) {
    const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char* m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char* d = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
    const char* h = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
    state = s ? s : "";
    msg = m ? m : "";
    detail = d ? d : "";
    hint = h ? h : "";
  }
  if (msg.empty()) {
    msg = PQerrorMessage(conn_);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  }
  if (r) PQclear(r);
  std::string text = msg + (state.empty() ? "" : " (SQLSTATE " + state + ")");
  if (!detail.empty()) text += "\n  detail: " + detail;
  if (!hint.empty()) text += "\n  hint: " + hint;
  (void)what;
  throw CliError(text, kError, state);
}

Rows Db::query(const std::string& sql, const std::vector<Param>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* r = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0);
  auto st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(r, sql);
  Result res(r, &PQclear);
  Rows out;
  int nf = PQnfields(r), nt = PQntuples(r);
  for (int c = 0; c < nf; ++c) out.columns.emplace_back(PQfname(r, c));
  for (int i = 0; i < nt; ++i) {
    std::vector<Param> row;
    for (int c = 0; c < nf; ++c)
      row.push_back(PQgetisnull(r, i, c) ? Param{} : Param{std::string(PQgetvalue(r, i, c), PQgetlength(r, i, c))});
    out.rows.push_back(std::move(row));
  }
  return out;
}

void Db::begin_copy_in(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  if (PQresultStatus(r) != PGRES_COPY_IN) fail(r, sql);
  PQclear(r);
}

void Db::put(const char* data, size_t n) {
  if (PQputCopyData(conn_, data, static_cast<int>(n)) != 1) fail(nullptr, "COPY");
}

long long Db::end_copy() {
  if (PQputCopyEnd(conn_, nullptr) != 1) fail(nullptr, "COPY");
  PGresult* r = PQgetResult(conn_);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    // Drain what is left so the connection can go on (a ROLLBACK TO SAVEPOINT).
    PGresult* rest;
    std::string state;
    while ((rest = PQgetResult(conn_)) != nullptr) PQclear(rest);
    fail(r, "COPY");
  }
  long long n = std::atoll(PQcmdTuples(r));
  PQclear(r);
  while (PGresult* rest = PQgetResult(conn_)) PQclear(rest);
  return n;
}

void Db::begin_copy_out(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  if (PQresultStatus(r) != PGRES_COPY_OUT) fail(r, sql);
  PQclear(r);
}

bool Db::next_copy_chunk(std::string& out) {
  char* buf = nullptr;
  int n = PQgetCopyData(conn_, &buf, 0);
  if (n > 0) {
    out.assign(buf, n);
    PQfreemem(buf);
    return true;
  }
  if (n == -2) fail(nullptr, "COPY");
  PGresult* r = PQgetResult(conn_);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) fail(r, "COPY");
  PQclear(r);
  while (PGresult* rest = PQgetResult(conn_)) PQclear(rest);
  return false;
}

std::string Db::ident(const std::string& name) {
  char* q = PQescapeIdentifier(conn_, name.data(), name.size());
  if (!q) fail(nullptr, "quote");
  std::string s(q);
  PQfreemem(q);
  return s;
}

}  // namespace fstore_cli
