// One Kafka consumer per stream source, on a thread of its own with its own PostgreSQL
// connection (docs/streams.md). Exactly once into PostgreSQL:
// - the consumer joins options.group with enable.auto.commit=false; on every assignment the
//   rebalance callback reads the partitions' next offsets from fstore.stream_offsets and assigns
//   with them (a partition never stored starts at options.start), so Kafka's committed offsets
//   are never the truth (they are committed afterwards, asynchronously, for tooling only);
// - messages are batched (options.batch_size, options.batch_ms) and stored with their offsets in
//   one transaction by fstore._stream_store, which also skips any message below the stored
//   offset (a batch sent twice lands once);
// - after any error (PostgreSQL down, a batch that failed, a consumer error) the batch in memory
//   is dropped and the assignment re-read from PostgreSQL, with backoff.
#pragma once

#include "stream/stream_config.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/connection>

struct rd_kafka_s;
struct rd_kafka_topic_partition_list_s;

namespace fstore::stream {

// One partition as this server consumes it.
struct PartitionStatus {
  int32_t partition = 0;
  int64_t next_offset = -1;      // next offset to store (-1: none stored yet)
  int64_t high_watermark = -1;   // end of the partition as last seen (-1: unknown)
  int64_t lag() const { return next_offset >= 0 && high_watermark >= 0 ? std::max<int64_t>(0, high_watermark - next_offset) : 0; }
};

struct SourceStatus {
  std::string name, view, topic, state = "starting", last_error;
  std::vector<PartitionStatus> partitions;  // the partitions assigned to this server
  uint64_t messages_in = 0;     // messages received from Kafka
  uint64_t rows_loaded = 0;     // rows stored in the view
  uint64_t rejected = 0;        // rows and messages stored in fstore.rejected_rows
  uint64_t skipped = 0;         // messages found stored already (after a crash or rebalance)
  uint64_t batches = 0;         // transactions committed
  uint64_t errors = 0;          // Kafka and PostgreSQL errors
};

class StreamConsumer {
 public:
  // `reporter` names this server in fstore.stream_sources.reported_by.
  StreamConsumer(SourceConfig source, std::string pg_url, std::string reporter);
  ~StreamConsumer();
  StreamConsumer(const StreamConsumer&) = delete;
  StreamConsumer& operator=(const StreamConsumer&) = delete;

  void start();
  // Stores what is batched (best effort), leaves the group, joins the thread.
  void stop();
  const SourceConfig& source() const { return source_; }
  SourceStatus status() const;

  // librdkafka's callbacks (C linkage trampolines call these on the consumer thread).
  void on_rebalance(int err, rd_kafka_topic_partition_list_s* partitions);
  void on_error(int err, const char* reason);

 private:
  void run();
  bool connect_pg();
  bool create_consumer();
  void destroy_consumer();
  void poll_once();
  // Reads stored offsets of `partitions` into their .offset (logical start where none); false
  // when PostgreSQL cannot be read.
  bool read_offsets(rd_kafka_topic_partition_list_s* partitions);
  // Assigns the current assignment again with offsets from PostgreSQL; false to retry later.
  bool resync();
  // Stores the batch; on failure drops it and schedules a resync. True when stored.
  bool flush();
  bool store_range(size_t first, size_t last, int depth);
  void commit_to_kafka();
  void report(bool force);
  std::string watermarks_json();
  void set_state(const std::string& state, const std::string& error);
  void backoff();
  void reset_backoff() { backoff_ms_ = 0; }

  SourceConfig source_;
  std::string pg_url_, reporter_;
  std::unique_ptr<pqxx::connection> pg_;
  rd_kafka_s* rk_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread thread_;

  // Consumer-thread state.
  std::vector<EncodedMessage> batch_;
  std::chrono::steady_clock::time_point batch_started_;
  std::map<int32_t, int64_t> expected_;  // next offset per assigned partition (-1: any)
  bool need_resync_ = false;
  int backoff_ms_ = 0;
  std::chrono::steady_clock::time_point last_report_{};
  std::string reported_state_, reported_error_;
  std::chrono::steady_clock::time_point last_resync_{};

  mutable std::mutex mutex_;
  SourceStatus status_;  // guarded by mutex_
};

}  // namespace fstore::stream
