// PLACEHOLDER fstore-server main until the HTTP server lands (issue 4): runs only the sync worker.
#include "sync/sync_worker.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace {
volatile std::sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }
}  // namespace

int main(int argc, char** argv) {
  fstore::sync::SyncOptions options;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--pg")) options.pg_url = argv[++i];
    else if (!std::strcmp(argv[i], "--redis")) options.redis_url = argv[++i];
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  fstore::sync::SyncWorker worker(options);
  worker.start();
  while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  worker.stop();
  return 0;
}
