// Unit tests of the hand-written fast paths of the lookup (issue 18) against the library code they
// replace: RESP formatting against hiredis, timestamps against snprintf, the JSON number check
// against nlohmann's parser, and the serving-quality counters.
#include "online/answer_counters.hpp"
#include "online/json_text.hpp"
#include "redis/redis_pipeline.hpp"
#include "time_rule.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <random>
#include <thread>

using namespace fstore::server;

TEST(HotPath, RespMatchesHiredis) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> args(1 + rng() % 12);
    for (auto& a : args) {
      a.resize(rng() % (round % 10 == 0 ? 300 : 20));
      for (auto& c : a) c = static_cast<char>(rng() % 256);  // NUL, CR, LF, '%' included
    }
    std::vector<std::string_view> views(args.begin(), args.end());
    std::string ours = "prefix";
    append_command(ours, views);
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) { argv.push_back(a.data()); lens.push_back(a.size()); }
    char* cmd = nullptr;
    int len = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
    ASSERT_GT(len, 0);
    EXPECT_EQ(ours, "prefix" + std::string(cmd, static_cast<size_t>(len)));
    redisFreeCommand(cmd);
  }
}

// The snprintf form format_timestamp_us had before.
static std::string reference_timestamp(int64_t micros) {
  int64_t secs = micros / 1000000, frac = micros % 1000000;
  if (frac < 0) { frac += 1000000; --secs; }
  int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) { rem += 86400; --days; }
  int64_t y;
  unsigned m, d;
  fstore::civil_from_days(days, y, m, d);
  char buf[96];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d", static_cast<long long>(y), m, d,
                        static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (frac) { std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(frac)); out += buf; }
  return out + "Z";
}

TEST(HotPath, TimestampsMatchSnprintf) {
  std::mt19937_64 rng(11);
  std::vector<int64_t> cases = {0, -1, 1, 999999, 1000000, 253402300799999999LL, 253402300800000000LL,
                                -62135596800000000LL, -62135596800000001LL, -62167219200000000LL - 1};
  for (int i = 0; i < 20000; ++i) {
    int64_t range = i % 3 == 0 ? 4'000'000'000'000'000LL : 400'000'000'000'000'000LL;
    cases.push_back(static_cast<int64_t>(rng() % static_cast<uint64_t>(range)) - range / 2);
    if (i % 2) cases.back() -= cases.back() % 1000000;  // whole seconds too
  }
  for (int64_t c : cases) ASSERT_EQ(format_timestamp_us(c), reference_timestamp(c)) << c;
}

TEST(HotPath, NumbersSplicedExactlyWhenJsonSaysSo) {
  const char* cases[] = {"0", "-0", "1", "-1", "10", "01", "-01", "1.", ".5", "1.5", "1.50", "1e5", "1E+5", "1e-05",
                         "1e", "1e+", "-", "+1", "1.2.3", "0x10", "1_000", "Infinity", "NaN", "12345678901234567890123",
                         "-1.25e-300", "1e99999", "--1", "1-", "", "0.0e0", " 1", "1 "};
  for (const char* c : cases) {
    std::string out;
    append_json_fragment(out, c);
    // nlohmann refuses numbers beyond a double (strtod overflows); RFC 8259 does not, and
    // PostgreSQL's numeric has more range than a double: those are spliced as numbers too.
    bool valid = nlohmann::json::accept(c) || std::string(c) == "1e99999";
    if (valid) EXPECT_EQ(out, c) << c;
    else EXPECT_EQ(out, nlohmann::json(std::string(c)).dump()) << c;
  }
}

TEST(HotPath, AnswerCountersSumTheirThreads) {
  std::vector<nlohmann::json> entities = {{{"name", "e"}, {"join_key", "id"}, {"key_type", "bigint"}}};
  std::vector<nlohmann::json> views = {{{"name", "v"}, {"entity", "e"}, {"join_key", "id"}, {"key_type", "bigint"},
                                        {"ttl_seconds", nullptr}, {"online", true}},
                                       {{"name", "off"}, {"entity", "e"}, {"join_key", "id"}, {"key_type", "bigint"},
                                        {"ttl_seconds", nullptr}, {"online", false}}};
  std::vector<nlohmann::json> features = {
      {{"view", "v"}, {"name", "a"}, {"type", "bigint"}, {"status", "active"}, {"position", 1}},
      {{"view", "v"}, {"name", "b"}, {"type", "bigint"}, {"status", "active"}, {"position", 2}},
      {{"view", "off"}, {"name", "x"}, {"type", "bigint"}, {"status", "active"}, {"position", 1}}};
  auto reg = Registry::from_rows(entities, views, features, {});
  AnswerCounters counters;
  counters.index(*reg);
  const Feature* a = reg->view("v")->find("a");
  const Feature* b = reg->view("v")->find("b");
  EXPECT_EQ(reg->view("off")->find("x")->answer_slot, Feature::kNoSlot);  // offline: never served
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t)  // more threads than shards
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counters.add(a->answer_slot, AnswerStatus::present);
        counters.add(b->answer_slot, AnswerStatus::outside_max_age, 2);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(counters.get(a->answer_slot, AnswerStatus::present), 120000u);
  EXPECT_EQ(counters.get(b->answer_slot, AnswerStatus::outside_max_age), 240000u);
  EXPECT_EQ(counters.get(a->answer_slot, AnswerStatus::not_found), 0u);
  // A new snapshot keeps the slots, so the counts go on.
  auto again = Registry::from_rows(entities, views, features, {});
  counters.index(*again);
  EXPECT_EQ(again->view("v")->find("a")->answer_slot, a->answer_slot);
  std::string text = counters.render();
  EXPECT_NE(text.find("fstore_online_answers_total{view=\"v\",feature=\"a\",status=\"PRESENT\"} 120000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("fstore_online_answers_total{view=\"v\",feature=\"b\",status=\"NULL_VALUE\"} 0\n"), std::string::npos);
  EXPECT_EQ(text.find("view=\"off\""), std::string::npos);
}
