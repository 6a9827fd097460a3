// The sync worker's Redis writer thread: PostgreSQL reads the next chunk while Redis applies the
// previous one (see sync_worker.cpp).
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace fstore::sync {

// Runs Redis writes on a second thread so that PostgreSQL reads the next chunk while Redis applies
// the previous one. At most one job waits while one runs. The first failure is kept and rethrown
// by the next submit() or by drain(); later jobs are dropped.
class AsyncWriter {
 public:
  AsyncWriter() : thread_([this] { loop(); }) {}
  ~AsyncWriter() {
    { std::lock_guard<std::mutex> g(mu_); quit_ = true; }
    cv_.notify_all();
    thread_.join();
  }
  void submit(std::function<void()> job) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return !pending_ || error_; });
    rethrow_locked();
    pending_ = std::move(job);
    cv_.notify_all();
  }
  // Waits until every submitted job ran; rethrows the first failure (and forgets it).
  void drain() {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return !pending_ && !running_; });
    rethrow_locked();
  }
  // Waits without throwing (cleanup paths).
  void drain_quietly() noexcept {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return !pending_ && !running_; });
    error_ = nullptr;
  }

 private:
  void rethrow_locked() {
    if (error_) {
      auto e = error_;
      error_ = nullptr;
      pending_ = nullptr;
      std::rethrow_exception(e);
    }
  }
  void loop() {
    std::unique_lock<std::mutex> lk(mu_);
    while (true) {
      cv_.wait(lk, [&] { return quit_ || pending_; });
      if (!pending_) return;
      auto job = std::move(pending_);
      pending_ = nullptr;
      if (error_) { cv_.notify_all(); continue; }  // after a failure, skip the rest of the batch
      running_ = true;
      lk.unlock();
      std::exception_ptr err;
      try { job(); } catch (...) { err = std::current_exception(); }
      lk.lock();
      running_ = false;
      if (err && !error_) error_ = err;
      cv_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> pending_;
  bool running_ = false;
  bool quit_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

// Drains the writer when a scope ends, also by an exception, so nobody else touches Redis while
// the writer still does.
struct DrainGuard {
  AsyncWriter& w;
  ~DrainGuard() { w.drain_quietly(); }
};

}  // namespace fstore::sync
