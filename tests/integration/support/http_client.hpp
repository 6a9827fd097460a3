// A small blocking HTTP/1.1 client for the integration tests: well-formed requests over a
// keep-alive connection, and raw bytes for malformed-request tests. Loopback only.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace fstore::testing {

struct HttpResponse {
  int status = 0;                              // 0: no response (connection closed or timeout)
  std::map<std::string, std::string> headers;  // lower-case names; repeated headers joined by ", "
  std::vector<std::pair<std::string, std::string>> header_list;
  std::string body;
  std::string header(const std::string& name) const;
};

// One connection to 127.0.0.1:port; reconnects when the server closed it.
class HttpClient {
 public:
  explicit HttpClient(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse request(const std::string& method, const std::string& target, const std::string& body = "",
                       const std::vector<std::pair<std::string, std::string>>& headers = {});
  HttpResponse get(const std::string& target, const std::string& token = "");
  HttpResponse post(const std::string& target, const std::string& body, const std::string& token = "");

 private:
  void ensure_connected();
  int port_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string pending_;  // bytes read past the last response
};

// Connects to 127.0.0.1:port; returns the socket (-1 on failure).
int connect_loopback(int port);

// Sends `bytes` on a new connection, then reads until the server closes or `timeout` passes.
// Returns everything received.
std::string raw_exchange(int port, const std::string& bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5), bool shutdown_write = false);

// Parses the first response in `raw` (status 0 when none).
HttpResponse parse_response(const std::string& raw);

// Reads one response from socket `fd` (buffering extra bytes in `pending`).
HttpResponse read_response(int fd, std::string& pending, std::chrono::milliseconds timeout);

}  // namespace fstore::testing
