// A few PostgreSQL connections, each owned by one worker thread, for the blocking calls of the
// HTTP server (fstore.ingest, token lookups) so they never block the I/O threads. Jobs wait in a
// bounded queue. Before each job the worker checks that its connection is still alive (after a
// PostgreSQL restart the server has closed it) and reconnects, so no request is sent on a dead
// connection; read-only work may also be retried once when the connection breaks under it.
#pragma once

#include "metrics.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/connection>

namespace fstore::server {

class PgPool {
 public:
  // A job gets a live connection, or nullptr and the reason when PostgreSQL is not reachable.
  using Job = std::function<void(pqxx::connection* conn, const std::string& connect_error)>;
  // Idempotent work (reads): may throw pqxx::broken_connection, then runs once more on a new
  // connection. Must not answer its client before it has finished.
  using ReadWork = std::function<void(pqxx::connection& conn)>;
  // Called instead when PostgreSQL cannot be reached (or broke twice).
  using Unavailable = std::function<void(const std::string& error)>;

  PgPool(std::string url, int connections, size_t queue_limit, Metrics& metrics);
  ~PgPool();
  void start();
  void stop();  // finishes queued jobs, then joins
  // Queues a job; false (and the job is dropped) when the queue is full or the pool stopped.
  // Use for statements that must not run twice (ingest): no retry once sent.
  bool submit(Job job);
  // Queues idempotent work with one retry on a broken connection; false as for submit.
  bool submit_read(ReadWork work, Unavailable unavailable);
  // Connections replaced because they were found broken (for /metrics).
  uint64_t reconnects() const { return reconnects_.load(); }

 private:
  struct Worker;
  void run();

  std::string url_;
  int connections_;
  size_t queue_limit_;
  Metrics& metrics_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void(Worker&)>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> reconnects_{0};
};

}  // namespace fstore::server
