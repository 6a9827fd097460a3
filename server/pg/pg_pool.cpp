#include "pg/pg_pool.hpp"

#include <pqxx/pqxx>

#include <memory>

namespace fstore::server {

PgPool::PgPool(std::string url, int connections, size_t queue_limit, Metrics& metrics)
    : url_(std::move(url)), connections_(connections), queue_limit_(queue_limit), metrics_(metrics) {}

PgPool::~PgPool() { stop(); }

void PgPool::start() {
  for (int i = 0; i < connections_; ++i) threads_.emplace_back([this] { run(); });
}

void PgPool::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) if (t.joinable()) t.join();
  threads_.clear();
}

bool PgPool::submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || queue_.size() >= queue_limit_) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

// One worker: takes jobs, (re)connects lazily, hands the connection to each job.
void PgPool::run() {
  std::unique_ptr<pqxx::connection> conn;
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    std::string error;
    if (!conn || !conn->is_open()) {
      conn.reset();
      try {
        conn = std::make_unique<pqxx::connection>(url_);
      } catch (const std::exception& e) {
        error = e.what();
        while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
        ++metrics_.pg_errors;
      }
    }
    try {
      job(conn.get(), error);
    } catch (...) {
      // jobs report their own errors; a stray exception must not kill the worker
    }
    if (conn && !conn->is_open()) conn.reset();
  }
}

}  // namespace fstore::server
