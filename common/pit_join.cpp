#include "pit_join.hpp"

#include "prefault.hpp"

#include <algorithm>
#include <functional>
#include <numeric>
#include <utility>

namespace fstore::pit {

namespace {

// splitmix64's finalizer: spreads consecutive integer keys over the table.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t hash_bytes(std::string_view s) { return mix(std::hash<std::string_view>{}(s)); }

}  // namespace

KeyDictionary::KeyDictionary() : slots_(1024, Slot{0, kNoKey}), mask_(1023) {}

uint32_t KeyDictionary::insert(uint64_t tag, uint64_t hash) {
  if ((count_ + 1) * 2 > slots_.size()) grow();
  for (size_t i = home(hash);; i = (i + 1) & mask_) {
    if (slots_[i].id == kNoKey) {
      slots_[i] = Slot{tag, count_};
      return count_++;
    }
  }
}

// Doubles the table and re-inserts every key (ids do not change).
void KeyDictionary::grow() {
  std::vector<Slot> old;
  assign_prefaulted(old, slots_.size() * 2, Slot{0, kNoKey});
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.id == kNoKey) continue;
    uint64_t hash = strings_mode_ ? s.tag : mix(s.tag);
    size_t i = home(hash);
    while (slots_[i].id != kNoKey) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

uint32_t KeyDictionary::intern(int64_t key) {
  uint32_t id = find(key);
  if (id != kNoKey) return id;
  dense_.clear();
  return insert(static_cast<uint64_t>(key), mix(static_cast<uint64_t>(key)));
}

void KeyDictionary::freeze() {
  dense_.clear();
  if (strings_mode_ || count_ == 0) return;
  int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
  for (const Slot& s : slots_)
    if (s.id != kNoKey) {
      lo = std::min(lo, static_cast<int64_t>(s.tag));
      hi = std::max(hi, static_cast<int64_t>(s.tag));
    }
  // At most 4 table entries per key (16 bytes, as much as one hash slot) and 64M entries in all.
  uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);  // the range's size - 1
  if (span >= std::max<uint64_t>(uint64_t{4} * count_, 4096) || span >= (uint64_t{1} << 26)) return;
  assign_prefaulted(dense_, span + 1, kNoKey);
  for (const Slot& s : slots_)
    if (s.id != kNoKey) dense_[static_cast<uint64_t>(s.tag) - static_cast<uint64_t>(lo)] = s.id;
  dense_min_ = lo;
}

uint32_t KeyDictionary::intern(std::string_view key) {
  strings_mode_ = true;
  uint32_t id = find(key);
  if (id != kNoKey) return id;
  strings_.emplace_back(key);
  uint64_t hash = hash_bytes(key);
  return insert(hash, hash);
}

// The direct table's entry for `key`, or nullptr when the key is outside its range.
const uint32_t* KeyDictionary::dense_entry(int64_t key) const {
  uint64_t at = static_cast<uint64_t>(key) - static_cast<uint64_t>(dense_min_);
  return at < dense_.size() ? &dense_[at] : nullptr;
}

uint32_t KeyDictionary::find(int64_t key) const {
  if (!dense_.empty()) {
    const uint32_t* entry = dense_entry(key);
    return entry ? *entry : kNoKey;
  }
  for (size_t i = home(mix(static_cast<uint64_t>(key)));; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.id == kNoKey) return kNoKey;
    if (s.tag == static_cast<uint64_t>(key)) return s.id;
  }
}

uint32_t KeyDictionary::find(std::string_view key) const {
  uint64_t hash = hash_bytes(key);
  for (size_t i = home(hash);; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.id == kNoKey) return kNoKey;
    if (s.tag == hash && strings_[s.id] == key) return s.id;
  }
}

void KeyDictionary::prefetch(int64_t key) const {
  if (!dense_.empty()) {
    if (const uint32_t* entry = dense_entry(key)) __builtin_prefetch(entry);
    return;
  }
  __builtin_prefetch(&slots_[home(mix(static_cast<uint64_t>(key)))]);
}

EntityTimeline::EntityTimeline(const std::vector<uint32_t>& key_ids, const std::vector<int64_t>& times,
                               uint32_t key_count)
    : offsets_(static_cast<size_t>(key_count) + 1, 0) {
  // Counting sort by key, then sort each key's rows by time (stable: equal times keep input order).
  for (uint32_t key : key_ids)
    if (key != kNoKey) ++offsets_[key + 1];
  std::partial_sum(offsets_.begin(), offsets_.end(), offsets_.begin());
  assign_prefaulted(order_, offsets_[key_count], 0);
  std::vector<uint32_t> fill(offsets_.begin(), offsets_.end() - 1);
  for (uint32_t row = 0; row < key_ids.size(); ++row)
    if (key_ids[row] != kNoKey) order_[fill[key_ids[row]]++] = row;
  for (uint32_t key = 0; key < key_count; ++key)
    std::stable_sort(order_.begin() + offsets_[key], order_.begin() + offsets_[key + 1],
                     [&](uint32_t a, uint32_t b) { return times[a] < times[b]; });
  assign_prefaulted(sorted_times_, order_.size(), 0);
  for (size_t pos = 0; pos < order_.size(); ++pos) sorted_times_[pos] = times[order_[pos]];
}

