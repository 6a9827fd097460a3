// The point-in-time rule as a pure C++ algorithm (no PostgreSQL headers), used by the training-set
// engine and its unit tests.
//
// Rule, per entity row (key k, time t) and per view: the view's row with key k and the greatest
// event_ts <= t (and event_ts >= t - ttl when the view has a ttl); among rows with that event_ts the
// greatest created_ts; then the greatest row id, so the result never depends on scan order.
//
// Algorithm: entity rows are sorted by (key, t) once per entity (EntityTimeline). Each feature row
// (k, e) is offered to the first entity row of key k whose t >= e (binary search), and kept there
// if it beats the candidate already there (ViewMatcher). A final pass takes running maxima along
// each key's rows: the best row with event_ts <= t is the maximum over the candidates at or before
// t. So a view is read once, in any order, with O(log rows-per-key) work per feature row and memory
// proportional to the entity rows, not to the view's history.
//
// Feature rows arrive in storage order, which is random with respect to keys, so every offer
// touches memory nothing else touched recently. Offers are therefore taken in batches and each
// stage prefetches what the next one reads, which overlaps the cache misses.
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace fstore::pit {

constexpr uint32_t kNoKey = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kNoRow = std::numeric_limits<uint64_t>::max();
constexpr uint32_t kNoPosition = std::numeric_limits<uint32_t>::max();
constexpr size_t kBatch = 256;  // offers per batch

// Dense ids for the join-key values of one entity: integers or byte strings (text, uuid).
// An open-addressing table of 16-byte slots: a lookup usually costs one cache line.
class KeyDictionary {
 public:
  KeyDictionary();
  uint32_t intern(int64_t key);
  uint32_t intern(std::string_view key);
  uint32_t find(int64_t key) const;           // kNoKey when absent
  uint32_t find(std::string_view key) const;  // kNoKey when absent
  void prefetch(int64_t key) const;           // hint: find(key) comes soon
  uint32_t size() const { return count_; }
  // Called once every key is in: integer keys that span a small range (ids, counters) then get a
  // direct table, key - min -> id, which fits in cache where the hash table does not. A later
  // intern() drops it again.
  void freeze();
 private:
  struct Slot {
    uint64_t tag;  // the integer key itself, or the hash of a string key
    uint32_t id;   // kNoKey: empty
  };
  size_t home(uint64_t hash) const { return hash & mask_; }
  uint32_t insert(uint64_t tag, uint64_t hash);
  void grow();
  const uint32_t* dense_entry(int64_t key) const;
  std::vector<Slot> slots_;
  uint64_t mask_;
  uint32_t count_ = 0;
  std::deque<std::string> strings_;  // string keys by id (stable storage)
  bool strings_mode_ = false;
  std::vector<uint32_t> dense_;      // after freeze(): id of key dense_min_ + i, or kNoKey; empty: none
  int64_t dense_min_ = 0;
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

// The entity rows of one entity, sorted by (key id, time). Rows with kNoKey never match.
class EntityTimeline {
 public:
  EntityTimeline(const std::vector<uint32_t>& key_ids, const std::vector<int64_t>& times, uint32_t key_count);
  // A copy of a sorted timeline's keys and times without the input order (row_at is unusable):
  // what a parallel worker needs to match, shipped from the leader instead of sorted again.
  EntityTimeline(std::vector<uint32_t> offsets, std::vector<int64_t> sorted_times);
  size_t size() const { return sorted_times_.size(); }
  uint32_t key_count() const { return static_cast<uint32_t>(offsets_.size() - 1); }
  size_t begin_of(uint32_t key) const { return offsets_[key]; }
  size_t end_of(uint32_t key) const { return offsets_[key + 1]; }
  size_t row_at(size_t position) const { return order_[position]; }  // input row index
  int64_t time_at(size_t position) const { return sorted_times_[position]; }
  const uint32_t* offsets_address(uint32_t key) const { return &offsets_[key]; }
  const std::vector<uint32_t>& offsets() const { return offsets_; }
  const std::vector<int64_t>& sorted_times() const { return sorted_times_; }
 private:
  std::vector<uint32_t> offsets_;      // per key: first sorted position; offsets_[key_count] = end
  std::vector<uint32_t> order_;        // sorted position -> input row index
  std::vector<int64_t> sorted_times_;  // sorted position -> time
};

// Matches one view's rows against an entity's timeline.
class ViewMatcher {
 public:
  explicit ViewMatcher(const EntityTimeline& timeline);
  // Offers one feature row of `key` (kNoKey: ignored). Returns the timeline position where it is
  // now the best candidate, or kNoPosition when it did not win a place.
  uint32_t offer(uint32_t key, const Version& version);
  // Offers up to kBatch feature rows whose keys are dictionary ids; `placed[i]` receives what
  // offer() would return for row i.
  void offer_batch(const uint32_t* keys, const Version* versions, size_t n, uint32_t* placed);
  // The same for integer keys, resolved through `dict`.
  void offer_batch(const KeyDictionary& dict, const int64_t* keys, const Version* versions, size_t n,
                   uint32_t* placed);
  // Per input row, the timeline position whose candidate wins (kNoPosition: none). `lower_bounds`,
  // when not empty, holds per input row the smallest event_ts allowed (t - ttl).
  std::vector<uint32_t> winners(size_t input_rows, const std::vector<int64_t>& lower_bounds) const;
  // The row id of the candidate kept at a position.
  uint64_t row_id_at(uint32_t position) const { return positions_[position].best.row_id; }
  // The candidate kept at a position (row_id == kNoRow: none).
  const Version& best_at(uint32_t position) const { return positions_[position].best; }
  // Merges a candidate found for `position` by another matcher over the same timeline (a parallel
  // worker's); true when it is now the best there.
  bool merge_at(uint32_t position, const Version& version);
 private:
  struct Position {  // one entity row in timeline order, with its best candidate so far
    int64_t time;
    Version best;    // best.row_id == kNoRow: none yet
  };
  uint32_t offer_at(uint32_t begin, uint32_t end, const Version& version);
  const EntityTimeline& timeline_;
  std::vector<Position> positions_;
};

}  // namespace fstore::pit
