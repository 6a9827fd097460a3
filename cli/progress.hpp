// Progress of a long transfer: a bar on a terminal (stderr is a TTY), plain lines otherwise.
#pragma once
#include <chrono>
#include <string>

namespace fstore_cli {

class Progress {
 public:
  // `total` bytes expected (0: unknown); `enabled` false prints nothing.
  Progress(std::string what, unsigned long long total, bool enabled);
  // Reports `done` bytes and `rows` rows so far (rows < 0: unknown); cheap, rate-limited.
  void update(unsigned long long done, long long rows = -1);
  // Ends the bar (a newline on a terminal).
  void finish(unsigned long long done, long long rows = -1);

 private:
  void draw(unsigned long long done, long long rows, bool last);
  std::string what_;
  unsigned long long total_;
  bool enabled_, tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace fstore_cli
