// Random ingestion into fstore_data.driver_stats (entity driver, features conv_rate, trips, city)
// for the sync integration suites: small transactions until stopped, tolerating PostgreSQL away.
#pragma once

#include "support/stack.hpp"

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>

namespace fstore::testing {

// Inserts random rows in small transactions until stopped; tolerates PostgreSQL being away.
class Ingestor {
 public:
  Ingestor(const PgCluster& pg, int keys) : pg_(pg), keys_(keys), thread_([this] { run(); }) {}
  ~Ingestor() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t rows() const { return rows_; }

 private:
  void run() {
    std::mt19937 rng(42);
    while (!stop_) {
      try {
        auto conn = pg_.connect();
        while (!stop_) {
          pqxx::work tx(conn);
          int n = 1 + static_cast<int>(rng() % 20);
          std::string sql = "INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city) VALUES ";
          for (int i = 0; i < n; ++i) {
            if (i) sql += ",";
            sql += "(" + std::to_string(rng() % keys_) + ", now() - interval '" + std::to_string(rng() % 100000) +
                   " ms', " + std::to_string((rng() % 1000) / 1000.0) + ", " + std::to_string(rng() % 100) + ", 'c" +
                   std::to_string(rng() % 7) + "')";
          }
          tx.exec(sql);
          tx.commit();
          rows_ += n;
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
  const PgCluster& pg_;
  int keys_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> rows_{0};
  std::thread thread_;
};

}  // namespace fstore::testing
