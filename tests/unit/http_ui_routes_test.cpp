// Unit tests of the 0.2.0 UI side of the HTTP server, apart from any I/O: the new routes and
// their methods, how registry SQLSTATEs become statuses, and the UI's files served from memory
// with their security headers and no way out of their directory.
#include "http/registry_handlers.hpp"
#include "http/route_match.hpp"
#include "http/ui_files.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace fstore::server;

namespace {

std::string header(const HttpReply& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

}  // namespace

TEST(UiRoutes, MatchTheirPathsAndMethods) {
  struct Case { const char* method; const char* target; Route route; bool ok; std::vector<std::string> params; };
  const Case cases[] = {
      {"GET", "/lineage", Route::lineage, true, {}},
      {"GET", "/history?object_type=feature", Route::history, true, {}},
      {"POST", "/entities", Route::create_entity, true, {}},
      {"POST", "/feature-views", Route::create_feature_view, true, {}},
      {"POST", "/feature-views/v%201/features", Route::add_features, true, {"v 1"}},
      {"PUT", "/features/v/f/status", Route::set_feature_status, true, {"v", "f"}},
      {"POST", "/feature-services", Route::create_feature_service, true, {}},
      {"GET", "/ui", Route::ui, true, {""}},
      {"GET", "/ui/", Route::ui, true, {""}},
      {"GET", "/ui/app.js", Route::ui, true, {"app.js"}},
      {"GET", "/ui/a/b.css", Route::ui, true, {"a/b.css"}},
      {"GET", "/entities", Route::create_entity, false, {}},
      {"POST", "/features/v/f/status", Route::set_feature_status, false, {"v", "f"}},
      {"POST", "/ui/", Route::ui, false, {""}},
  };
  for (const auto& c : cases) {
    RouteMatch m = match_route(c.method, c.target);
    EXPECT_TRUE(m.found) << c.target;
    EXPECT_EQ(m.route, c.route) << c.target;
    EXPECT_EQ(m.method_ok, c.ok) << c.method << " " << c.target;
    EXPECT_EQ(m.params, c.params) << c.target;
  }
  EXPECT_TRUE(is_registry_change(Route::set_feature_status));
  EXPECT_FALSE(is_registry_change(Route::history));
  EXPECT_FALSE(is_registry_change(Route::ui));
}

TEST(UiRoutes, RegistryErrorsMapToStatuses) {
  EXPECT_EQ(map_registry_error("42501").status, 403u);
  EXPECT_EQ(map_registry_error("42704").status, 404u);
  EXPECT_EQ(map_registry_error("42710").status, 409u);
  EXPECT_EQ(map_registry_error("42P07").status, 409u);
  EXPECT_EQ(map_registry_error("23514").status, 422u);
  EXPECT_EQ(map_registry_error("22023").status, 400u);
  EXPECT_EQ(map_registry_error("42601").status, 400u);
  EXPECT_TRUE(map_registry_error("40P01").retry);
  EXPECT_EQ(map_registry_error("08006").status, 503u);
  EXPECT_EQ(map_registry_error("XX000").status, 500u);
}

TEST(UiFilesTest, ServesItsFilesWithSecurityHeadersAndNothingElse) {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/fstore-ui-unit-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  fs::path dir(tmpl);
  fs::create_directories(dir / "ui" / "assets");
  std::ofstream(dir / "ui" / "index.html") << "<!doctype html>";
  std::ofstream(dir / "ui" / "assets" / "app.js") << "1;";
  std::ofstream(dir / "secret.txt") << "not served";
  UiFiles files((dir / "ui").string());
  HttpReply index = files.reply("");
  EXPECT_EQ(index.status, 200u);
  EXPECT_EQ(index.body, "<!doctype html>");
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_NE(header(index, "Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(header(index, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(files.reply("assets/app.js").content_type, "text/javascript; charset=utf-8");
  for (const char* path : {"../secret.txt", "/etc/passwd", "assets", "assets/../index.html", "missing"}) {
    HttpReply r = files.reply(path);
    EXPECT_EQ(r.status, 404u) << path;
    EXPECT_FALSE(header(r, "Content-Security-Policy").empty()) << path;
  }
  UiFiles none((dir / "nothing").string());
  EXPECT_TRUE(none.empty());
  EXPECT_NE(none.reply("").body.find("make build"), std::string::npos);
  fs::remove_all(dir);
}
