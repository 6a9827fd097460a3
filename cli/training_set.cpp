// fstore training-set: fstore.create_training_set into a temporary table, streamed to a CSV file
// with COPY ... TO STDOUT. Entity rows come from a CSV file (copied into a temporary table) or
// are a query or table name, as create_training_set's entity_rows.
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "progress.hpp"

using nlohmann::json;

namespace fstore_cli {

namespace {

// Copies CSV file `path` into temporary table fstore_cli_entity_rows: event_timestamp as
// timestamptz, entity join keys with their key types, every other column as text.
std::string load_entity_file(Db& db, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw CliError(path + ": cannot open");
  std::string header;
  int ch;
  while ((ch = std::getc(f)) != EOF && ch != '\n') header += static_cast<char>(ch);
  if (!header.empty() && header.back() == '\r') header.pop_back();
  std::vector<std::string> cols;
  size_t start = 0;
  while (true) {
    size_t comma = header.find(',', start);
    std::string c = header.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (c.size() >= 2 && c.front() == '"' && c.back() == '"') c = c.substr(1, c.size() - 2);
    cols.push_back(c);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  std::string ddl, list;
  for (const auto& c : cols) {
    std::string type = "text";
    if (c == "event_timestamp") type = "timestamptz";
    else {
      Rows r = db.query("SELECT key_type::text FROM fstore.entities WHERE join_key = $1 LIMIT 1", {c});
      if (r.size()) type = *r.rows[0][0];
    }
    ddl += (ddl.empty() ? "" : ", ") + db.ident(c) + " " + type;
    list += (list.empty() ? "" : ", ") + db.ident(c);
  }
  db.exec("CREATE TEMP TABLE fstore_cli_entity_rows (" + ddl + ")");
  db.begin_copy_in("COPY pg_temp.fstore_cli_entity_rows (" + list + ") FROM STDIN WITH (FORMAT csv)");
  std::vector<char> buf(1 << 20);
  size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), f)) > 0) db.put(buf.data(), got);
  std::fclose(f);
  db.end_copy();
  return "pg_temp.fstore_cli_entity_rows";
}

}  // namespace

int cmd_training_set(const Options& o, const std::string& service, const std::string& features,
                     const std::string& entities, const std::string& out, const std::string& transform) {
  if (service.empty() == features.empty()) throw CliError("training-set: give --service or --features (one of them)", kUsage);
  Db db(o.pg);
  db.exec("BEGIN");
  struct stat st{};
  std::string rows = stat(entities.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? load_entity_file(db, entities) : entities;
  const std::string target = "pg_temp.fstore_cli_training_set";
  Rows n = db.query("SELECT fstore.create_training_set($1, $2, features => CASE WHEN $3 = '' THEN NULL ELSE string_to_array($3, ',') END, "
                    "feature_service => NULLIF($4, ''), transform => NULLIF($5, ''))",
                    {target, rows, features, service, transform});
  long long total = std::stoll(*n.rows[0][0]);
  FILE* f = out == "-" ? stdout : std::fopen(out.c_str(), "wb");
  if (!f) throw CliError(out + ": cannot write");
  Progress prog("training-set", 0, out != "-");
  db.begin_copy_out("COPY (SELECT * FROM " + target + ") TO STDOUT WITH (FORMAT csv, HEADER true)");
  std::string chunk;
  unsigned long long bytes = 0;
  long long lines = -1;
  while (db.next_copy_chunk(chunk)) {
    std::fwrite(chunk.data(), 1, chunk.size(), f);
    bytes += chunk.size();
    ++lines;
    prog.update(bytes, lines);
  }
  prog.finish(bytes, lines);
  if (f != stdout) std::fclose(f);
  db.exec("DROP TABLE " + target);
  db.exec("COMMIT");  // a 'fit' stores the fitted state as the service's next version
  if (o.json) std::cout << json{{"rows", total}, {"out", out}, {"bytes", bytes}}.dump(2) << "\n";
  else if (out != "-") std::cout << "wrote " << total << " rows to " << out << "\n";
  return kOk;
}

}  // namespace fstore_cli
