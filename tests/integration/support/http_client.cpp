#include "support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace fstore::testing {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads what is available within the deadline; false on close/timeout/error.
bool read_some(int fd, std::string& into, std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
  if (left <= 0) return false;
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(left)) <= 0) return false;
  char buf[65536];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n <= 0) return false;
  into.append(buf, static_cast<size_t>(n));
  return true;
}

bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Parses head + body from `buf` if complete; returns consumed bytes (0 if incomplete).
size_t try_parse(const std::string& buf, HttpResponse& out, bool at_eof) {
  auto end = buf.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  HttpResponse r;
  std::string head = buf.substr(0, end);
  size_t line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  auto sp = status_line.find(' ');
  if (sp == std::string::npos) return 0;
  r.status = std::atoi(status_line.c_str() + sp + 1);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    std::string line = head.substr(pos, e - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = lower(line.substr(0, colon));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.header_list.emplace_back(name, value);
      auto& slot = r.headers[name];
      slot = slot.empty() ? value : slot + ", " + value;
    }
    pos = e + 2;
  }
  size_t body_start = end + 4;
  if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
    size_t len = std::stoul(it->second);
    if (buf.size() < body_start + len) return 0;
    r.body = buf.substr(body_start, len);
    out = std::move(r);
    return body_start + len;
  }
  if (!at_eof) return 0;
  r.body = buf.substr(body_start);
  out = std::move(r);
  return buf.size();
}

}  // namespace

std::string HttpResponse::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? "" : it->second;
}

int connect_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

HttpResponse read_response(int fd, std::string& pending, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  HttpResponse r;
  for (;;) {
    if (size_t used = try_parse(pending, r, false)) {
      pending.erase(0, used);
      return r;
    }
    if (!read_some(fd, pending, deadline)) {
      if (size_t used = try_parse(pending, r, true)) pending.erase(0, used);
      else pending.clear();
      return r;
    }
  }
}

HttpResponse parse_response(const std::string& raw) {
  HttpResponse r;
  try_parse(raw, r, true);
  return r;
}

std::string raw_exchange(int port, const std::string& bytes, std::chrono::milliseconds timeout, bool shutdown_write) {
  int fd = connect_loopback(port);
  if (fd < 0) throw std::runtime_error("cannot connect to port " + std::to_string(port));
  send_all(fd, bytes);
  if (shutdown_write) shutdown(fd, SHUT_WR);
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (read_some(fd, out, deadline)) {}
  close(fd);
  return out;
}

HttpClient::HttpClient(int port, std::chrono::milliseconds timeout) : port_(port), timeout_(timeout) {}

HttpClient::~HttpClient() {
  if (fd_ >= 0) close(fd_);
}

void HttpClient::ensure_connected() {
  if (fd_ >= 0) {
    // A closed connection polls readable with 0 bytes.
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 0) > 0) {
      char c;
      if (recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) { close(fd_); fd_ = -1; }
    }
  }
  if (fd_ < 0) {
    fd_ = connect_loopback(port_);
    pending_.clear();
    if (fd_ < 0) throw std::runtime_error("cannot connect to port " + std::to_string(port_));
  }
}

HttpResponse HttpClient::request(const std::string& method, const std::string& target, const std::string& body,
                                 const std::vector<std::pair<std::string, std::string>>& headers) {
  ensure_connected();
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req += k + ": " + v + "\r\n";
    if (lower(k) == "content-type") has_type = true;
  }
  if (!body.empty() || method == "POST") {
    if (!has_type) req += "Content-Type: application/json\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  if (!send_all(fd_, req)) {
    close(fd_);
    fd_ = -1;
    ensure_connected();
    send_all(fd_, req);
  }
  HttpResponse r = read_response(fd_, pending_, timeout_);
  if (r.status == 0 || lower(r.header("connection")) == "close") {
    close(fd_);
    fd_ = -1;
  }
  return r;
}

HttpResponse HttpClient::get(const std::string& target, const std::string& token) {
  std::vector<std::pair<std::string, std::string>> h;
  if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
  return request("GET", target, "", h);
}

HttpResponse HttpClient::post(const std::string& target, const std::string& body, const std::string& token) {
  std::vector<std::pair<std::string, std::string>> h;
  if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
  return request("POST", target, body, h);
}

}  // namespace fstore::testing
