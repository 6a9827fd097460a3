#include "online/answer_counters.hpp"

#include <sstream>

namespace fstore::server {

const char* answer_status_label(AnswerStatus s) {
  switch (s) {
    case AnswerStatus::present: return "PRESENT";
    case AnswerStatus::not_found: return "NOT_FOUND";
    case AnswerStatus::null_value: return "NULL_VALUE";
    case AnswerStatus::outside_max_age: return "OUTSIDE_MAX_AGE";
  }
  return "NOT_FOUND";
}

namespace {
std::atomic<size_t> next_shard{0};
// This thread's shard (constant-initialized thread_local: no init guard on the hot path);
// threads are numbered on first use.
thread_local size_t thread_shard = SIZE_MAX;
inline size_t shard_of_thread(size_t shards) {
  if (thread_shard == SIZE_MAX) thread_shard = next_shard++ % shards;
  return thread_shard;
}
}  // namespace

AnswerCounters::AnswerCounters() = default;

AnswerCounters::~AnswerCounters() {
  for (auto& c : chunks_) delete c.load();
}

void AnswerCounters::index(const Registry& registry) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [vname, view] : registry.views()) {
    if (!view.online) continue;
    for (const auto& f : view.features) {
      auto [it, fresh] = slots_.emplace(std::make_pair(vname, f.name), static_cast<uint32_t>(names_.size()));
      if (fresh) {
        if (names_.size() >= kMaxSlots) {
          slots_.erase(it);
          continue;  // over the cap: this feature is not counted (documented)
        }
        names_.emplace_back(vname, f.name);
        auto& chunk = chunks_[it->second / kChunk];
        if (!chunk.load(std::memory_order_relaxed)) chunk.store(new Chunk(), std::memory_order_release);
      }
      f.answer_slot = it->second;
    }
  }
}

void AnswerCounters::add(uint32_t slot, AnswerStatus status, uint64_t n) {
  if (slot >= kMaxSlots || n == 0) return;
  Chunk* c = chunks_[slot / kChunk].load(std::memory_order_acquire);
  if (!c) return;
  c->counts[shard_of_thread(kShards)][slot % kChunk][static_cast<size_t>(status)].fetch_add(n, std::memory_order_relaxed);
}

uint64_t AnswerCounters::get(uint32_t slot, AnswerStatus status) const {
  if (slot >= kMaxSlots) return 0;
  const Chunk* c = chunks_[slot / kChunk].load(std::memory_order_acquire);
  if (!c) return 0;
  uint64_t sum = 0;
  for (size_t s = 0; s < kShards; ++s)
    sum += c->counts[s][slot % kChunk][static_cast<size_t>(status)].load(std::memory_order_relaxed);
  return sum;
}

std::string AnswerCounters::render() const {
  std::vector<std::pair<std::string, std::string>> names;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    names = names_;
  }
  std::ostringstream out;
  out << "# HELP fstore_online_answers_total Online answers by feature view, feature and status "
         "(GET /features/{view}/{entity_key} and POST /get-online-features).\n"
         "# TYPE fstore_online_answers_total counter\n";
  // View and feature names match [A-Za-z_][A-Za-z0-9_]*: nothing to escape in a label.
  for (uint32_t slot = 0; slot < names.size(); ++slot)
    for (size_t s = 0; s < kAnswerStatuses; ++s) {
      auto status = static_cast<AnswerStatus>(s);
      out << "fstore_online_answers_total{view=\"" << names[slot].first << "\",feature=\"" << names[slot].second
          << "\",status=\"" << answer_status_label(status) << "\"} " << get(slot, status) << "\n";
    }
  return out.str();
}

}  // namespace fstore::server
