// Kafka for integration tests: the mock cluster of tests/harness/kafka_mock_cluster.cpp (real
// Kafka protocol over TCP on loopback, three brokers) as a child process driven over a pipe, and
// a librdkafka producer that waits for every delivery.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>

struct rd_kafka_s;

namespace fstore::testing {

class MockKafka {
 public:
  explicit MockKafka(int brokers = 3);
  ~MockKafka();
  MockKafka(const MockKafka&) = delete;
  MockKafka& operator=(const MockKafka&) = delete;
  const std::string& bootstrap() const { return bootstrap_; }
  void create_topic(const std::string& topic, int partitions);
  void broker_down(int id);  // 1..brokers: connections dropped, no new ones accepted
  void broker_up(int id);
  void hide_topic(const std::string& topic);  // metadata answers "unknown topic or partition"
  void show_topic(const std::string& topic);
 private:
  void command(const std::string& line);  // throws unless the harness answers "ok"
  int pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
  std::string bootstrap_;
};

class KafkaProducer {
 public:
  explicit KafkaProducer(const std::string& bootstrap);
  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;
  // Queues one message to a partition (idempotent producer: no duplicate in Kafka on retries).
  void produce(const std::string& topic, int32_t partition, const std::string& payload);
  // Waits until every queued message is delivered; throws when one failed.
  void flush();
  // Called by the delivery callback.
  void delivered(bool ok) { (ok ? delivered_ : failed_)++; }
 private:
  rd_kafka_s* rk_ = nullptr;
  std::atomic<uint64_t> delivered_{0}, failed_{0};
};

}  // namespace fstore::testing
