// The point-in-time rule as a pure C++ algorithm (no PostgreSQL headers), used by the training-set
// engine and its unit tests.
//
// Rule, per entity row (key k, time t) and per view: the view's row with key k and the greatest
// event_ts <= t (and event_ts >= t - ttl when the view has a ttl); among rows with that event_ts the
// greatest created_ts; then the greatest row id, so the result never depends on scan order.
//
// Algorithm: entity rows are sorted by (key, t) once per entity (EntityTimeline). Each feature row
// (k, e) is offered to the first entity row of key k whose t >= e (binary search), and kept there
// if it beats the candidate already there (ViewMatcher::offer). A final pass takes running maxima
// along each key's rows: the best row with event_ts <= t is the maximum over the candidates at or
// before t. So a view is read once, in any order, with O(log rows-per-key) work per feature row and
// memory proportional to the entity rows, not to the view's history.
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fstore::pit {

constexpr uint32_t kNoKey = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kNoRow = std::numeric_limits<uint64_t>::max();

// Dense ids for join-key values: integer keys or byte strings (text, uuid).
class KeyDictionary {
 public:
  uint32_t intern(int64_t key);
  uint32_t intern(std::string_view key);
  uint32_t find(int64_t key) const;           // kNoKey when absent
  uint32_t find(std::string_view key) const;  // kNoKey when absent
  uint32_t size() const { return count_; }
 private:
  uint32_t count_ = 0;
  std::unordered_map<int64_t, uint32_t> ints_;
  std::deque<std::string> owned_;            // stable storage behind the string_view keys
  std::unordered_map<std::string_view, uint32_t> strings_;
};

// The entity rows of one entity, sorted by (key id, time). Rows with kNoKey never match.
class EntityTimeline {
 public:
  EntityTimeline(const std::vector<uint32_t>& key_ids, const std::vector<int64_t>& times, uint32_t key_count);
  size_t size() const { return order_.size(); }
  // Sorted position of the first row of `key` with time >= t, or end_of(key) when none.
  size_t first_at_or_after(uint32_t key, int64_t t) const;
  size_t begin_of(uint32_t key) const { return offsets_[key]; }
  size_t end_of(uint32_t key) const { return offsets_[key + 1]; }
  size_t row_at(size_t position) const { return order_[position]; }       // input row index
  int64_t time_at(size_t position) const { return sorted_times_[position]; }
  uint32_t key_count() const { return static_cast<uint32_t>(offsets_.size() - 1); }
 private:
  std::vector<size_t> offsets_;        // per key: first sorted position; offsets_[key_count] = end
  std::vector<uint32_t> order_;        // sorted position -> input row index
  std::vector<int64_t> sorted_times_;  // sorted position -> time
};

// The version of a feature row that the rule compares.
struct Version {
  int64_t event_ts;
  int64_t created_ts;
  uint64_t row_id;
  bool operator<(const Version& o) const {
    if (event_ts != o.event_ts) return event_ts < o.event_ts;
    if (created_ts != o.created_ts) return created_ts < o.created_ts;
    return row_id < o.row_id;
  }
};

// Matches one view's rows against an entity's timeline.
class ViewMatcher {
 public:
  explicit ViewMatcher(const EntityTimeline& timeline);
  // Offers a feature row of `key` (kNoKey: ignored); constant work plus one binary search.
  void offer(uint32_t key, const Version& version);
  // The winning row id per input row (kNoRow: none). `lower_bounds`, when not empty, holds per input
  // row the smallest event_ts allowed (t - ttl).
  std::vector<uint64_t> winners(size_t input_rows, const std::vector<int64_t>& lower_bounds) const;
 private:
  const EntityTimeline& timeline_;
  std::vector<Version> candidates_;    // per sorted position
  std::vector<bool> present_;
};

}  // namespace fstore::pit
