#include "http/ingest_errors.hpp"

namespace fstore::server {

std::string pg_first_line(const std::string& what) {
  std::string m = what;
  if (m.rfind("ERROR:", 0) == 0) m = m.substr(6);
  while (!m.empty() && m.front() == ' ') m.erase(0, 1);
  for (const char* cut : {"\nCONTEXT:", "\nLINE ", "\nQUERY:", "\nDETAIL:", "\nHINT:"})
    if (auto pos = m.find(cut); pos != std::string::npos) m.erase(pos);
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

IngestError map_ingest_error(const std::string& state, const std::string& what, const std::string& view) {
  auto cls = [&](const char* c) { return state.rfind(c, 0) == 0; };
  const std::string tag = " (SQLSTATE " + state + ")";
  if (cls("22") || cls("23")) return {422, "validation_failed", pg_first_line(what)};
  if (state == "54000" || state == "54001")
    return {413, "too_large", "a value or its nesting in the rows is larger than PostgreSQL can store or index" + tag +
                                  "; send smaller keys and values"};
  if (state == "40001" || state == "40P01")
    return {503, "conflict", "the ingest into '" + view + "' conflicted with concurrent work twice" + tag + "; send it again",
            true};
  if (state == "57014")
    return {503, "pg_timeout", "the ingest into '" + view + "' took longer than PostgreSQL allows and was cancelled" + tag +
                                   "; send fewer rows per request"};
  if (state == "42501")
    return {403, "forbidden", "the server's database role may not ingest into feature view '" + view + "'" + tag};
  if (state == "42704") return {404, "not_found", pg_first_line(what)};
  if (cls("08") || state == "57P01" || state == "57P02" || state == "57P03")
    return {503, "pg_unavailable", "PostgreSQL is not available" + tag};
  if (cls("53")) return {503, "overloaded", "PostgreSQL is out of resources" + tag + "; try again later"};
  return {500, "internal", "PostgreSQL error" + tag + " while ingesting into '" + view + "'; see the server log"};
}

}  // namespace fstore::server
