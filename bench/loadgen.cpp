// Open-loop HTTP load generator: sends requests at a fixed rate whatever the server does, and
// measures each latency from the moment the request was *scheduled* (so a slow server cannot hide
// its queueing: no coordinated omission, unlike closed-loop tools such as wrk). Prints p50, p90,
// p99, p99.9 and max in milliseconds.
//
//   loadgen --port 8080 [--host 127.0.0.1] --rate 200 --seconds 20 [--connections 16]
//           [--method POST] [--path /get-online-features] [--body-file FILE] [--header 'K: V']...
//
// With --body-file, each line of FILE is one request body, used round robin.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 8080;
  double rate = 200;
  double seconds = 20;
  int connections = 16;
  std::string method = "GET";
  std::string path = "/health";
  std::vector<std::string> bodies;
  std::vector<std::string> headers;
};

// Connects a blocking TCP socket; -1 on failure.
int connect_to(const Options& o) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(o.port));
  inet_pton(AF_INET, o.host.c_str(), &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) { close(fd); return -1; }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Reads one response (Content-Length framed); returns the status or 0 on error.
int read_response(int fd, std::string& buf) {
  for (;;) {
    auto end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      int status = std::atoi(buf.c_str() + 9);
      size_t len = 0;
      auto cl = buf.find("Content-Length: ");
      if (cl == std::string::npos) cl = buf.find("content-length: ");
      if (cl != std::string::npos && cl < end) len = std::strtoul(buf.c_str() + cl + 16, nullptr, 10);
      if (buf.size() >= end + 4 + len) {
        buf.erase(0, end + 4 + len);
        return status;
      }
    }
    char tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return 0;
    buf.append(tmp, static_cast<size_t>(n));
  }
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(std::min<double>(v.size() - 1, p / 100.0 * v.size()));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", a.c_str()); std::exit(2); }
      return argv[++i];
    };
    if (a == "--host") o.host = next();
    else if (a == "--port") o.port = std::atoi(next().c_str());
    else if (a == "--rate") o.rate = std::atof(next().c_str());
    else if (a == "--seconds") o.seconds = std::atof(next().c_str());
    else if (a == "--connections") o.connections = std::atoi(next().c_str());
    else if (a == "--method") o.method = next();
    else if (a == "--path") o.path = next();
    else if (a == "--header") o.headers.push_back(next());
    else if (a == "--body-file") {
      std::ifstream in(next());
      for (std::string line; std::getline(in, line);) if (!line.empty()) o.bodies.push_back(line);
    } else {
      std::fprintf(stderr, "usage: loadgen --port P --rate R --seconds S [--connections C] [--method M] [--path P] "
                           "[--body-file F] [--header 'K: V']\n");
      return 2;
    }
  }
  if (o.rate <= 0 || o.seconds <= 0 || o.connections <= 0) return 2;
  const size_t total = static_cast<size_t>(o.rate * o.seconds);
  const auto interval = std::chrono::duration<double>(1.0 / o.rate);
  std::vector<std::string> requests;
  size_t variants = std::max<size_t>(1, o.bodies.size());
  for (size_t b = 0; b < variants; ++b) {
    std::string r = o.method + " " + o.path + " HTTP/1.1\r\nHost: " + o.host + "\r\n";
    for (auto& h : o.headers) r += h + "\r\n";
    if (!o.bodies.empty())
      r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(o.bodies[b].size()) + "\r\n\r\n" + o.bodies[b];
    else
      r += "\r\n";
    requests.push_back(std::move(r));
  }
  std::vector<double> latencies;
  std::mutex mutex;
  std::atomic<size_t> errors{0};
  auto start = Clock::now() + std::chrono::milliseconds(200);
  std::vector<std::thread> threads;
  // Connection k sends requests k, k+C, k+2C, ... each at its scheduled time.
  for (int k = 0; k < o.connections; ++k) {
    threads.emplace_back([&, k] {
      int fd = connect_to(o);
      std::string buf;
      std::vector<double> mine;
      for (size_t i = static_cast<size_t>(k); i < total; i += static_cast<size_t>(o.connections)) {
        auto scheduled = start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(i));
        std::this_thread::sleep_until(scheduled);
        if (fd < 0) { fd = connect_to(o); buf.clear(); }
        const std::string& req = requests[i % requests.size()];
        int status = 0;
        if (fd >= 0 && send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()))
          status = read_response(fd, buf);
        if (status != 200) {
          ++errors;
          if (fd >= 0) close(fd);
          fd = -1;
          continue;
        }
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - scheduled).count());
      }
      if (fd >= 0) close(fd);
      std::lock_guard<std::mutex> lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  std::printf("requests=%zu ok=%zu errors=%zu rate=%.1f/s achieved=%.1f/s\n", total, latencies.size(), errors.load(),
              o.rate, latencies.size() / elapsed);
  std::printf("latency_ms p50=%.3f p90=%.3f p99=%.3f p99.9=%.3f max=%.3f\n", percentile(latencies, 50),
              percentile(latencies, 90), percentile(latencies, 99), percentile(latencies, 99.9),
              latencies.empty() ? 0.0 : latencies.back());
  return errors.load() == 0 ? 0 : 1;
}
