// Freshness benchmark of the sync (issue 5): ingests at a steady rate into an online view and
// measures, per batch, the time from COMMIT to the value being in Redis (the online store the
// HTTP server reads). Prints p50, p99, max. Not a test.
//   sync_freshness PG_URL REDIS_URL [rows_per_second=5000] [seconds=60] [batches_per_second=100]
#include "sync/redis_link.hpp"
#include "sync/sync_util.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace fstore::sync;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc < 3) { std::fprintf(stderr, "usage: %s PG_URL REDIS_URL [rows/s] [seconds] [batches/s]\n", argv[0]); return 2; }
  std::string pg_url = argv[1], redis_url = argv[2];
  int rate = argc > 3 ? std::stoi(argv[3]) : 5000;
  int seconds = argc > 4 ? std::stoi(argv[4]) : 60;
  int bps = argc > 5 ? std::stoi(argv[5]) : 100;
  int per_batch = std::max(1, rate / bps);

  std::mutex mu;
  std::deque<std::pair<Clock::time_point, std::string>> probes;  // commit time, key of the batch's last row
  std::atomic<bool> done{false};
  std::vector<double> lat_ms;

  std::thread checker([&] {
    RedisLink link(parse_redis_url(redis_url));
    while (true) {
      std::pair<Clock::time_point, std::string> p;
      {
        std::lock_guard<std::mutex> g(mu);
        if (probes.empty()) {
          if (done) break;
        } else { p = probes.front(); probes.pop_front(); }
      }
      if (p.second.empty()) { std::this_thread::sleep_for(std::chrono::microseconds(200)); continue; }
      while (true) {
        auto r = link.command({"HGET", p.second, "seq"});
        if (r->type == REDIS_REPLY_STRING) break;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      lat_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - p.first).count());
    }
  });

  pqxx::connection conn(pg_url);
  int64_t seq = 0;
  auto start = Clock::now();
  auto next = start;
  int64_t batches = static_cast<int64_t>(seconds) * bps;
  for (int64_t b = 0; b < batches; ++b) {
    next += std::chrono::microseconds(1000000 / bps);
    std::string sql = "INSERT INTO fstore_data.fresh (driver_id, event_ts, seq, payload) VALUES ";
    std::string last_key;
    for (int i = 0; i < per_batch; ++i) {
      ++seq;
      int64_t key = seq;  // one new entity per row: the probe waits for its key to appear
      if (i) sql += ",";
      sql += "(" + std::to_string(key) + ", clock_timestamp(), " + std::to_string(seq) + ", 'p" + std::to_string(seq) + "')";
      last_key = entity_redis_key("fresh", std::to_string(key));
    }
    {
      pqxx::work tx(conn);
      tx.exec(sql);
      tx.commit();
    }
    auto committed = Clock::now();
    {
      std::lock_guard<std::mutex> g(mu);
      // Probe "key has this batch's seq": delete nothing; check by value below.
      probes.emplace_back(committed, last_key);
    }
    std::this_thread::sleep_until(next);
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  done = true;
  checker.join();
  std::sort(lat_ms.begin(), lat_ms.end());
  auto pct = [&](double q) { return lat_ms.empty() ? 0.0 : lat_ms[std::min(lat_ms.size() - 1, static_cast<size_t>(q * lat_ms.size()))]; };
  std::printf("rows=%lld seconds=%.1f rate=%.0f rows/s batches=%zu\n", static_cast<long long>(seq), elapsed, seq / elapsed,
              lat_ms.size());
  std::printf("freshness_ms p50=%.1f p99=%.1f p999=%.1f max=%.1f\n", pct(0.5), pct(0.99), pct(0.999),
              lat_ms.empty() ? 0.0 : lat_ms.back());
  return 0;
}
