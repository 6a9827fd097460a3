// Runs one StreamConsumer per row of fstore.stream_source_registry. Reads the sources at start,
// when woken (the registry watcher calls wake() after every registry change: create_stream_source
// and drop_stream_source bump the registry version and NOTIFY), and every 5 s in any case; starts
// consumers for new sources, stops those of dropped ones, restarts those whose view or options
// changed. Reconnects to PostgreSQL with a 1 s pause. Status for /ready and /metrics.
#pragma once

#include "stream/stream_consumer.hpp"

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fstore::stream {

class StreamManager {
 public:
  StreamManager(std::string pg_url, std::string reporter);
  ~StreamManager();
  void start();
  void stop();  // stops every consumer (each stores what it batched), then the thread
  void wake();  // re-read the sources soon

  std::vector<SourceStatus> status() const;
  // Prometheus text of the stream metrics (lag per partition, messages in, rows, rejected).
  std::string metrics_text() const;

 private:
  void run();
  void apply(const std::vector<SourceConfig>& sources);

  std::string pg_url_, reporter_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool woken_ = false;
  std::atomic<bool> stop_{false};
  std::map<std::string, std::unique_ptr<StreamConsumer>> consumers_;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace fstore::stream
