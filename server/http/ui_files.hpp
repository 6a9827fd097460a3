// The web UI's built files (ui/, bundled by `make build`), served at GET /ui/ from memory. They
// are read once at start from one directory, so a request can never name a file outside it: a
// path is only a key of the map. Every answer carries a strict Content-Security-Policy (scripts,
// styles and data only from this server, no inline script, no framing), nosniff and no referrer.
#pragma once

#include "http/app.hpp"

#include <map>
#include <string>

namespace fstore::server {

class UiFiles {
 public:
  // Reads every regular file under `dir` (at most kMaxFiles, kMaxBytes in all); a missing
  // directory leaves the set empty (GET /ui/ then says how to build it). Throws on a read error.
  explicit UiFiles(const std::string& dir);

  // The reply for a path below /ui/ ("" is index.html), with content type and security headers.
  HttpReply reply(const std::string& path) const;

  bool empty() const { return files_.empty(); }
  const std::string& dir() const { return dir_; }

  static constexpr size_t kMaxFiles = 1000;
  static constexpr size_t kMaxBytes = 64u << 20;

 private:
  struct File {
    std::string body;
    std::string content_type;
  };
  std::string dir_;
  std::map<std::string, File> files_;
};

// The headers every /ui/ answer carries (Content-Security-Policy and friends).
void add_ui_security_headers(HttpReply& reply);

// The directory of the running executable (from /proc/self/exe), for the default --ui-dir.
std::string executable_dir();

}  // namespace fstore::server
