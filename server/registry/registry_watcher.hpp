// Keeps the registry snapshot current: reads it from PostgreSQL at start, LISTENs on
// fstore_registry on its own connection, and on a notification (or every 30 s, since
// notifications are lost while disconnected) checks the registry's version and reloads only when
// it changed. Any role that can connect may send NOTIFY fstore_registry, so notifications are
// debounced: a burst costs at most one version check per --registry-debounce (200 ms).
// Reconnects forever with a 1 s pause.
#pragma once

#include "metrics.hpp"
#include "registry/registry.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace fstore::server {

class RegistryWatcher {
 public:
  // on_change runs after every reload triggered by a notification (token cache flush).
  RegistryWatcher(std::string pg_url, Metrics& metrics, std::function<void()> on_change,
                  std::chrono::milliseconds debounce = std::chrono::milliseconds(200));
  ~RegistryWatcher();

  // Runs `f` on every loaded snapshot before it is published (answer counter slots); set before start().
  void on_snapshot(std::function<void(const Registry&)> f) { on_snapshot_ = std::move(f); }
  void start();
  void stop();

  // The current snapshot (an empty registry until the first load).
  std::shared_ptr<const Registry> current() const;
  bool connected() const { return connected_.load(); }
  bool loaded() const { return loaded_.load(); }
  std::string last_error() const;
  // Notifications received and version checks made (for /metrics).
  uint64_t notifications() const { return notifications_.load(); }
  uint64_t version_checks() const { return version_checks_.load(); }

 private:
  void run();
  // Reloads when the registry's version differs from the loaded one; true when it reloaded.
  bool load(void* connection);  // pqxx::connection*, kept out of the header
  void set_error(const std::string& error);

  std::string pg_url_;
  Metrics& metrics_;
  std::function<void()> on_change_;
  std::function<void(const Registry&)> on_snapshot_;
  std::shared_ptr<const Registry> current_;
  mutable std::mutex mutex_;
  std::string last_error_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> loaded_{false};
  std::atomic<bool> stop_{false};
  std::chrono::milliseconds debounce_;
  std::string loaded_version_;  // version of the published snapshot ("" before the first load)
  std::atomic<uint64_t> notifications_{0};
  std::atomic<uint64_t> version_checks_{0};
  std::thread thread_;
};

}  // namespace fstore::server
