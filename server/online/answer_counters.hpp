// Serving quality in /metrics: how many online answers of each feature were PRESENT, NOT_FOUND,
// NULL_VALUE or OUTSIDE_MAX_AGE, over both online routes (docs/operations.md, "Metrics").
// Counting is on the lookup's hot path, so it costs one relaxed atomic add per (feature, status)
// of a response, into the calling thread's shard: every feature of an online view gets a slot
// when a registry snapshot is loaded (before it is published; a name keeps its slot for the life
// of the process, so counters never go back), and the handler adds by slot, without a lookup.
#pragma once

#include "registry/registry.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace fstore::server {

enum class AnswerStatus : uint8_t { present, not_found, null_value, outside_max_age };
constexpr size_t kAnswerStatuses = 4;
// The status as the API spells it ("PRESENT" ...).
const char* answer_status_label(AnswerStatus s);

class AnswerCounters {
 public:
  static constexpr size_t kMaxSlots = 65536;   // (view, feature) pairs counted; more are not
  AnswerCounters();
  ~AnswerCounters();
  AnswerCounters(const AnswerCounters&) = delete;
  AnswerCounters& operator=(const AnswerCounters&) = delete;

  // Gives every feature of the online views of `registry` its slot (Feature::answer_slot).
  // Called by the registry watcher on a snapshot before it is published.
  void index(const Registry& registry);
  // Adds `n` answers of `status` for the feature in `slot` (no-op for Feature::kNoSlot).
  void add(uint32_t slot, AnswerStatus status, uint64_t n = 1);
  // The count so far (sum of the shards).
  uint64_t get(uint32_t slot, AnswerStatus status) const;
  // Prometheus text: fstore_online_answers_total{view,feature,status} for every slot given.
  std::string render() const;

 private:
  static constexpr size_t kShards = 8;        // threads map onto shards; a shared shard stays exact
  static constexpr size_t kChunk = 256;       // slots per lazily allocated chunk
  struct Chunk {
    std::atomic<uint64_t> counts[kShards][kChunk][kAnswerStatuses];
  };
  std::array<std::atomic<Chunk*>, kMaxSlots / kChunk> chunks_{};
  mutable std::mutex mutex_;                  // index() and render(), never the hot path
  std::map<std::pair<std::string, std::string>, uint32_t> slots_;
  std::vector<std::pair<std::string, std::string>> names_;  // slot -> (view, feature)
};

}  // namespace fstore::server
