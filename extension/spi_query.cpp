#include "spi_query.hpp"

#include <exception>

#include "pg_boundary.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"
}

namespace fstore {

std::vector<SpiRow> spi_query(const std::string& sql, const std::vector<std::optional<std::string>>& args) {
  int nargs = static_cast<int>(args.size());
  std::vector<Oid> types(args.size(), TEXTOID);
  std::vector<Datum> values(args.size(), 0);
  std::vector<char> nulls(args.size(), ' ');
  SPITupleTable* table = nullptr;
  uint64 count = 0;
  pg_guard([&] {
    for (int i = 0; i < nargs; ++i) {
      if (args[i]) values[i] = PointerGetDatum(cstring_to_text_with_len(args[i]->data(), (int)args[i]->size()));
      else nulls[i] = 'n';
    }
    int rc = SPI_execute_with_args(sql.c_str(), nargs, types.data(), values.data(), nulls.data(), false, 0);
    if (rc < 0) elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
    table = SPI_tuptable;
    count = SPI_processed;
  });
  std::vector<SpiRow> rows;
  if (!table) return rows;
  int ncols = table->tupdesc->natts;
  rows.reserve(count);
  for (uint64 r = 0; r < count; ++r) {
    SpiRow row(ncols);
    for (int c = 0; c < ncols; ++c) {
      char* value = pg_guard([&] { return SPI_getvalue(table->vals[r], table->tupdesc, c + 1); });
      if (value) row[c] = std::string(value);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

void spi_exec(const std::string& sql) {
  pg_guard([&] {
    int rc = SPI_execute(sql.c_str(), false, 0);
    if (rc < 0) elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
  });
}

SpiSession::SpiSession() {
  pg_guard([] {
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  });
}

SpiSession::~SpiSession() {
  if (std::uncaught_exceptions() > 0) return;  // the abort cleans up
  try {
    pg_guard([] { SPI_finish(); });
  } catch (...) {
    // Nothing to do in a destructor; the transaction's end releases the connection.
  }
}

std::string quote_ident(const std::string& name) {
  return pg_guard([&] { return quote_identifier(name.c_str()); });
}

}  // namespace fstore
