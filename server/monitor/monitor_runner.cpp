// The drift monitors' scheduler (server/monitor/monitor_runner.hpp).
#include "monitor/monitor_runner.hpp"

#include "log.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace fstore::server {

namespace {

constexpr int kMaxRunsPerRound = 100;  // then refresh the gauges and look at stop() again
constexpr int kMaxBackoffMs = 5000;
constexpr auto kPartitionEvery = std::chrono::seconds(60);

// A Prometheus label value: backslash, double quote and newline escaped.
std::string label(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

MonitorRunner::MonitorRunner(std::string pg_url, std::function<bool()> may_run, int interval_ms)
    : pg_url_(std::move(pg_url)), may_run_(std::move(may_run)), interval_ms_(interval_ms) {}

MonitorRunner::~MonitorRunner() { stop(); }

void MonitorRunner::start() { thread_ = std::thread([this] { run(); }); }

void MonitorRunner::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    if (running_) {
      try {
        running_->cancel_query();
      } catch (const std::exception&) {
        // Nothing to cancel, or the connection is gone: the thread notices stopping_ anyway.
      }
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool MonitorRunner::wait(int ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
  return !stopping_;
}

// Connects, then every interval runs the due monitors (when allowed) and refreshes the gauges;
// after an error reconnects with a growing backoff.
void MonitorRunner::run() {
  int backoff = 200;
  std::string last_error;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
    }
    try {
      pqxx::connection conn(pg_url_);
      {
        // A drift over a huge window may take long, but not forever: 15 minutes at most.
        pqxx::nontransaction setup(conn);
        setup.exec("SET application_name = 'fstore-monitors'; SET statement_timeout = '15min'");
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return;
        running_ = &conn;
      }
      connected_ = true;
      if (!last_error.empty()) log_info("monitors: connected to PostgreSQL again");
      last_error.clear();
      backoff = 200;
      do work(conn);
      while (wait(interval_ms_));
      std::lock_guard<std::mutex> lock(mutex_);
      running_ = nullptr;
      return;
    } catch (const std::exception& e) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        running_ = nullptr;
        if (stopping_) return;
      }
      connected_ = false;
      ++errors_;
      std::string error = e.what();
      if (error != last_error) log_warn("monitors: " + error.substr(0, error.find('\n')));
      last_error = error;
      if (!wait(backoff)) return;
      backoff = std::min(backoff * 2, kMaxBackoffMs);
    }
  }
}

// One round on the leader: every due monitor (a transaction each) and the partitions when due;
// then, on every server, the gauges.
void MonitorRunner::work(pqxx::connection& conn) {
  if (may_run_()) {
    for (int i = 0; i < kMaxRunsPerRound; ++i) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return;
      }
      pqxx::work tx(conn);
      auto r = tx.exec("SELECT fstore._run_due_monitor()");
      tx.commit();
      if (r.empty() || r[0][0].is_null()) break;
      ++runs_;
    }
    maintain_partitions(conn);
  } else {
    next_partitions_ = {};  // a follower that takes over maintains the partitions at once
  }
  refresh(conn);
}

// Right after this server becomes the leader, then once a minute, in one transaction: partitions
// ahead and retention for every partitioned view. Splitting the default partition detaches it, so
// the transaction waits for ingestion's locks 10 seconds at most (and makes no queue behind it).
// An SQL error is logged and retried a minute later; it does not stop the monitors.
void MonitorRunner::maintain_partitions(pqxx::connection& conn) {
  auto now = std::chrono::steady_clock::now();
  if (now < next_partitions_) return;
  next_partitions_ = now + kPartitionEvery;
  try {
    pqxx::work tx(conn);
    tx.exec("SET LOCAL lock_timeout = '10s'");
    auto rows = tx.exec("SELECT view_name, partition_name, action FROM fstore.maintain_partitions()");
    tx.commit();
    for (const auto& row : rows)
      log_info("partitions: " + row[0].as<std::string>() + ": " + row[2].as<std::string>() + " " +
               row[1].as<std::string>());
  } catch (const pqxx::sql_error& e) {
    ++errors_;
    std::string error = e.what();
    log_warn("partitions: " + error.substr(0, error.find('\n')));
  }
}

void MonitorRunner::refresh(pqxx::connection& conn) {
  pqxx::read_transaction tx(conn);
  auto rows = tx.exec("SELECT name, feature, metric, threshold, last_value, alert FROM fstore.monitors ORDER BY name");
  std::vector<MonitorState> states;
  for (const auto& row : rows) {
    MonitorState s{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                   row[3].as<double>(), std::nullopt, row[5].as<bool>()};
    if (!row[4].is_null()) s.value = row[4].as<double>();
    states.push_back(std::move(s));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  states_ = std::move(states);
}

std::string MonitorRunner::prometheus_text() const {
  std::vector<MonitorState> states;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    states = states_;
  }
  std::ostringstream out;
  out.precision(17);
  out << "# HELP fstore_monitor_value Last value of each drift monitor (NaN before its first run or after a failed run).\n"
         "# TYPE fstore_monitor_value gauge\n";
  for (const auto& s : states)
    out << "fstore_monitor_value{monitor=\"" << label(s.name) << "\",feature=\"" << label(s.feature) << "\",metric=\""
        << label(s.metric) << "\"} " << (s.value ? std::to_string(*s.value) : std::string("NaN")) << "\n";
  out << "# HELP fstore_monitor_threshold Alert threshold of each drift monitor.\n# TYPE fstore_monitor_threshold gauge\n";
  for (const auto& s : states) out << "fstore_monitor_threshold{monitor=\"" << label(s.name) << "\"} " << s.threshold << "\n";
  out << "# HELP fstore_monitor_alert 1 while the last run of the monitor was over its threshold.\n"
         "# TYPE fstore_monitor_alert gauge\n";
  for (const auto& s : states) out << "fstore_monitor_alert{monitor=\"" << label(s.name) << "\"} " << (s.alert ? 1 : 0) << "\n";
  out << "# HELP fstore_monitor_runs_total Monitor runs made by this server.\n# TYPE fstore_monitor_runs_total counter\n"
      << "fstore_monitor_runs_total " << runs_.load() << "\n"
      << "# HELP fstore_monitor_errors_total PostgreSQL errors of this server's monitor scheduler.\n"
         "# TYPE fstore_monitor_errors_total counter\n"
      << "fstore_monitor_errors_total " << errors_.load() << "\n"
      << "# HELP fstore_monitor_pg_connected The monitor scheduler's PostgreSQL connection is up.\n"
         "# TYPE fstore_monitor_pg_connected gauge\n"
      << "fstore_monitor_pg_connected " << (connected_.load() ? 1 : 0) << "\n";
  return out.str();
}

}  // namespace fstore::server
