// Unit tests for the code shared by the extension and the server: names, versions and the
// point-in-time matcher (checked against a brute-force rule on random data).
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "names.hpp"
#include "pit_join.hpp"
#include "prefault.hpp"
#include "semver.hpp"
#include "time_rule.hpp"

namespace {

TEST(Names, AcceptsIdentifiersOnly) {
  EXPECT_TRUE(fstore::is_valid_name("driver_stats"));
  EXPECT_TRUE(fstore::is_valid_name("_x1"));
  EXPECT_TRUE(fstore::is_valid_name(std::string(63, 'a')));
  EXPECT_FALSE(fstore::is_valid_name(std::string(64, 'a')));
  EXPECT_FALSE(fstore::is_valid_name(""));
  EXPECT_FALSE(fstore::is_valid_name("1abc"));
  EXPECT_FALSE(fstore::is_valid_name("a-b"));
  EXPECT_FALSE(fstore::is_valid_name("x\"; DROP TABLE y; --"));
  EXPECT_FALSE(fstore::is_valid_name("a:b"));
  EXPECT_FALSE(fstore::is_valid_name("caf\xc3\xa9"));
}

TEST(Names, ParsesFeatureReferences) {
  auto ref = fstore::parse_feature_ref("driver_stats:conv_rate");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->view, "driver_stats");
  EXPECT_EQ(ref->feature, "conv_rate");
  EXPECT_EQ(fstore::parse_feature_ref("v:*")->feature, "*");
  EXPECT_FALSE(fstore::parse_feature_ref("no_colon"));
  EXPECT_FALSE(fstore::parse_feature_ref(":f"));
  EXPECT_FALSE(fstore::parse_feature_ref("v:"));
  EXPECT_FALSE(fstore::parse_feature_ref("v:a:b"));
  EXPECT_FALSE(fstore::parse_feature_ref("v w:f"));
}

TEST(SemVer, ParsesAndBumps) {
  auto v = fstore::parse_semver("1.4.2");
  ASSERT_TRUE(v);
  EXPECT_EQ(fstore::bump(*v, fstore::VersionBump::Patch).str(), "1.4.3");
  EXPECT_EQ(fstore::bump(*v, fstore::VersionBump::Minor).str(), "1.5.0");
  EXPECT_EQ(fstore::bump(*v, fstore::VersionBump::Major).str(), "2.0.0");
  EXPECT_FALSE(fstore::parse_semver("1.4"));
  EXPECT_FALSE(fstore::parse_semver("1.4.2.1"));
  EXPECT_FALSE(fstore::parse_semver("a.b.c"));
  EXPECT_FALSE(fstore::parse_semver("-1.0.0"));
  EXPECT_FALSE(fstore::parse_semver(""));
}

// One dictionary holds the keys of one entity: integers or strings, never both.
// prefault() only makes memory resident: contents stay as they were, at any alignment and size.
TEST(Prefault, KeepsContentsAndGrowsVectors) {
  std::vector<uint64_t> v(3u << 20);
  for (size_t i = 0; i < v.size(); ++i) v[i] = i * 7 + 1;
  fstore::prefault(reinterpret_cast<char*>(v.data()) + 3, v.size() * sizeof(uint64_t) - 5);
  fstore::prefault(v.data(), 100);  // below the threshold: nothing happens
  fstore::prefault(nullptr, 1u << 30);
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], i * 7 + 1) << i;
  std::vector<uint32_t> grown;
  for (uint32_t i = 0; i < (3u << 20); ++i) fstore::push_back_prefaulted(grown, i ^ 0x5a5a5a5au);
  ASSERT_EQ(grown.size(), 3u << 20);
  for (uint32_t i = 0; i < grown.size(); ++i) ASSERT_EQ(grown[i], i ^ 0x5a5a5a5au) << i;
  std::vector<int64_t> reserved;
  fstore::reserve_prefaulted(reserved, 1u << 20);
  EXPECT_GE(reserved.capacity(), 1u << 20);
  EXPECT_TRUE(reserved.empty());
}

TEST(KeyDictionary, InternsIntegers) {
  fstore::pit::KeyDictionary dict;
  EXPECT_EQ(dict.intern(int64_t{42}), 0u);
  EXPECT_EQ(dict.intern(int64_t{-7}), 1u);
  EXPECT_EQ(dict.intern(int64_t{42}), 0u);
  // Far past the initial table size: ids stay stable across growth.
  for (int64_t i = 0; i < 100000; ++i) dict.intern(i * 7919);
  EXPECT_EQ(dict.find(int64_t{42}), 0u);
  EXPECT_EQ(dict.find(int64_t{-7}), 1u);
  EXPECT_EQ(dict.find(int64_t{7919 * 99999}), dict.size() - 1);
  EXPECT_EQ(dict.find(int64_t{8}), fstore::pit::kNoKey);
}

