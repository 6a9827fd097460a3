#include "http/ui_files.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fstore::server {

namespace fs = std::filesystem;

namespace {

// The Content-Type of a built file, by its extension; unknown kinds are served as bytes.
std::string content_type_for(const std::string& path) {
  static const std::map<std::string, std::string> types = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".json", "application/json"},
      {".svg", "image/svg+xml"},             {".png", "image/png"},
      {".ico", "image/x-icon"},              {".map", "application/json"},
      {".txt", "text/plain; charset=utf-8"}, {".woff2", "font/woff2"}};
  auto it = types.find(fs::path(path).extension().string());
  return it == types.end() ? "application/octet-stream" : it->second;
}

}  // namespace

void add_ui_security_headers(HttpReply& r) {
  // No inline script or style, nothing from elsewhere, no plugins, no framing, no <base> tricks.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                         "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                         "frame-ancestors 'none'; object-src 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
}

UiFiles::UiFiles(const std::string& dir) : dir_(dir) {
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec)) return;
  size_t total = 0;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::none, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;  // symlinks to directories are not followed
    std::string rel = fs::relative(it->path(), dir).generic_string();
    std::ifstream in(it->path(), std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    if (!in && !in.eof()) throw std::runtime_error("cannot read " + it->path().string());
    total += body.str().size();
    if (files_.size() >= kMaxFiles || total > kMaxBytes)
      throw std::runtime_error("the UI directory " + dir + " holds more than the server serves (" +
                               std::to_string(kMaxFiles) + " files, " + std::to_string(kMaxBytes >> 20) + " MiB)");
    files_[rel] = File{body.str(), content_type_for(rel)};
  }
  if (ec) throw std::runtime_error("cannot list " + dir + ": " + ec.message());
}

HttpReply UiFiles::reply(const std::string& path) const {
  HttpReply r;
  r.route = Route::ui;
  auto it = files_.find(path.empty() ? "index.html" : path);
  if (it == files_.end()) {
    r = error_reply(404, "not_found",
                    files_.empty() ? "the web UI is not built: run 'make build' (or start with --ui-dir DIR)"
                                   : "no such file in the web UI: " + path.substr(0, 200),
                    Route::ui);
  } else {
    r.body = it->second.body;
    r.content_type = it->second.content_type;
    // index.html names the bundles; the bundles are rebuilt in place: revalidate both.
    r.headers.emplace_back("Cache-Control", "no-cache");
  }
  add_ui_security_headers(r);
  return r;
}

std::string executable_dir() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : exe.parent_path().string();
}

}  // namespace fstore::server
