#include "pg/pg_pool.hpp"

#include <pqxx/pqxx>

namespace fstore::server {

namespace {

// An error text without libpq's trailing newlines.
std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// True when `conn` is still usable: reads whatever the server sent meanwhile (a restart sends
// "terminating connection" and closes), which marks a closed connection as broken.
bool alive(pqxx::connection& conn) {
  if (!conn.is_open()) return false;
  try {
    conn.get_notifs();
  } catch (const std::exception&) {
    return false;
  }
  return conn.is_open();
}

}  // namespace

// One worker thread's connection, (re)made on demand.
struct PgPool::Worker {
  PgPool& pool;
  std::unique_ptr<pqxx::connection> conn;

  // A live connection, or nullptr with `error` set.
  pqxx::connection* get(std::string& error) {
    if (conn && !alive(*conn)) {
      conn.reset();
      ++pool.reconnects_;
    }
    if (!conn) {
      try {
        conn = std::make_unique<pqxx::connection>(pool.url_);
      } catch (const std::exception& e) {
        error = trimmed(e.what());
        ++pool.metrics_.pg_errors;
        return nullptr;
      }
    }
    return conn.get();
  }
};

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
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_ || queue_.size() >= queue_limit_) return false;
  queue_.push_back([job = std::move(job)](Worker& w) {
    std::string error;
    pqxx::connection* conn = w.get(error);
    job(conn, error);
  });
  cv_.notify_one();
  return true;
}

bool PgPool::submit_read(ReadWork work, Unavailable unavailable) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_ || queue_.size() >= queue_limit_) return false;
  queue_.push_back([this, work = std::move(work), unavailable = std::move(unavailable)](Worker& w) {
    std::string error;
    for (int attempt = 0; attempt < 2; ++attempt) {
      pqxx::connection* conn = w.get(error);
      if (!conn) return unavailable("PostgreSQL is not reachable: " + error);
      try {
        return work(*conn);
      } catch (const pqxx::broken_connection& e) {
        error = trimmed(e.what());
        ++metrics_.pg_errors;
        w.conn.reset();  // the next attempt connects afresh
        ++reconnects_;
      }
    }
    unavailable("PostgreSQL connection lost: " + error);
  });
  cv_.notify_one();
  return true;
}

// One worker: takes jobs and runs them with its connection.
void PgPool::run() {
  Worker worker{*this, nullptr};
  for (;;) {
    std::function<void(Worker&)> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      job(worker);
    } catch (...) {
      // jobs report their own errors; a stray exception must not kill the worker
    }
    if (worker.conn && !worker.conn->is_open()) worker.conn.reset();
  }
}

}  // namespace fstore::server
