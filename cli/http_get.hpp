// One HTTP GET to fstore-server (status asks /ready); http:// only, loopback or any host the user names.
#pragma once
#include <string>

namespace fstore_cli {
struct HttpAnswer {
  int status = 0;
  std::string body;
};
// GET `url` with an optional bearer token; status 0 and the error in body when unreachable.
HttpAnswer http_get(const std::string& url, const std::string& token);
}  // namespace fstore_cli
