#include "support/stack.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fstore::testing {

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

std::string harness() { return source_dir() + "/tests/harness/stack.sh"; }

}  // namespace

std::string run_command(const std::string& command) {
  std::string full = command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  std::string output;
  std::array<char, 4096> buffer{};
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  int status = pclose(pipe);
  if (status != 0) throw std::runtime_error("command failed: " + command + "\n" + output);
  return output;
}

std::string source_dir() { return env_or("FSTORE_SOURCE_DIR", "."); }
std::string build_dir() { return env_or("FSTORE_BUILD_DIR", source_dir() + "/build"); }

int free_port() {
  std::string out = run_command(harness() + " free-port");
  return std::stoi(out);
}

TempDir::TempDir() {
  std::string base = env_or("TMPDIR", "/tmp") + "/fstore-test-XXXXXX";
  std::vector<char> name(base.begin(), base.end());
  name.push_back('\0');
  if (!mkdtemp(name.data())) throw std::runtime_error("mkdtemp failed");
  path_ = name.data();
}

TempDir::~TempDir() {
  try { run_command("rm -rf '" + path_ + "'"); } catch (...) {}
}

PgCluster::PgCluster(const std::string& dbname) : port_(free_port()), dbname_(dbname) {
  // Another process may take the port between the check and the bind: try a few.
  for (int attempt = 1;; ++attempt) {
    try {
      start();
      break;
    } catch (const std::runtime_error&) {
      if (attempt == 3) throw;
      port_ = free_port();
      run_command("sed -i 's/^port = .*/port = " + std::to_string(port_) + "/' '" + dir_.path() + "/pg/data/postgresql.conf'");
    }
  }
  run_command("psql -X -q -h 127.0.0.1 -p " + std::to_string(port_) +
              " -U postgres -d postgres -c 'CREATE DATABASE \"" + dbname_ + "\"'");
  exec("CREATE EXTENSION fstore");
}

PgCluster::~PgCluster() { stop("immediate"); }

std::string PgCluster::url() const { return url_for("postgres"); }

std::string PgCluster::url_for(const std::string& user) const {
  return "postgresql://" + user + "@127.0.0.1:" + std::to_string(port_) + "/" + dbname_;
}

pqxx::connection PgCluster::connect() const { return pqxx::connection(url()); }

void PgCluster::exec(const std::string& sql) const {
  auto conn = connect();
  pqxx::work tx(conn);
  tx.exec(sql);
  tx.commit();
}

std::string PgCluster::query_value(const std::string& sql) const {
  auto conn = connect();
  pqxx::work tx(conn);
  auto result = tx.exec(sql);
  tx.commit();
  if (result.empty() || result[0][0].is_null()) return "";
  return result[0][0].c_str();
}

void PgCluster::start() {
  run_command(harness() + " pg-start '" + dir_.path() + "/pg' " + std::to_string(port_));
}

void PgCluster::stop(const std::string& mode) {
  try { run_command(harness() + " pg-stop '" + dir_.path() + "/pg' " + mode); } catch (...) {}
}

void PgCluster::restart() { stop("fast"); start(); }

void PgCluster::enable_ssl(const std::string& certs_dir) {
  run_command(harness() + " pg-ssl '" + dir_.path() + "/pg' '" + certs_dir + "'");
}

TestCerts::TestCerts() { run_command(harness() + " tls-certs '" + dir_.path() + "'"); }

RedisServer::RedisServer(bool persist, std::string tls_certs)
    : port_(free_port()), persist_(persist), tls_certs_(std::move(tls_certs)) {
  for (int attempt = 1;; ++attempt) {  // the port may be taken between the check and the bind
    try {
      start();
      return;
    } catch (const std::runtime_error&) {
      if (attempt == 3) throw;
      port_ = free_port();
    }
  }
}
RedisServer::~RedisServer() { stop(); }

std::string RedisServer::url() const {
  if (!tls_certs_.empty()) return "rediss://127.0.0.1:" + std::to_string(port_) + "?cacert=" + tls_certs_ + "/ca.pem";
  return "redis://127.0.0.1:" + std::to_string(port_);
}

std::string RedisServer::cli(const std::string& args) const {
  std::string tls = tls_certs_.empty() ? "" : "--tls --cacert '" + tls_certs_ + "/ca.pem' ";
  return run_command("redis-cli " + tls + "-h 127.0.0.1 -p " + std::to_string(port_) + " " + args);
}

void RedisServer::start() {
  if (!tls_certs_.empty()) {
    run_command(harness() + " redis-tls-start '" + dir_.path() + "/redis' " + std::to_string(port_) + " '" +
                tls_certs_ + "'");
    return;
  }
  run_command(harness() + " redis-start '" + dir_.path() + "/redis' " + std::to_string(port_) +
              (persist_ ? " persist" : ""));
}

void RedisServer::stop() {
  try { run_command(harness() + " redis-stop '" + dir_.path() + "/redis'"); } catch (...) {}
}

ServerProcess::ServerProcess(std::vector<std::string> args, int port)
    : args_(std::move(args)), port_(port) {
  std::string binary = build_dir() + "/fstore-server";
  std::string log_path = dir_.path() + "/server.log";
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (auto& a : args_) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) kill_hard();
}

bool ServerProcess::wait_healthy(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void ServerProcess::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int ServerProcess::terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill_hard();
  return -1;
}

int ServerProcess::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

bool ServerProcess::running() {
  if (pid_ <= 0) return false;
  if (waitpid(pid_, nullptr, WNOHANG) == pid_) { pid_ = -1; return false; }
  return true;
}

std::string ServerProcess::log() const {
  std::ifstream in(dir_.path() + "/server.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> server_args(const PgCluster& pg, const RedisServer& redis, int port,
                                     bool no_auth) {
  std::vector<std::string> args = {"--pg", pg.url(), "--redis", redis.url(),
                                   "--listen", "127.0.0.1:" + std::to_string(port)};
  if (no_auth) args.push_back("--no-auth");
  return args;
}

}  // namespace fstore::testing
