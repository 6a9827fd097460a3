// One-line logs on stderr with a UTC timestamp; safe from any thread.
#pragma once

#include <string>

namespace fstore::server {

void log_line(const std::string& level, const std::string& message);
inline void log_info(const std::string& m) { log_line("info", m); }
inline void log_warn(const std::string& m) { log_line("WARNING", m); }
inline void log_error(const std::string& m) { log_line("ERROR", m); }

}  // namespace fstore::server