// freeze() changes how integer keys are found, never what is found: dense ranges (with gaps,
// negative and extreme values at the edges), sparse keys (no table), and intern() afterwards.
TEST(KeyDictionary, FrozenLookupsAnswerAsBefore) {
  std::mt19937_64 rng(17);
  for (int64_t base : {int64_t{0}, int64_t{-50000}, std::numeric_limits<int64_t>::max() - 200000,
                       std::numeric_limits<int64_t>::min()}) {
    fstore::pit::KeyDictionary dict;
    std::vector<int64_t> keys;
    for (int i = 0; i < 60000; ++i) keys.push_back(base + static_cast<int64_t>(rng() % 100000));
    for (int64_t k : keys) dict.intern(k);
    std::vector<int64_t> probes = keys;
    for (int i = 0; i < 20000; ++i)  // around the range, wrapping at the ends of int64
      probes.push_back(static_cast<int64_t>(static_cast<uint64_t>(base) + rng() % 300000 - 100000));
    probes.push_back(std::numeric_limits<int64_t>::min());
    probes.push_back(std::numeric_limits<int64_t>::max());
    std::vector<uint32_t> before;
    for (int64_t k : probes) before.push_back(dict.find(k));
    dict.freeze();
    for (size_t i = 0; i < probes.size(); ++i) ASSERT_EQ(dict.find(probes[i]), before[i]) << base << " " << probes[i];
    int64_t fresh = base == std::numeric_limits<int64_t>::min() ? base + 500000 : base - 1;
    uint32_t id = dict.intern(fresh);
    EXPECT_EQ(id, dict.size() - 1);
    EXPECT_EQ(dict.find(fresh), id);
    EXPECT_EQ(dict.find(keys[0]), before[0]);
  }
  fstore::pit::KeyDictionary sparse;
  for (int64_t i = 0; i < 1000; ++i) sparse.intern(i * 1000003);
  sparse.freeze();
  EXPECT_EQ(sparse.find(int64_t{999 * 1000003}), 999u);
  EXPECT_EQ(sparse.find(int64_t{5}), fstore::pit::kNoKey);
}

TEST(KeyDictionary, InternsStrings) {
  fstore::pit::KeyDictionary dict;
  EXPECT_EQ(dict.intern(std::string_view("a")), 0u);
  // Many short strings: the stored keys must survive growth of the dictionary.
  for (int i = 0; i < 5000; ++i) dict.intern(std::string_view(std::to_string(i)));
  EXPECT_EQ(dict.find(std::string_view("a")), 0u);
  EXPECT_EQ(dict.find(std::string_view("4999")), dict.size() - 1);
  EXPECT_EQ(dict.find(std::string_view("5000")), fstore::pit::kNoKey);
  EXPECT_EQ(dict.find(std::string_view("")), fstore::pit::kNoKey);
}

struct FeatureRow {
  uint32_t key;
  int64_t event_ts, created_ts;
  uint64_t id;
};

// The rule written the obvious way: for each entity row, scan every feature row.
uint64_t brute_force(uint32_t key, int64_t t, const std::vector<FeatureRow>& rows, const int64_t* lower) {
  bool have = false;
  fstore::pit::Version best{};
  for (auto& r : rows) {
    if (r.key != key || r.event_ts > t || (lower && r.event_ts < *lower)) continue;
    fstore::pit::Version v{r.event_ts, r.created_ts, r.id};
    if (!have || best < v) best = v, have = true;
  }
  return have ? best.row_id : fstore::pit::kNoRow;
}

