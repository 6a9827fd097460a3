#include "pit_join.hpp"

#include <algorithm>
#include <numeric>

namespace fstore::pit {

uint32_t KeyDictionary::intern(int64_t key) {
  auto [it, inserted] = ints_.try_emplace(key, count_);
  if (inserted) ++count_;
  return it->second;
}

uint32_t KeyDictionary::intern(std::string_view key) {
  auto it = strings_.find(key);
  if (it != strings_.end()) return it->second;
  owned_.emplace_back(key);
  strings_.emplace(std::string_view(owned_.back()), count_);
  return count_++;
}

uint32_t KeyDictionary::find(int64_t key) const {
  auto it = ints_.find(key);
  return it == ints_.end() ? kNoKey : it->second;
}

uint32_t KeyDictionary::find(std::string_view key) const {
  auto it = strings_.find(key);
  return it == strings_.end() ? kNoKey : it->second;
}

EntityTimeline::EntityTimeline(const std::vector<uint32_t>& key_ids, const std::vector<int64_t>& times,
                               uint32_t key_count)
    : offsets_(static_cast<size_t>(key_count) + 1, 0) {
  // Counting sort by key, then sort each key's rows by time (stable: equal times keep input order).
  for (uint32_t key : key_ids)
    if (key != kNoKey) ++offsets_[key + 1];
  std::partial_sum(offsets_.begin(), offsets_.end(), offsets_.begin());
  order_.resize(offsets_[key_count]);
  std::vector<size_t> fill(offsets_.begin(), offsets_.end() - 1);
  for (uint32_t row = 0; row < key_ids.size(); ++row)
    if (key_ids[row] != kNoKey) order_[fill[key_ids[row]]++] = row;
  for (uint32_t key = 0; key < key_count; ++key)
    std::stable_sort(order_.begin() + offsets_[key], order_.begin() + offsets_[key + 1],
                     [&](uint32_t a, uint32_t b) { return times[a] < times[b]; });
  sorted_times_.resize(order_.size());
  for (size_t pos = 0; pos < order_.size(); ++pos) sorted_times_[pos] = times[order_[pos]];
}

size_t EntityTimeline::first_at_or_after(uint32_t key, int64_t t) const {
  auto begin = sorted_times_.begin() + offsets_[key];
  auto end = sorted_times_.begin() + offsets_[key + 1];
  return static_cast<size_t>(std::lower_bound(begin, end, t) - sorted_times_.begin());
}

ViewMatcher::ViewMatcher(const EntityTimeline& timeline)
    : timeline_(timeline), candidates_(timeline.size()), present_(timeline.size(), false) {}

void ViewMatcher::offer(uint32_t key, const Version& version) {
  if (key == kNoKey || key >= timeline_.key_count()) return;
  size_t pos = timeline_.first_at_or_after(key, version.event_ts);
  if (pos == timeline_.end_of(key)) return;  // newer than every entity row of this key
  if (!present_[pos] || candidates_[pos] < version) {
    candidates_[pos] = version;
    present_[pos] = true;
  }
}

std::vector<uint64_t> ViewMatcher::winners(size_t input_rows, const std::vector<int64_t>& lower_bounds) const {
  std::vector<uint64_t> result(input_rows, kNoRow);
  for (uint32_t key = 0; key < timeline_.key_count(); ++key) {
    bool have = false;
    Version best{};
    for (size_t pos = timeline_.begin_of(key); pos < timeline_.end_of(key); ++pos) {
      if (present_[pos] && (!have || best < candidates_[pos])) {
        best = candidates_[pos];
        have = true;
      }
      size_t row = timeline_.row_at(pos);
      // The best row with event_ts <= t qualifies under a ttl iff it is recent enough: any older
      // row that qualified would be beaten by it.
      if (have && (lower_bounds.empty() || best.event_ts >= lower_bounds[row])) result[row] = best.row_id;
    }
  }
  return result;
}

}  // namespace fstore::pit
