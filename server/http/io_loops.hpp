// The I/O threads: one io_context per thread, each run by exactly that thread. A connection, its
// handlers and the Redis pipeline it submits to live on one loop, so a lookup never crosses
// threads and needs no strand (docs/operations.md, "The read path"; issue 18).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <vector>

namespace fstore::server {

class IoLoops {
 public:
  // `threads` loops (at least 1); nothing runs until run().
  explicit IoLoops(int threads);
  size_t size() const { return loops_.size(); }
  boost::asio::io_context& at(size_t i) { return *loops_[i]; }
  // The loop for the next new connection (round robin).
  boost::asio::io_context& next();
  // Index of the loop the calling thread runs, or -1 on any other thread.
  static int current();
  // Runs loops 1..n-1 on threads of their own and loop 0 on the caller; returns when all stopped.
  void run();
  // Stops every loop (pending handlers are dropped with their io_context later).
  void stop();

 private:
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> loops_;
  std::vector<Guard> guards_;  // an idle loop keeps running until stop()
  std::atomic<size_t> next_{0};
};

}  // namespace fstore::server