TEST(PointInTime, MatchesBruteForceOnRandomData) {
  std::mt19937_64 rng(20261122);
  for (int round = 0; round < 200; ++round) {
    uint32_t keys = 1 + rng() % 20;
    size_t entity_rows = rng() % 200;
    std::vector<uint32_t> key_ids;
    std::vector<int64_t> times, lower;
    bool with_ttl = rng() % 2;
    int64_t ttl = 1 + rng() % 20;
    for (size_t i = 0; i < entity_rows; ++i) {
      // kNoKey stands for NULL or unknown keys; small time ranges force ties.
      key_ids.push_back(rng() % 10 == 0 ? fstore::pit::kNoKey : static_cast<uint32_t>(rng() % keys));
      times.push_back(static_cast<int64_t>(rng() % 50));
      lower.push_back(times.back() - ttl);
    }
    std::vector<FeatureRow> rows;
    size_t history = rng() % 400;
    for (size_t i = 0; i < history; ++i)
      rows.push_back({static_cast<uint32_t>(rng() % (keys + 2)), static_cast<int64_t>(rng() % 50),
                      static_cast<int64_t>(rng() % 3), i});
    fstore::pit::EntityTimeline timeline(key_ids, times, keys);
    fstore::pit::ViewMatcher matcher(timeline);
    // Half the rounds offer one by one, half in batches.
    if (round % 2) {
      for (auto& r : rows) matcher.offer(r.key < keys ? r.key : fstore::pit::kNoKey, {r.event_ts, r.created_ts, r.id});
    } else {
      uint32_t ids[fstore::pit::kBatch], placed[fstore::pit::kBatch];
      fstore::pit::Version versions[fstore::pit::kBatch];
      for (size_t start = 0; start < rows.size(); start += fstore::pit::kBatch) {
        size_t n = std::min(fstore::pit::kBatch, rows.size() - start);
        for (size_t i = 0; i < n; ++i) {
          const auto& r = rows[start + i];
          ids[i] = r.key < keys ? r.key : fstore::pit::kNoKey;
          versions[i] = {r.event_ts, r.created_ts, r.id};
        }
        matcher.offer_batch(ids, versions, n, placed);
      }
    }
    auto positions = matcher.winners(entity_rows, with_ttl ? lower : std::vector<int64_t>{});
    for (size_t i = 0; i < entity_rows; ++i) {
      uint64_t got = positions[i] == fstore::pit::kNoPosition ? fstore::pit::kNoRow : matcher.row_id_at(positions[i]);
      uint64_t want = key_ids[i] == fstore::pit::kNoKey
                          ? fstore::pit::kNoRow
                          : brute_force(key_ids[i], times[i], rows, with_ttl ? &lower[i] : nullptr);
      ASSERT_EQ(got, want) << "round " << round << " row " << i;
    }
  }
}

// Infinite event and entity times and NULL created times (fstore::kNullCreated) follow the same
// rule as finite ones: an entity row at infinity sees the newest row (an infinity row included),
// a -infinity row is older than all others, a NULL created time loses every tie, and ttl bounds
// from fstore::add_interval_utc never overflow.
TEST(PointInTime, InfiniteTimesAndNullCreated) {
  using fstore::kMinusInfinity;
  using fstore::kPlusInfinity;
  std::mt19937_64 rng(7);
  const int64_t times_pool[] = {kMinusInfinity, kMinusInfinity + 1, -5, 0, 3, 7, kPlusInfinity - 1, kPlusInfinity};
  const int64_t created_pool[] = {fstore::kNullCreated, -1000, 0, 1, 2};
  for (int round = 0; round < 200; ++round) {
    uint32_t keys = 1 + rng() % 4;
    std::vector<uint32_t> key_ids;
    std::vector<int64_t> times, lower;
    fstore::Interval ttl{0, static_cast<int32_t>(rng() % 2), static_cast<int64_t>(rng() % 10)};
    for (size_t i = 0; i < 40; ++i) {
      key_ids.push_back(static_cast<uint32_t>(rng() % keys));
      times.push_back(times_pool[rng() % 8]);
      lower.push_back(fstore::add_interval_utc(times.back(), ttl, -1));
    }
    std::vector<FeatureRow> rows;
    for (size_t i = 0; i < 60; ++i)
      rows.push_back({static_cast<uint32_t>(rng() % keys), times_pool[rng() % 8], created_pool[rng() % 5], i});
    fstore::pit::EntityTimeline timeline(key_ids, times, keys);
    fstore::pit::ViewMatcher matcher(timeline);
    for (auto& r : rows) matcher.offer(r.key, {r.event_ts, r.created_ts, r.id});
    bool with_ttl = round % 2;
    auto positions = matcher.winners(key_ids.size(), with_ttl ? lower : std::vector<int64_t>{});
    for (size_t i = 0; i < key_ids.size(); ++i) {
      uint64_t got = positions[i] == fstore::pit::kNoPosition ? fstore::pit::kNoRow : matcher.row_id_at(positions[i]);
      ASSERT_EQ(got, brute_force(key_ids[i], times[i], rows, with_ttl ? &lower[i] : nullptr))
          << "round " << round << " row " << i;
    }
  }
  // Spelled out: rows of one key at -infinity, 5 (twice, one with a NULL created time) and infinity.
  std::vector<FeatureRow> rows = {{0, kMinusInfinity, 1, 0}, {0, 5, 9, 1}, {0, 5, fstore::kNullCreated, 2},
                                  {0, kPlusInfinity, 1, 3}};
  std::vector<int64_t> times = {kMinusInfinity, 4, 5, kPlusInfinity};
  fstore::pit::EntityTimeline timeline({0, 0, 0, 0}, times, 1);
  fstore::pit::ViewMatcher matcher(timeline);
  for (auto& r : rows) matcher.offer(r.key, {r.event_ts, r.created_ts, r.id});
  auto positions = matcher.winners(4, {});
  std::vector<uint64_t> want = {0, 0, 1, 3};
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(matcher.row_id_at(positions[i]), want[i]) << i;
}

}  // namespace
