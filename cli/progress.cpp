// Progress output (see progress.hpp): at most 10 redraws a second on a TTY, a line every 5 s otherwise.
#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace fstore_cli {

Progress::Progress(std::string what, unsigned long long total, bool enabled)
    : what_(std::move(what)), total_(total), enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

void Progress::update(unsigned long long done, long long rows) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < (tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000))) return;
  last_ = now;
  draw(done, rows, false);
}

void Progress::finish(unsigned long long done, long long rows) {
  if (enabled_) draw(done, rows, true);
}

void Progress::draw(unsigned long long done, long long rows, bool last) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double mb = done / 1e6;
  char tail[160];
  if (rows >= 0) std::snprintf(tail, sizeof tail, "%.1f MB, %lld rows, %.1f s", mb, rows, secs);
  else std::snprintf(tail, sizeof tail, "%.1f MB, %.1f s", mb, secs);
  int pct = total_ ? static_cast<int>(100.0 * done / total_) : -1;
  if (pct > 100) pct = 100;
  if (tty_) {
    std::string bar;
    if (pct >= 0) {
      int fill = pct * 30 / 100;
      bar = "[" + std::string(fill, '#') + std::string(30 - fill, '.') + "] " + std::to_string(pct) + "% ";
    }
    std::fprintf(stderr, "\r%s %s%s\x1b[K%s", what_.c_str(), bar.c_str(), tail, last ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s: %s%s%s\n", what_.c_str(), pct >= 0 ? std::to_string(pct).c_str() : "", pct >= 0 ? "% " : "", tail);
  }
  std::fflush(stderr);
}

}  // namespace fstore_cli
