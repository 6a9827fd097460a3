// Freshness benchmark of the sync (issue 5): ingests at a steady rate into an online view and
// measures, per batch, the time from COMMIT to the value being served: over HTTP by fstore-server
// (GET /features/fresh/{key} answers 200) when HTTP_PORT is given, else to the value being in
// Redis. Prints p50, p99, p99.9, max. Not a test.
//   sync_freshness PG_URL REDIS_URL [rows_per_second=5000] [seconds=60] [batches_per_second=100] [HTTP_PORT]
#include "sync/redis_link.hpp"
#include "sync/sync_util.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace fstore::sync;
using Clock = std::chrono::steady_clock;
namespace http = boost::beast::http;

// A keep-alive HTTP/1.1 connection to fstore-server on 127.0.0.1 (--no-auth), for the probe.
class HttpProbe {
 public:
  explicit HttpProbe(int port) : socket_(io_) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  }
  // The status of GET target.
  int get(const std::string& target) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    http::write(socket_, req);
    http::response<http::string_body> res;
    http::read(socket_, buffer_, res);
    return res.result_int();
  }
 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

int main(int argc, char** argv) {
  if (argc < 3) { std::fprintf(stderr, "usage: %s PG_URL REDIS_URL [rows/s] [seconds] [batches/s]\n", argv[0]); return 2; }
  std::string pg_url = argv[1], redis_url = argv[2];
  int rate = argc > 3 ? std::stoi(argv[3]) : 5000;
  int seconds = argc > 4 ? std::stoi(argv[4]) : 60;
  int bps = argc > 5 ? std::stoi(argv[5]) : 100;
  int per_batch = std::max(1, rate / bps);
  int http_port = argc > 6 ? std::stoi(argv[6]) : 0;

  std::mutex mu;
  std::deque<std::pair<Clock::time_point, std::string>> probes;  // commit time, entity key of the batch's last row
  std::atomic<bool> done{false};
  std::vector<double> lat_ms;

  std::thread checker([&] {
    RedisLink link(redis_link_endpoint(redis_url));
    std::unique_ptr<HttpProbe> probe = http_port ? std::make_unique<HttpProbe>(http_port) : nullptr;
    // True once the entity is served: 200 over HTTP, or its hash present in Redis.
    auto served = [&](const std::string& key) {
      if (probe) return probe->get("/features/fresh/" + key) == 200;
      auto r = link.command({"HGET", entity_redis_key("fresh", key), "seq"});
      return r->type == REDIS_REPLY_STRING;
    };
    while (true) {
      std::pair<Clock::time_point, std::string> p;
      {
        std::lock_guard<std::mutex> g(mu);
        if (probes.empty()) {
          if (done) break;
        } else { p = probes.front(); probes.pop_front(); }
      }
      if (p.second.empty()) { std::this_thread::sleep_for(std::chrono::microseconds(200)); continue; }
      while (!served(p.second)) std::this_thread::sleep_for(std::chrono::microseconds(200));
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
      last_key = std::to_string(key);
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
  std::printf("measured to: %s\n", http_port ? "served over HTTP (GET /features/fresh/{key} = 200)" : "in Redis");
  std::printf("rows=%lld seconds=%.1f rate=%.0f rows/s batches=%zu\n", static_cast<long long>(seq), elapsed, seq / elapsed,
              lat_ms.size());
  std::printf("freshness_ms p50=%.1f p99=%.1f p999=%.1f max=%.1f\n", pct(0.5), pct(0.99), pct(0.999),
              lat_ms.empty() ? 0.0 : lat_ms.back());
  return 0;
}
