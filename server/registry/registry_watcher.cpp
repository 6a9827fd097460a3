#include "registry/registry_watcher.hpp"

#include "config.hpp"
#include "log.hpp"

#include <pqxx/pqxx>

#include <chrono>

namespace fstore::server {

namespace {

// Counts notifications on fstore_registry; the payload is ignored (anyone may send one).
class RegistryReceiver : public pqxx::notification_receiver {
 public:
  RegistryReceiver(pqxx::connection_base& c, uint64_t& count) : pqxx::notification_receiver(c, "fstore_registry"), count_(count) {}
  void operator()(const std::string&, int) override { ++count_; }
 private:
  uint64_t& count_;
};

// The registry's version as text: fstore.registry_version() (0.1.1) moves in the transaction of
// every registry and token change, and only then, so a NOTIFY (which any role may send) costs one
// cheap query and never a reload by itself.
std::string registry_version(pqxx::transaction_base& tx) {
  auto r = tx.exec("SELECT fstore.registry_version()::text");
  return r.empty() || r[0][0].is_null() ? "" : r[0][0].c_str();
}

// Every row of `sql` (one jsonb column) as JSON objects.
std::vector<nlohmann::json> rows_of(pqxx::transaction_base& tx, const std::string& sql) {
  std::vector<nlohmann::json> rows;
  for (const auto& row : tx.exec(sql)) rows.push_back(nlohmann::json::parse(row[0].c_str()));
  return rows;
}

}  // namespace

RegistryWatcher::RegistryWatcher(std::string pg_url, Metrics& metrics, std::function<void()> on_change,
                                 std::chrono::milliseconds debounce)
    : pg_url_(std::move(pg_url)), metrics_(metrics), on_change_(std::move(on_change)),
      current_(Registry::from_rows({}, {}, {}, {})), debounce_(debounce) {}

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

// Checks the version and, when it changed, reads the four catalog views in the same snapshot
// and publishes the new registry. The ttl comes as interval fields, never extract(epoch).
bool RegistryWatcher::load(void* conn_ptr) {
  auto& conn = *static_cast<pqxx::connection*>(conn_ptr);
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
  ++version_checks_;
  std::string version = registry_version(tx);
  if (!loaded_version_.empty() && version == loaded_version_) {
    tx.commit();
    return false;
  }
  auto entities = rows_of(tx, "SELECT to_jsonb(e) FROM fstore.entities e");
  auto views = rows_of(tx,
      "SELECT to_jsonb(v) || jsonb_build_object("
      "'ttl_seconds', extract(epoch from v.ttl)::float8, "
      "'ttl_months', (extract(year from v.ttl) * 12 + extract(month from v.ttl))::bigint, "
      "'ttl_days', extract(day from v.ttl)::bigint, "
      "'ttl_usecs', (extract(hour from v.ttl) * 3600000000 + extract(minute from v.ttl) * 60000000 "
      "+ extract(microseconds from v.ttl))::bigint) "
      "FROM fstore.feature_views v");
  auto features = rows_of(tx, "SELECT to_jsonb(f) FROM fstore.features f");
  auto services = rows_of(tx, "SELECT to_jsonb(s) FROM fstore.feature_services s");
  tx.commit();
  auto registry = Registry::from_rows(entities, views, features, services);
  if (on_snapshot_) on_snapshot_(*registry);
  std::atomic_store(&current_, registry);
  loaded_version_ = version;
  loaded_ = true;
  ++metrics_.registry_reloads;
  return true;
}

void RegistryWatcher::run() {
  using clock = std::chrono::steady_clock;
  bool reported = false;
  while (!stop_) {
    try {
      pqxx::connection conn(pg_url_);
      uint64_t received = 0;
      RegistryReceiver receiver(conn, received);  // LISTEN before the first read: no change is missed
      loaded_version_.clear();                    // after a reconnect, always reload once
      load(&conn);
      connected_ = true;
      set_error("");
      if (reported) log_info("PostgreSQL reachable again; registry loaded");
      reported = false;
      auto last_check = clock::now();
      bool pending = false;
      while (!stop_) {
        // With a notification pending, wait only until the debounce allows the next check.
        auto now = clock::now();
        auto wait = std::chrono::milliseconds(300);
        if (pending) wait = std::max(std::chrono::milliseconds(0),
                                     std::chrono::duration_cast<std::chrono::milliseconds>(last_check + debounce_ - now));
        conn.await_notification(wait.count() / 1000, (wait.count() % 1000) * 1000);
        if (received) {
          notifications_ += received;
          received = 0;
          pending = true;
        }
        now = clock::now();
        bool periodic = now - last_check > std::chrono::seconds(30);
        if ((pending && now >= last_check + debounce_) || periodic) {
          pending = false;
          bool changed = load(&conn);
          last_check = clock::now();
          if (changed && on_change_) on_change_();
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
