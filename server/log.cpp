#include "log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace fstore::server {

void log_line(const std::string& level, const std::string& message) {
  static std::mutex mutex;
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::lock_guard<std::mutex> lock(mutex);
  std::fprintf(stderr, "%s fstore-server %s: %s\n", stamp, level.c_str(), message.c_str());
  std::fflush(stderr);
}

}  // namespace fstore::server
