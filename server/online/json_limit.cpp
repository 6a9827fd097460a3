#include "online/json_limit.hpp"

namespace fstore::server {

namespace {

// Thrown from the parser callback to stop at the first level over the limit.
struct TooDeep {};

// A SAX consumer that keeps nothing but the current depth.
class DepthSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit DepthSax(int max_depth) : max_depth_(max_depth) {}
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return enter(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { --depth_; return true; }
  bool start_array(std::size_t) override { return enter(); }
  bool end_array() override { --depth_; return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
  bool too_deep() const { return too_deep_; }

 private:
  bool enter() {
    if (++depth_ > max_depth_) too_deep_ = true;
    return !too_deep_;
  }
  int max_depth_;
  int depth_ = 0;
  bool too_deep_ = false;
};

}  // namespace

JsonCheck parse_json_limited(std::string_view text, nlohmann::ordered_json& out, int max_depth) {
  using ojson = nlohmann::ordered_json;
  // depth is that of the container being opened, 0 for the outermost.
  ojson::parser_callback_t limit = [max_depth](int depth, ojson::parse_event_t event, ojson&) {
    if ((event == ojson::parse_event_t::object_start || event == ojson::parse_event_t::array_start) &&
        depth >= max_depth)
      throw TooDeep{};
    return true;
  };
  try {
    out = ojson::parse(text.begin(), text.end(), limit, /*allow_exceptions=*/false);
  } catch (const TooDeep&) {
    out = nullptr;
    return JsonCheck::too_deep;
  }
  return out.is_discarded() ? JsonCheck::invalid : JsonCheck::ok;
}

JsonCheck check_json(std::string_view text, int max_depth) {
  DepthSax sax(max_depth);
  bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &sax, nlohmann::json::input_format_t::json,
                                      /*strict=*/true);
  if (sax.too_deep()) return JsonCheck::too_deep;
  return ok ? JsonCheck::ok : JsonCheck::invalid;
}

const char* json_too_deep_message() {
  return "the request body nests arrays and objects deeper than 400 levels";
}

}  // namespace fstore::server
