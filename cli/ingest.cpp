// fstore ingest VIEW FILE: CSV (with a header) streamed with COPY into fstore_data.<view>, or
// JSON lines through fstore.ingest. Validation is the table's constraints, as for any INSERT or
// COPY; with --on-error reject, bad rows go to fstore.rejected_rows through fstore.ingest's own
// 'reject' mode (so the reasons and SQLSTATEs are those of the SQL path).
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "progress.hpp"

using nlohmann::json;

namespace fstore_cli {

namespace {

using File = std::unique_ptr<FILE, decltype(&std::fclose)>;

// Splits one CSV record (RFC 4180) into fields; an unquoted empty field is NULL, as in COPY.
std::vector<Param> csv_fields(const std::string& rec) {
  std::vector<Param> out;
  std::string cur;
  bool quoted = false, in_q = false;
  for (size_t i = 0; i < rec.size(); ++i) {
    char ch = rec[i];
    if (in_q) {
      if (ch == '"' && i + 1 < rec.size() && rec[i + 1] == '"') { cur += '"'; ++i; }
      else if (ch == '"') in_q = false;
      else cur += ch;
    } else if (ch == '"') { in_q = quoted = true; }
    else if (ch == ',') { out.push_back(quoted || !cur.empty() ? Param{cur} : Param{}); cur.clear(); quoted = false; }
    else if (ch != '\r' && ch != '\n') cur += ch;
  }
  out.push_back(quoted || !cur.empty() ? Param{cur} : Param{});
  return out;
}

// Reads CSV records one at a time (a newline inside quotes belongs to the field).
class RecordReader {
 public:
  explicit RecordReader(FILE* f) : f_(f) {}
  bool next(std::string& rec) {
    rec.clear();
    bool in_q = false;
    int ch;
    while ((ch = std::getc(f_)) != EOF) {
      ++bytes;
      rec += static_cast<char>(ch);
      if (ch == '"') in_q = !in_q;
      else if (ch == '\n' && !in_q) return true;
    }
    if (!rec.empty() && rec.back() != '\n') rec += '\n';
    return !rec.empty();
  }
  unsigned long long bytes = 0;

 private:
  FILE* f_;
};

struct Counts {
  long long read = 0, loaded = 0, rejected = 0;
};

class Ingest {
 public:
  Ingest(Db& db, std::string view, std::vector<std::string> cols) : db_(db), view_(std::move(view)), cols_(std::move(cols)) {
    std::string list;
    for (const auto& c : cols_) list += (list.empty() ? "" : ", ") + db_.ident(c);
    copy_sql_ = "COPY fstore_data." + db_.ident(view_) + " (" + list + ") FROM STDIN WITH (FORMAT csv)";
  }
  // Loads CSV records `recs` keeping bad rows: COPY under a savepoint, smaller pieces when it
  // fails, and fstore.ingest(..., 'reject') for the last small pieces.
  void load(const std::vector<std::string>& recs, size_t from, size_t to, Counts& n) {
    if (from >= to) return;
    if (to - from <= 32) {
      if (try_copy(recs, from, to, n)) return;
      fallback(recs, from, to, n);
      return;
    }
    if (try_copy(recs, from, to, n)) return;
    size_t step = std::max<size_t>(32, (to - from) / 32);
    for (size_t i = from; i < to; i += step) load(recs, i, std::min(to, i + step), n);
  }
  std::string copy_sql_;

