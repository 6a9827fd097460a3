// Small, guarded SPI helpers for registry reads (few rows; speed does not matter here).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace fstore {

using SpiRow = std::vector<std::optional<std::string>>;

// Runs `sql` with text parameters $1..$n (NULL where nullopt) in the current SPI connection and
// returns every row as text. PostgreSQL errors come back as PgError (see pg_boundary.hpp).
std::vector<SpiRow> spi_query(const std::string& sql, const std::vector<std::optional<std::string>>& args);

// Runs a utility or DML statement without parameters.
void spi_exec(const std::string& sql);

// An SPI connection for the scope of a C++ block: SPI_connect on entry, SPI_finish on a normal
// exit (after an error, the transaction's abort closes it).
class SpiSession {
 public:
  SpiSession();
  ~SpiSession();
  SpiSession(const SpiSession&) = delete;
  SpiSession& operator=(const SpiSession&) = delete;
};

// quote_identifier as a std::string.
std::string quote_ident(const std::string& name);

}  // namespace fstore
