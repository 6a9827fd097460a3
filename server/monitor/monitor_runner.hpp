// The drift monitors' scheduler (docs/monitoring.md): a thread of its own with its own
// PostgreSQL connection that, while this server leads the sync, runs every due monitor through
// fstore._run_due_monitor() (one monitor per transaction; the result row, the next due time and
// the NOTIFY fstore_alert commit together, and a due time never runs twice, also across a
// takeover or a kill -9). On every server it keeps the monitors' last values for /metrics.
// (0.2.0) The leader also runs fstore.maintain_partitions() once a minute: partitions of
// partitioned views ahead of time, retention (docs/operations.md, "Partitions and retention").
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/connection>

namespace fstore::server {

// One monitor as /metrics shows it.
struct MonitorState {
  std::string name, feature, metric;
  double threshold = 0;
  std::optional<double> value;  // none before the first run or after a run that failed
  bool alert = false;
};

class MonitorRunner {
 public:
  // `may_run` says whether this server runs monitors now (it leads the sync).
  MonitorRunner(std::string pg_url, std::function<bool()> may_run, int interval_ms = 1000);
  ~MonitorRunner();
  MonitorRunner(const MonitorRunner&) = delete;
  MonitorRunner& operator=(const MonitorRunner&) = delete;

  void start();
  void stop();  // cancels a running drift computation and joins

  // Prometheus text: fstore_monitor_value, _threshold and _alert per monitor, runs and errors.
  std::string prometheus_text() const;
  bool connected() const { return connected_.load(); }

 private:
  void run();
  void work(pqxx::connection& conn);
  void refresh(pqxx::connection& conn);
  void maintain_partitions(pqxx::connection& conn);
  bool wait(int ms);  // false when stopping

  std::string pg_url_;
  std::function<bool()> may_run_;
  int interval_ms_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  pqxx::connection* running_ = nullptr;  // for stop() to cancel its query
  std::vector<MonitorState> states_;
  std::thread thread_;
  std::chrono::steady_clock::time_point next_partitions_{};  // due time of partition maintenance
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> runs_{0}, errors_{0};
};

}  // namespace fstore::server
