#include "stream/stream_manager.hpp"

#include "config.hpp"
#include "log.hpp"

#include <pqxx/pqxx>

#include <set>
#include <sstream>

namespace fstore::stream {

using server::log_info;
using server::log_warn;

namespace {

// Prometheus label value: backslash, quote and newline escaped.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out;
}

}  // namespace

StreamManager::StreamManager(std::string pg_url, std::string reporter)
    : pg_url_(std::move(pg_url)), reporter_(std::move(reporter)) {}

StreamManager::~StreamManager() { stop(); }

void StreamManager::start() { thread_ = std::thread([this] { run(); }); }

void StreamManager::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::map<std::string, std::unique_ptr<StreamConsumer>> consumers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    consumers.swap(consumers_);
  }
  consumers.clear();  // each destructor stops its consumer
}

void StreamManager::wake() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    woken_ = true;
  }
  cv_.notify_all();
}

// Starts, stops and restarts consumers so that one runs per source, with the source's options.
void StreamManager::apply(const std::vector<SourceConfig>& sources) {
  std::set<std::string> wanted;
  std::vector<std::unique_ptr<StreamConsumer>> retired;
  std::vector<StreamConsumer*> started;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& s : sources) {
      wanted.insert(s.name);
      auto it = consumers_.find(s.name);
      if (it != consumers_.end() && it->second->source().fingerprint == s.fingerprint) continue;
      if (it != consumers_.end()) {
        log_info("stream source " + s.name + " changed: restarting its consumer");
        retired.push_back(std::move(it->second));
        consumers_.erase(it);
      }
      auto c = std::make_unique<StreamConsumer>(s, pg_url_, reporter_);
      started.push_back(c.get());
      consumers_[s.name] = std::move(c);
    }
    for (auto it = consumers_.begin(); it != consumers_.end();) {
      if (wanted.count(it->first)) { ++it; continue; }
      log_info("stream source " + it->first + " dropped: stopping its consumer");
      retired.push_back(std::move(it->second));
      it = consumers_.erase(it);
    }
  }
  retired.clear();  // stopped outside the lock: /metrics never waits for a consumer to leave its group
  for (auto* c : started) c->start();
}

void StreamManager::run() {
  bool reported = false;
  while (!stop_) {
    try {
      pqxx::connection conn(pg_url_);
      reported = false;
      while (!stop_) {
        std::vector<SourceConfig> sources;
        {
          pqxx::read_transaction tx(conn);
          auto rows = tx.exec(
              "SELECT jsonb_build_object('name', name, 'view', view, 'options', options)::text "
              "FROM fstore.stream_source_registry ORDER BY name");
          for (const auto& r : rows) {
            std::string error;
            auto c = SourceConfig::from_row(nlohmann::json::parse(r[0].c_str()), &error);
            if (c) sources.push_back(std::move(*c));
            else log_warn("stream source row skipped: " + error);
          }
        }
        apply(sources);
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait_for(lock, std::chrono::seconds(5), [this] { return woken_ || stop_.load(); });
        woken_ = false;
      }
    } catch (const std::exception& e) {
      if (!reported) log_warn(std::string("stream sources cannot be read (retrying every second): ") + e.what());
      reported = true;
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_.load(); });
    }
  }
}

std::vector<SourceStatus> StreamManager::status() const {
  std::vector<SourceStatus> out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [name, c] : consumers_) out.push_back(c->status());
  return out;
}

std::string StreamManager::metrics_text() const {
  auto all = status();
  std::ostringstream out;
  auto counter = [&](const char* name, const char* help, auto field) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n";
    for (const auto& s : all) out << name << "{source=\"" << label(s.name) << "\"} " << field(s) << "\n";
  };
  counter("fstore_stream_messages_total", "Kafka messages received, per stream source.",
          [](const SourceStatus& s) { return s.messages_in; });
  counter("fstore_stream_rows_loaded_total", "Rows stored in the view, per stream source.",
          [](const SourceStatus& s) { return s.rows_loaded; });
  counter("fstore_stream_rejected_total", "Rows and messages stored in fstore.rejected_rows, per stream source.",
          [](const SourceStatus& s) { return s.rejected; });
  counter("fstore_stream_skipped_total", "Messages found stored already (redelivered after a crash or rebalance).",
          [](const SourceStatus& s) { return s.skipped; });
  counter("fstore_stream_batches_total", "Batches committed to PostgreSQL with their offsets.",
          [](const SourceStatus& s) { return s.batches; });
  counter("fstore_stream_errors_total", "Kafka and PostgreSQL errors of the consumer.",
          [](const SourceStatus& s) { return s.errors; });
  out << "# HELP fstore_stream_running The source's consumer is running (1) or retrying / in error (0).\n"
      << "# TYPE fstore_stream_running gauge\n";
  for (const auto& s : all) out << "fstore_stream_running{source=\"" << label(s.name) << "\"} " << (s.state == "running" ? 1 : 0) << "\n";
  out << "# HELP fstore_stream_lag Messages in the partition not yet stored, per partition assigned to this server.\n"
      << "# TYPE fstore_stream_lag gauge\n";
  for (const auto& s : all)
    for (const auto& p : s.partitions)
      out << "fstore_stream_lag{source=\"" << label(s.name) << "\",partition=\"" << p.partition << "\"} " << p.lag() << "\n";
  return out.str();
}

}  // namespace fstore::stream
