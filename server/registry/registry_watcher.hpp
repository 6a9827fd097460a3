// Keeps the registry snapshot current: reads it from PostgreSQL at start, LISTENs on
// fstore_registry on its own connection and reloads on every notification (and every 30 s, since
// notifications are lost while disconnected). Reconnects forever with a 1 s pause.
#pragma once

#include "metrics.hpp"
#include "registry/registry.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace fstore::server {

class RegistryWatcher {
 public:
  // on_change runs after every reload triggered by a notification (token cache flush).
  RegistryWatcher(std::string pg_url, Metrics& metrics, std::function<void()> on_change);
  ~RegistryWatcher();

  void start();
  void stop();

  // The current snapshot (an empty registry until the first load).
  std::shared_ptr<const Registry> current() const;
  bool connected() const { return connected_.load(); }
  bool loaded() const { return loaded_.load(); }
  std::string last_error() const;

 private:
  void run();
  void load(void* connection);  // pqxx::connection*, kept out of the header
  void set_error(const std::string& error);

  std::string pg_url_;
  Metrics& metrics_;
  std::function<void()> on_change_;
  std::shared_ptr<const Registry> current_;
  mutable std::mutex mutex_;
  std::string last_error_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> loaded_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace fstore::server
