#include "registry/registry_watcher.hpp"

#include "config.hpp"
#include "log.hpp"

#include <pqxx/pqxx>

#include <chrono>

namespace fstore::server {

namespace {

// Sets a flag when fstore_registry is notified; the payload is ignored (there is none).
class RegistryReceiver : public pqxx::notification_receiver {
 public:
  RegistryReceiver(pqxx::connection_base& c, bool& flag) : pqxx::notification_receiver(c, "fstore_registry"), flag_(flag) {}
  void operator()(const std::string&, int) override { flag_ = true; }
 private:
  bool& flag_;
};

// Every row of `sql` (one jsonb column) as JSON objects.
std::vector<nlohmann::json> rows_of(pqxx::transaction_base& tx, const std::string& sql) {
  std::vector<nlohmann::json> rows;
  for (const auto& row : tx.exec(sql)) rows.push_back(nlohmann::json::parse(row[0].c_str()));
  return rows;
}

}  // namespace

RegistryWatcher::RegistryWatcher(std::string pg_url, Metrics& metrics, std::function<void()> on_change)
    : pg_url_(std::move(pg_url)), metrics_(metrics), on_change_(std::move(on_change)),
      current_(Registry::from_rows({}, {}, {}, {})) {}

RegistryWatcher::~RegistryWatcher() { stop(); }

void RegistryWatcher::start() { thread_ = std::thread([this] { run(); }); }

void RegistryWatcher::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const Registry> RegistryWatcher::current() const { return std::atomic_load(&current_); }

std::string RegistryWatcher::last_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_error_;
}

void RegistryWatcher::set_error(const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  last_error_ = error;
}

// Reads the four catalog views in one snapshot and publishes the new registry.
void RegistryWatcher::load(void* conn_ptr) {
  auto& conn = *static_cast<pqxx::connection*>(conn_ptr);
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
  auto entities = rows_of(tx, "SELECT to_jsonb(e) FROM fstore.entities e");
  auto views = rows_of(tx,
      "SELECT to_jsonb(v) || jsonb_build_object('ttl_seconds', extract(epoch from v.ttl)::float8) "
      "FROM fstore.feature_views v");
  auto features = rows_of(tx, "SELECT to_jsonb(f) FROM fstore.features f");
  auto services = rows_of(tx, "SELECT to_jsonb(s) FROM fstore.feature_services s");
  tx.commit();
  auto registry = Registry::from_rows(entities, views, features, services);
  std::atomic_store(&current_, registry);
  loaded_ = true;
  ++metrics_.registry_reloads;
}

void RegistryWatcher::run() {
  bool reported = false;
  while (!stop_) {
    try {
      pqxx::connection conn(pg_url_);
      bool notified = false;
      RegistryReceiver receiver(conn, notified);  // LISTEN before the first read: no change is missed
      load(&conn);
      connected_ = true;
      set_error("");
      if (reported) log_info("PostgreSQL reachable again; registry loaded");
      reported = false;
      auto last_load = std::chrono::steady_clock::now();
      while (!stop_) {
        conn.await_notification(0, 300000);
        if (notified || std::chrono::steady_clock::now() - last_load > std::chrono::seconds(30)) {
          bool by_notify = notified;
          notified = false;
          load(&conn);
          last_load = std::chrono::steady_clock::now();
          if (by_notify && on_change_) on_change_();
        }
      }
      return;
    } catch (const std::exception& e) {
      connected_ = false;
      ++metrics_.pg_errors;
      std::string msg = e.what();
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
      set_error(msg);
      if (!reported)
        log_error("cannot reach PostgreSQL at " + redact_url(pg_url_) + " or read the registry: " + msg +
                  " -- retrying every second; GET /ready answers 503 meanwhile");
      reported = true;
      if (on_change_) on_change_();
      for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace fstore::server
