// A few PostgreSQL connections, each owned by one worker thread, for the blocking calls of the
// HTTP server (fstore.ingest, token lookups) so they never block the I/O threads. Jobs wait in a
// bounded queue; a job gets the connection, or nullptr and the reason when PostgreSQL is down.
#pragma once

#include "metrics.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/connection>

namespace fstore::server {

class PgPool {
 public:
  using Job = std::function<void(pqxx::connection* conn, const std::string& connect_error)>;

  PgPool(std::string url, int connections, size_t queue_limit, Metrics& metrics);
  ~PgPool();
  void start();
  void stop();  // finishes queued jobs, then joins
  // Queues a job; false (and the job is dropped) when the queue is full or the pool stopped.
  bool submit(Job job);

 private:
  void run();

  std::string url_;
  int connections_;
  size_t queue_limit_;
  Metrics& metrics_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace fstore::server
