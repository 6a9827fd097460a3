// Synchronous Boost.Beast client for the few HTTP calls the command line makes.
#include "http_get.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace fstore_cli {

HttpAnswer http_get(const std::string& url, const std::string& token) {
  HttpAnswer a;
  const std::string prefix = "http://";
  if (url.rfind(prefix, 0) != 0) {
    a.body = "only http:// server URLs are supported";
    return a;
  }
  std::string rest = url.substr(prefix.size());
  std::string hostport = rest.substr(0, rest.find('/'));
  std::string target = rest.find('/') == std::string::npos ? "/" : rest.substr(rest.find('/'));
  std::string host = hostport.substr(0, hostport.rfind(':'));
  std::string port = hostport.rfind(':') == std::string::npos ? "80" : hostport.substr(hostport.rfind(':') + 1);
  try {
    boost::asio::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(resolver.resolve(host, port));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, hostport);
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res);
    a.status = static_cast<int>(res.result_int());
    a.body = res.body();
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  } catch (const std::exception& e) {
    a.body = e.what();
  }
  return a;
}

}  // namespace fstore_cli