 private:
  bool try_copy(const std::vector<std::string>& recs, size_t from, size_t to, Counts& n) {
    db_.exec("SAVEPOINT fstore_chunk");
    try {
      db_.begin_copy_in(copy_sql_);
      for (size_t i = from; i < to; ++i) db_.put(recs[i].data(), recs[i].size());
      n.loaded += db_.end_copy();
      db_.exec("RELEASE SAVEPOINT fstore_chunk");
      return true;
    } catch (const CliError& e) {
      db_.exec("ROLLBACK TO SAVEPOINT fstore_chunk");
      db_.exec("RELEASE SAVEPOINT fstore_chunk");
      // Only data errors are the rows' fault; anything else fails the run as in fstore.ingest.
      if (!(e.sqlstate.rfind("22", 0) == 0 || e.sqlstate.rfind("23", 0) == 0 || e.sqlstate == "54000")) throw;
      return false;
    }
  }
  void fallback(const std::vector<std::string>& recs, size_t from, size_t to, Counts& n) {
    json rows = json::array();
    for (size_t i = from; i < to; ++i) {
      auto f = csv_fields(recs[i]);
      json row = json::object();
      for (size_t c = 0; c < f.size() && c < cols_.size(); ++c) row[cols_[c]] = f[c] ? json(*f[c]) : json();
      if (f.size() != cols_.size()) {
        db_.query("SELECT fstore._reject($1, $2::jsonb, $3, '22P04')",
                  {view_, row.dump(), "row has " + std::to_string(f.size()) + " fields, the header " + std::to_string(cols_.size())});
        ++n.rejected;
        continue;
      }
      rows.push_back(row);
    }
    if (rows.empty()) return;
    Rows r = db_.query("SELECT fstore.ingest($1, $2::jsonb, 'reject')", {view_, rows.dump()});
    long long loaded = std::stoll(*r.rows[0][0]);
    n.loaded += loaded;
    n.rejected += static_cast<long long>(rows.size()) - loaded;
  }
  Db& db_;
  std::string view_;
  std::vector<std::string> cols_;
};

void report(Db& db, const Options& o, const std::string& view, const Counts& n, double secs, const std::string& first_id) {
  json out = {{"view", view}, {"rows_read", n.read}, {"rows_loaded", n.loaded}, {"rows_rejected", n.rejected}, {"seconds", secs}};
  if (n.rejected > 0) {
    Rows r = db.query("SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]')::text FROM (SELECT sqlstate, left(reason, 200) AS reason, count(*) AS rows "
                      "FROM fstore.rejected_rows WHERE view = $1 AND id > $2::bigint GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10) x", {view, first_id});
    out["rejected_by_reason"] = json::parse(*r.rows[0][0]);
  }
  if (o.json) {
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << "ingested " << n.loaded << " rows into " << view;
  if (n.read >= 0 && n.rejected > 0) std::cout << ", rejected " << n.rejected << " (kept in fstore.rejected_rows)";
  std::cout << " in " << secs << " s\n";
  if (out.contains("rejected_by_reason"))
    for (const auto& x : out["rejected_by_reason"])
      std::cout << "  " << x["rows"] << " x " << x["sqlstate"].get<std::string>() << " " << x["reason"].get<std::string>() << "\n";
}

}  // namespace

int cmd_ingest(const Options& o, const std::string& view, const std::string& path, const std::string& format_arg,
               const std::string& on_error, bool progress_flag) {
  if (on_error != "raise" && on_error != "reject") throw CliError("--on-error must be raise or reject", kUsage);
  std::string format = format_arg;
  if (format.empty()) format = (path.size() > 6 && (path.substr(path.size() - 6) == ".jsonl" || path.substr(path.size() - 5) == ".json")) ? "jsonl" : "csv";
  File f(path == "-" ? stdin : std::fopen(path.c_str(), "rb"), path == "-" ? [](FILE*) { return 0; } : &std::fclose);
  if (!f) throw CliError(path + ": cannot open");
  struct stat st{};
  unsigned long long total = (path != "-" && stat(path.c_str(), &st) == 0) ? st.st_size : 0;
  Db db(o.pg);
  Progress prog("ingest " + view, total, progress_flag);
  auto t0 = std::chrono::steady_clock::now();
  Counts n;
  db.exec("BEGIN");
  // Rows this run rejects have ids above this one (the summary counts them by reason).
  const std::string first_id = *db.query("SELECT coalesce(max(id), 0)::text FROM fstore.rejected_rows").rows[0][0];
  if (format == "jsonl") {
    std::string line, batch;
    long long in_batch = 0;
    unsigned long long bytes = 0;
    auto flush = [&]() {
      if (!in_batch) return;
      Rows r = db.query("SELECT fstore.ingest($1, $2::jsonb, $3)", {view, "[" + batch + "]", on_error});
      long long loaded = std::stoll(*r.rows[0][0]);
      n.loaded += loaded;
      n.rejected += in_batch - loaded;
      batch.clear();
      in_batch = 0;
    };
    std::ifstream in(path == "-" ? "/dev/stdin" : path);
    while (std::getline(in, line)) {
      bytes += line.size() + 1;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      batch += (in_batch ? "," : "") + line;
      ++in_batch;
      ++n.read;
      if (in_batch == 5000) flush();
      prog.update(bytes, n.read);
    }
    flush();
    prog.finish(bytes, n.read);
  } else {
    RecordReader rr(f.get());
    std::string header;
    if (!rr.next(header)) throw CliError(path + ": empty file (a CSV file starts with a header line)");
    std::vector<std::string> cols;
    for (const auto& c : csv_fields(header)) cols.push_back(c.value_or(""));
    Ingest ing(db, view, cols);
    if (on_error == "raise") {
      // The fast path: the file's bytes as they are, as psql's \copy sends them.
      db.begin_copy_in(ing.copy_sql_);
      std::vector<char> buf(1 << 20);
      unsigned long long bytes = rr.bytes;
      size_t got;
      while ((got = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) {
        db.put(buf.data(), got);
        bytes += got;
        prog.update(bytes);
      }
      n.loaded = db.end_copy();
      n.read = n.loaded;
      prog.finish(bytes, n.loaded);
    } else {
      std::vector<std::string> recs;
      std::string rec;
      auto flush = [&]() { ing.load(recs, 0, recs.size(), n); recs.clear(); prog.update(rr.bytes, n.read); };
      while (rr.next(rec)) {
        recs.push_back(rec);
        ++n.read;
        if (recs.size() == 10000) flush();
      }
      flush();
      prog.finish(rr.bytes, n.read);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report(db, o, view, n, secs, first_id);
  db.exec("COMMIT");
  return kOk;
}

}  // namespace fstore_cli
