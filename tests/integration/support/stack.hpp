// Real services for integration tests: a PostgreSQL cluster, a Redis server and fstore-server
// processes, each on a free loopback port in a temporary directory, stopped when the object dies.
// Built on tests/harness/stack.sh so the shell harness and the C++ tests start services one way.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <string>
#include <vector>

namespace fstore::testing {

// Runs a shell command; throws std::runtime_error with its output when it fails.
std::string run_command(const std::string& command);

// The repository root (FSTORE_SOURCE_DIR, set by tests/run_all.sh) and the build dir (FSTORE_BUILD_DIR).
std::string source_dir();
std::string build_dir();

// A private temporary directory, removed (recursively) by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
 private:
  std::string path_;
};

// A PostgreSQL 15 cluster of its own, with the fstore extension installed in database `dbname`.
class PgCluster {
 public:
  explicit PgCluster(const std::string& dbname = "fstore_test");
  ~PgCluster();
  int port() const { return port_; }
  const std::string& dbname() const { return dbname_; }
  std::string url() const;                       // postgresql://postgres@127.0.0.1:PORT/DB
  std::string url_for(const std::string& user) const;
  pqxx::connection connect() const;              // a new superuser connection to dbname
  void exec(const std::string& sql) const;       // runs SQL in its own transaction
  std::string query_value(const std::string& sql) const;  // first column of first row, "" when NULL
  void restart();                                // fast shutdown and start, same port and data
  // SSL on with the certificates of `certs` (TestCerts), TCP without SSL refused (stack.sh pg-ssl).
  void enable_ssl(const std::string& certs_dir);
  void stop(const std::string& mode = "fast");
  void start();
 private:
  TempDir dir_;
  int port_;
  std::string dbname_;
};

// A test CA and certificates made by stack.sh tls-certs: ca.pem, server.pem/.key (127.0.0.1,
// localhost), client.pem/.key, other-ca.pem (a CA that signed nothing here).
class TestCerts {
 public:
  TestCerts();
  const std::string& dir() const { return dir_.path(); }
  std::string file(const std::string& name) const { return dir_.path() + "/" + name; }
 private:
  TempDir dir_;
};

// A redis-server without persistence (unless persist = true); with `tls_certs` (a TestCerts
// directory) it speaks TLS only (tls-port).
class RedisServer {
 public:
  explicit RedisServer(bool persist = false, std::string tls_certs = "");
  ~RedisServer();
  int port() const { return port_; }
  std::string url() const;                       // redis://127.0.0.1:PORT, or rediss://...?cacert=CA
  std::string cli(const std::string& args) const;  // output of redis-cli against it
  void stop();
  void start();
  void restart() { stop(); start(); }
 private:
  TempDir dir_;
  int port_;
  bool persist_;
  std::string tls_certs_;
};

// One fstore-server process (build_dir()/fstore-server), started with the given arguments.
class ServerProcess {
 public:
  ServerProcess(std::vector<std::string> args, int port);
  ~ServerProcess();
  int port() const { return port_; }
  int pid() const { return pid_; }
  bool wait_healthy(std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  void kill_hard();                              // SIGKILL, reaps the child
  int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(20));  // SIGTERM; exit status
  bool running();
  int wait_exit(std::chrono::milliseconds timeout);  // exit status once it exited by itself; -1: still running
  std::string log() const;                       // stdout+stderr so far
 private:
  TempDir dir_;
  std::vector<std::string> args_;
  int port_;
  int pid_ = -1;
};

// Standard arguments for a server against `pg` and `redis` listening on `port`.
std::vector<std::string> server_args(const PgCluster& pg, const RedisServer& redis, int port,
                                     bool no_auth = true);

int free_port();

}  // namespace fstore::testing