EntityTimeline::EntityTimeline(std::vector<uint32_t> offsets, std::vector<int64_t> sorted_times)
    : offsets_(std::move(offsets)), sorted_times_(std::move(sorted_times)) {}

ViewMatcher::ViewMatcher(const EntityTimeline& timeline) : timeline_(timeline) {
  reserve_prefaulted(positions_, timeline.size());
  for (size_t pos = 0; pos < timeline.size(); ++pos)
    positions_.push_back(Position{timeline.time_at(pos), Version{0, 0, kNoRow}});
}

// Keeps `version` at the first position in [begin, end) whose time >= its event_ts, if it is
// better than what is there; returns that position, or kNoPosition.
uint32_t ViewMatcher::offer_at(uint32_t begin, uint32_t end, const Version& version) {
  const Position* first = positions_.data() + begin;
  const Position* last = positions_.data() + end;
  const Position* at = std::lower_bound(first, last, version.event_ts,
                                        [](const Position& p, int64_t t) { return p.time < t; });
  if (at == last) return kNoPosition;  // newer than every entity row of this key
  uint32_t position = static_cast<uint32_t>(at - positions_.data());
  Version& best = positions_[position].best;
  if (best.row_id != kNoRow && !(best < version)) return kNoPosition;
  best = version;
  return position;
}

bool ViewMatcher::merge_at(uint32_t position, const Version& version) {
  Version& best = positions_[position].best;
  if (version.row_id == kNoRow || (best.row_id != kNoRow && !(best < version))) return false;
  best = version;
  return true;
}

uint32_t ViewMatcher::offer(uint32_t key, const Version& version) {
  if (key == kNoKey || key >= timeline_.key_count()) return kNoPosition;
  return offer_at(static_cast<uint32_t>(timeline_.begin_of(key)), static_cast<uint32_t>(timeline_.end_of(key)),
                  version);
}

void ViewMatcher::offer_batch(const uint32_t* keys, const Version* versions, size_t n, uint32_t* placed) {
  uint32_t begins[kBatch], ends[kBatch];
  for (size_t i = 0; i < n; ++i)
    if (keys[i] != kNoKey) __builtin_prefetch(timeline_.offsets_address(keys[i]));
  for (size_t i = 0; i < n; ++i) {
    if (keys[i] == kNoKey) continue;
    begins[i] = static_cast<uint32_t>(timeline_.begin_of(keys[i]));
    ends[i] = static_cast<uint32_t>(timeline_.end_of(keys[i]));
    // The key's positions: prefetch the first cache lines the binary search will read.
    for (uint32_t p = begins[i]; p < ends[i] && p < begins[i] + 8; p += 2) __builtin_prefetch(&positions_[p]);
  }
  for (size_t i = 0; i < n; ++i)
    placed[i] = keys[i] == kNoKey ? kNoPosition : offer_at(begins[i], ends[i], versions[i]);
}

void ViewMatcher::offer_batch(const KeyDictionary& dict, const int64_t* keys, const Version* versions, size_t n,
                              uint32_t* placed) {
  uint32_t ids[kBatch];
  for (size_t i = 0; i < n; ++i) dict.prefetch(keys[i]);
  for (size_t i = 0; i < n; ++i) ids[i] = dict.find(keys[i]);
  offer_batch(ids, versions, n, placed);
}

std::vector<uint32_t> ViewMatcher::winners(size_t input_rows, const std::vector<int64_t>& lower_bounds) const {
  std::vector<uint32_t> result;
  assign_prefaulted(result, input_rows, kNoPosition);
  for (uint32_t key = 0; key < timeline_.key_count(); ++key) {
    uint32_t best = kNoPosition;
    for (size_t pos = timeline_.begin_of(key); pos < timeline_.end_of(key); ++pos) {
      const Version& candidate = positions_[pos].best;
      if (candidate.row_id != kNoRow && (best == kNoPosition || positions_[best].best < candidate))
        best = static_cast<uint32_t>(pos);
      size_t row = timeline_.row_at(pos);
      // The best row with event_ts <= t qualifies under a ttl iff it is recent enough: any older
      // row that qualified would be beaten by it.
      if (best != kNoPosition && (lower_bounds.empty() || positions_[best].best.event_ts >= lower_bounds[row]))
        result[row] = best;
    }
  }
  return result;
}

}  // namespace fstore::pit
