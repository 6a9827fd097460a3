#include "online/online_query.hpp"

#include "online/json_limit.hpp"
#include "online/json_text.hpp"

#include "names.hpp"
#include "time_rule.hpp"

#include <array>
#include <cmath>
#include <limits>
#include <map>

namespace fstore::server {

using ojson = nlohmann::ordered_json;

bool integer_key_type(const std::string& t) {
  return t == "bigint" || t == "integer" || t == "smallint";
}

namespace {

// Range of an integer key type.
void int_range(const std::string& t, int64_t& lo, int64_t& hi) {
  if (t == "integer") { lo = std::numeric_limits<int32_t>::min(); hi = std::numeric_limits<int32_t>::max(); }
  else if (t == "smallint") { lo = std::numeric_limits<int16_t>::min(); hi = std::numeric_limits<int16_t>::max(); }
  else { lo = std::numeric_limits<int64_t>::min(); hi = std::numeric_limits<int64_t>::max(); }
}

// Canonical text of a uuid as PostgreSQL prints it; nullopt when not a uuid.
std::optional<std::string> canonical_uuid(std::string_view s) {
  if (s.size() >= 2 && s.front() == '{' && s.back() == '}') s = s.substr(1, s.size() - 2);
  std::string hex;
  for (char c : s) {
    if (c == '-') continue;
    if (!isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    hex.push_back(static_cast<char>(tolower(static_cast<unsigned char>(c))));
  }
  if (hex.size() != 32) return std::nullopt;
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

}  // namespace

std::optional<std::string> key_text_from_string(std::string_view value, const std::string& key_type,
                                                std::string& error) {
  if (integer_key_type(key_type)) {
    int64_t v, lo, hi;
    int_range(key_type, lo, hi);
    std::string_view trimmed = value;
    while (!trimmed.empty() && trimmed.front() == ' ') trimmed.remove_prefix(1);
    while (!trimmed.empty() && trimmed.back() == ' ') trimmed.remove_suffix(1);
    if (!parse_int64(trimmed, v) || v < lo || v > hi) {
      error = "entity key '" + std::string(value.substr(0, 100)) + "' is not a valid " + key_type;
      return std::nullopt;
    }
    return std::to_string(v);
  }
  if (key_type == "uuid") {
    auto u = canonical_uuid(value);
    if (!u) error = "entity key '" + std::string(value.substr(0, 100)) + "' is not a valid uuid";
    return u;
  }
  if (value.find('\0') != std::string_view::npos) {
    error = "entity key contains a NUL byte";
    return std::nullopt;
  }
  return std::string(value);
}

std::optional<std::string> key_text_from_json(const ojson& value, const std::string& key_type, std::string& error) {
  if (value.is_string()) return key_text_from_string(value.get_ref<const std::string&>(), key_type, error);
  if (value.is_number_integer() && key_type != "uuid") {
    std::string text = value.is_number_unsigned() ? std::to_string(value.get<uint64_t>()) : std::to_string(value.get<int64_t>());
    return key_text_from_string(text, key_type, error);
  }
  error = "entity key " + value.dump(-1, ' ', false, ojson::error_handler_t::replace).substr(0, 100) + " is not a valid " + key_type;
  if (value.is_number_float() && integer_key_type(key_type)) error += " (write integers without a fraction or exponent)";
  return std::nullopt;
}

std::string redis_key(const std::string& view, const std::string& key_text) {
  std::string k;
  k.reserve(11 + view.size() + key_text.size());
  k += "fstore:v1:";
  k += view;
  k += ':';
  k += key_text;
  return k;
}

std::optional<ApiError> resolve_features(const Registry& registry, const std::vector<std::string>& refs,
                                         bool full_feature_names, std::vector<ServedFeature>& out) {
  auto add = [&](const FeatureView& v, const Feature& f) {
    out.push_back(ServedFeature{&v, &f, full_feature_names ? v.name + "__" + f.name : f.name});
  };
  for (const auto& text : refs) {
    auto ref = fstore::parse_feature_ref(text);
    if (!ref)
      return ApiError{400, "bad_request", "feature reference '" + text.substr(0, 200) +
                                              "' is not view:feature or view:* (names match [A-Za-z_][A-Za-z0-9_]{0,62})"};
    const FeatureView* v = registry.view(ref->view);
    if (!v) return ApiError{404, "not_found", "feature view '" + ref->view + "' does not exist"};
    if (!v->online)
      return ApiError{404, "not_found", "feature view '" + ref->view + "' is not online (online => false)"};
    if (ref->feature == "*") {
      for (const auto& f : v->features)
        if (f.status == "active" || f.status == "deprecated") add(*v, f);
      continue;
    }
    const Feature* f = v->find(ref->feature);
    if (!f) return ApiError{404, "not_found", "feature '" + ref->view + ":" + ref->feature + "' does not exist"};
    if (f->status == "archived")
      return ApiError{404, "archived", "feature '" + ref->view + ":" + ref->feature + "' is archived and no longer served"};
    add(*v, *f);
  }
  std::map<std::string, const ServedFeature*> seen;
  for (const auto& s : out) {
    auto [it, fresh] = seen.emplace(s.column, &s);
    if (fresh) continue;
    std::string first = it->second->view->name + ":" + it->second->feature->name;
    std::string second = s.view->name + ":" + s.feature->name;
    std::string msg = first == second
        ? "feature '" + first + "' is asked for twice; ask for it once"
        : "features '" + first + "' and '" + second + "' both answer as '" + s.column +
              "'; set \"full_feature_names\": true to get <view>__<feature> names";
    return ApiError{400, "duplicate_feature", msg};
  }
  return std::nullopt;
}

std::vector<std::string> deprecation_warnings(const std::vector<ServedFeature>& features) {
  std::vector<std::string> w;
  for (const auto& s : features)
    if (s.feature->status == "deprecated") w.push_back("feature " + s.view->name + ":" + s.feature->name + " is deprecated");
  return w;
}

std::string hmget_command(const std::string& key, const std::vector<const Feature*>& features) {
  std::vector<std::string_view> args;
  args.reserve(3 + features.size());
  args.push_back("HMGET");
  args.push_back(key);
  args.push_back("@event_ts");
  for (const auto* f : features) args.push_back(f->name);
  std::string out;
  append_command(out, args);
  return out;
}


// Appends ,"warnings":[...] to a JSON object being written, when there are any.
static void append_warnings(std::string& out, const std::vector<std::string>& warnings) {
  if (warnings.empty()) return;
  out += ",\"warnings\":[";
  for (size_t i = 0; i < warnings.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, warnings[i]);
  }
  out += "]";
}

std::string OnlinePlan::commands() const {
  std::string out;
  for (const auto& g : groups) {
    std::vector<std::string_view> args;
    args.reserve(3 + g.features.size());
    args.push_back("HMGET");
    args.push_back("");
    args.push_back("@event_ts");
    for (size_t i : g.features) args.push_back(features[i].feature->name);
    for (const auto& key : g.keys) {
      args[1] = key;
      append_command(out, args);
    }
  }
  return out;
}

std::optional<ApiError> plan_online_request(std::shared_ptr<const Registry> registry, const std::string& body,
                                            const Limits& limits, OnlinePlan& plan) {
  plan.registry = registry;
  ojson req;
  switch (parse_json_limited(body, req)) {
    case JsonCheck::ok: break;
    case JsonCheck::too_deep: return ApiError{400, "json_too_deep", json_too_deep_message()};
    case JsonCheck::invalid: return ApiError{400, "invalid_json", "the request body is not valid JSON"};
  }
  if (!req.is_object()) return ApiError{400, "bad_request", "the request body must be a JSON object"};
  auto features_it = req.find("features");
  auto service_it = req.find("feature_service");
  bool has_features = features_it != req.end() && !features_it->is_null();
  bool has_service = service_it != req.end() && !service_it->is_null();
  if (has_features == has_service)
    return ApiError{400, "bad_request", "give exactly one of \"features\" and \"feature_service\""};
  bool full_names = false;
  if (auto it = req.find("full_feature_names"); it != req.end() && !it->is_null()) {
    if (!it->is_boolean()) return ApiError{400, "bad_request", "\"full_feature_names\" must be true or false"};
    full_names = it->get<bool>();
  }
  std::vector<std::string> refs;
  if (has_features) {
    if (!features_it->is_array()) return ApiError{400, "bad_request", "\"features\" must be an array of \"view:feature\" strings"};
    if (features_it->size() > limits.max_features)
      return ApiError{413, "too_many_features", "at most " + std::to_string(limits.max_features) + " feature references per request"};
    for (const auto& r : *features_it) {
      if (!r.is_string()) return ApiError{400, "bad_request", "\"features\" must be an array of \"view:feature\" strings"};
      refs.push_back(r.get<std::string>());
    }
    if (refs.empty()) return ApiError{400, "bad_request", "\"features\" is empty"};
  } else {
    if (!service_it->is_string()) return ApiError{400, "bad_request", "\"feature_service\" must be a string"};
    const std::string& name = service_it->get_ref<const std::string&>();
    const FeatureService* s = fstore::is_valid_name(name) ? registry->service(name) : nullptr;
    if (!s) return ApiError{404, "not_found", "feature service '" + name.substr(0, 200) + "' does not exist"};
    refs = s->features;
    plan.service = name;
  }
  if (auto it = req.find("transform"); it != req.end() && !it->is_null()) {
    if (!has_service) return ApiError{400, "bad_request", "\"transform\" needs \"feature_service\""};
    std::string t = it->is_number_unsigned() ? std::to_string(it->get<uint64_t>()) : it->is_string() ? it->get<std::string>() : "";
    bool number = !t.empty() && t.size() <= 9 && t.find_first_not_of("0123456789") == std::string::npos;
    if (t != "latest" && !number)
      return ApiError{400, "bad_request", "\"transform\" must be \"latest\" or a version number"};
    plan.transform = t;
  }
  plan.full_feature_names = full_names;
  auto ent = req.find("entities");
  if (ent == req.end() || !ent->is_object() || ent->empty())
    return ApiError{400, "bad_request", "\"entities\" must be an object of join key -> array of keys"};
  size_t rows = 0;
  bool first = true;
  for (auto it = ent->begin(); it != ent->end(); ++it) {
    if (!it->is_array()) return ApiError{400, "bad_request", "entities[\"" + it.key().substr(0, 100) + "\"] must be an array"};
    if (it->size() > limits.max_entities)
      return ApiError{413, "too_many_entities", std::to_string(it->size()) + " entities in one request; the limit is " +
                                                    std::to_string(limits.max_entities)};
    if (!first && it->size() != rows)
      return ApiError{400, "bad_request", "every entities array must have the same length"};
    rows = it->size();
    first = false;
  }
  if (auto err = resolve_features(*registry, refs, full_names, plan.features)) return err;
  plan.rows = rows;
  for (auto it = ent->begin(); it != ent->end(); ++it)
    plan.key_columns.push_back(OnlinePlan::KeyColumn{it.key(), std::vector<ojson>(it->begin(), it->end())});
  // One group per view, in the order of first appearance.
  for (size_t i = 0; i < plan.features.size(); ++i) {
    const FeatureView* v = plan.features[i].view;
    OnlinePlan::ViewGroup* g = nullptr;
    for (auto& existing : plan.groups) if (existing.view == v) g = &existing;
    if (!g) {
      plan.groups.push_back(OnlinePlan::ViewGroup{v, {}, {}});
      g = &plan.groups.back();
    }
    g->features.push_back(i);
  }
  for (auto& g : plan.groups) {
    const OnlinePlan::KeyColumn* col = nullptr;
    for (const auto& c : plan.key_columns) if (c.name == g.view->join_key) col = &c;
    if (!col)
      return ApiError{400, "missing_join_key", "feature view '" + g.view->name + "' needs entities[\"" + g.view->join_key + "\"]"};
    g.keys.reserve(rows);
    for (const auto& value : col->values) {
      std::string error;
      auto text = key_text_from_json(value, g.view->key_type, error);
      if (!text) return ApiError{400, "invalid_entity_key", error + " (join key " + g.view->join_key + ")"};
      g.keys.push_back(redis_key(g.view->name, *text));
    }
  }
  return std::nullopt;
}

bool outside_max_age(int64_t event_unix_us, const fstore::Interval& ttl, int64_t now_unix_us) {
  // Redis holds Unix microseconds; the rule works on PostgreSQL's (since 2000-01-01), infinities kept.
  constexpr int64_t kPgEpochUnixUs = 946684800LL * 1000000;
  auto to_pg = [](int64_t unix_us) {
    if (fstore::is_infinite(unix_us)) return unix_us;
    if (unix_us < fstore::kMinusInfinity + kPgEpochUnixUs) return fstore::kMinusInfinity;
    return unix_us - kPgEpochUnixUs;
  };
  int64_t event = to_pg(event_unix_us);
  if (event == fstore::kMinusInfinity) return true;   // older than every window
  if (event == fstore::kPlusInfinity) return false;   // never older than anything
  return event < fstore::add_interval_utc(to_pg(now_unix_us), ttl, -1);
}

Cell evaluate_cell(const RedisValue& reply, size_t i, const std::optional<fstore::Interval>& ttl, int64_t now_us) {
  const auto& el = reply.elements;
  int64_t event_us = 0;
  if (el.empty() || el[0].type != RedisValue::Type::string || !parse_int64(el[0].str, event_us))
    return Cell{"NOT_FOUND", AnswerStatus::not_found, {}, 0};
  if (i + 1 >= el.size() || el[i + 1].type != RedisValue::Type::string)
    return Cell{"NOT_FOUND", AnswerStatus::not_found, {}, 0};
  std::string_view v = el[i + 1].str;
  if (v == "null") return Cell{"NULL_VALUE", AnswerStatus::null_value, {}, event_us};
  if (ttl && outside_max_age(event_us, *ttl, now_us))
    return Cell{"OUTSIDE_MAX_AGE", AnswerStatus::outside_max_age, v, event_us};
  return Cell{"PRESENT", AnswerStatus::present, v, event_us};
}

namespace {
const std::string kEpoch = "\"1970-01-01T00:00:00Z\"";

bool is_hmget_reply(const RedisValue& r) { return r.type == RedisValue::Type::array; }
}  // namespace

std::optional<std::string> encode_online_response(const OnlinePlan& plan, const std::vector<RedisValue>& replies,
                                                  int64_t now_us, AnswerCounters* answers) {
  if (replies.size() != plan.command_count()) return std::nullopt;
  for (const auto& r : replies) if (!is_hmget_reply(r)) return std::nullopt;
  // Position of each feature inside its group's HMGET (after @event_ts) and the group's first reply.
  std::vector<size_t> field(plan.features.size()), base(plan.features.size());
  for (size_t g = 0; g < plan.groups.size(); ++g)
    for (size_t j = 0; j < plan.groups[g].features.size(); ++j) {
      field[plan.groups[g].features[j]] = j;
      base[plan.groups[g].features[j]] = g * plan.rows;
    }
  std::vector<Cell> cells(plan.rows);
  auto evaluate = [&](size_t f) {
    const auto& ttl = plan.features[f].view->ttl;
    for (size_t r = 0; r < plan.rows; ++r) cells[r] = evaluate_cell(replies[base[f] + r], field[f], ttl, now_us);
  };
  // Transformed features first: their output columns replace them in the names and the results.
  std::vector<std::vector<online::TransformedColumn>> transformed(plan.features.size());
  if (plan.fitted) {
    for (size_t f = 0; f < plan.features.size(); ++f) {
      const auto& sf = plan.features[f];
      auto st = plan.fitted->states.find(sf.view->name + ":" + sf.feature->name);
      if (st == plan.fitted->states.end()) continue;
      evaluate(f);
      std::vector<std::optional<std::string_view>> inputs(plan.rows);
      for (size_t r = 0; r < plan.rows; ++r)
        if (cells[r].status == std::string_view("PRESENT")) inputs[r] = cells[r].value;
      transformed[f] = online::transform_online_values(st->second, sf.view->name, sf.feature->type,
                                                       plan.full_feature_names, inputs);
    }
  }
  std::string out;
  out.reserve(256 + plan.rows * (plan.features.size() + plan.key_columns.size()) * 48);
  out += "{\"metadata\":{\"feature_names\":[";
  bool first = true;
  for (const auto& c : plan.key_columns) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, c.name);
  }
  for (size_t f = 0; f < plan.features.size(); ++f) {
    if (transformed[f].empty()) {
      if (!first) out += ',';
      first = false;
      append_json_string(out, plan.features[f].column);
    }
    for (const auto& t : transformed[f]) {
      if (!first) out += ',';
      first = false;
      append_json_string(out, t.name);
    }
  }
  out += "]";
  if (plan.fitted) out += ",\"transform_version\":" + std::to_string(plan.fitted->version);
  out += "},\"results\":[";
  first = true;
  for (const auto& c : plan.key_columns) {
    if (!first) out += ',';
    first = false;
    out += "{\"values\":[";
    for (size_t r = 0; r < plan.rows; ++r) {
      if (r) out += ',';
      out += c.values[r].dump();
    }
    out += "],\"statuses\":[";
    for (size_t r = 0; r < plan.rows; ++r) out += r ? ",\"PRESENT\"" : "\"PRESENT\"";
    out += "],\"event_timestamps\":[";
    for (size_t r = 0; r < plan.rows; ++r) {
      if (r) out += ',';
      out += kEpoch;
    }
    out += "]}";
  }
  // Statuses and event times of the current `cells`, closing one result object. Formatted once
  // per feature: a transformed feature's output columns all share them.
  std::string tail;
  auto format_statuses = [&] {
    tail.clear();
    tail += "],\"statuses\":[";
    for (size_t r = 0; r < plan.rows; ++r) {
      if (r) tail += ',';
      tail += '"';
      tail += cells[r].status;
      tail += '"';
    }
    tail += "],\"event_timestamps\":[";
    for (size_t r = 0; r < plan.rows; ++r) {
      if (r) tail += ',';
      tail += '"';
      tail += format_timestamp_us(cells[r].event_us);
      tail += '"';
    }
    tail += "]}";
  };
  for (size_t f = 0; f < plan.features.size(); ++f) {
    evaluate(f);
    if (answers) {  // counted here, once per cell: a transformed feature was evaluated twice
      std::array<uint64_t, kAnswerStatuses> n{};
      for (size_t r = 0; r < plan.rows; ++r) ++n[static_cast<size_t>(cells[r].kind)];
      for (size_t k = 0; k < kAnswerStatuses; ++k)
        answers->add(plan.features[f].feature->answer_slot, static_cast<AnswerStatus>(k), n[k]);
    }
    format_statuses();
    if (transformed[f].empty()) {  // the raw value
      if (!first) out += ',';
      first = false;
      out += "{\"values\":[";
      for (size_t r = 0; r < plan.rows; ++r) {
        if (r) out += ',';
        if (cells[r].value.empty()) out += "null";
        else append_json_fragment(out, cells[r].value);
      }
      out += tail;
    }
    for (const auto& t : transformed[f]) {  // its transformed columns, with the raw statuses
      if (!first) out += ',';
      first = false;
      out += "{\"values\":[";
      for (size_t r = 0; r < plan.rows; ++r) {
        if (r) out += ',';
        online::append_cell_json(out, t.type, t.cells[r]);
      }
      out += tail;
    }
  }
  out += "]";
  append_warnings(out, deprecation_warnings(plan.features));
  out += "}";
  return out;
}

std::optional<std::string> encode_entity_response(const FeatureView& view, const std::string& key_text,
                                                  const std::vector<const Feature*>& features,
                                                  const RedisValue& reply, int64_t now_us,
                                                  AnswerCounters* answers) {
  int64_t event_us = 0;
  if (reply.type != RedisValue::Type::array || reply.elements.empty() ||
      reply.elements[0].type != RedisValue::Type::string || !parse_int64(reply.elements[0].str, event_us)) {
    if (answers)
      for (const auto* f : features) answers->add(f->answer_slot, AnswerStatus::not_found);
    return std::nullopt;
  }
  std::string out = "{\"view\":";
  append_json_string(out, view.name);
  out += ",\"entity_key\":";
  if (integer_key_type(view.key_type)) out += key_text;
  else append_json_string(out, key_text);
  out += ",\"event_timestamp\":\"" + format_timestamp_us(event_us) + "\",\"features\":{";
  std::string statuses = ",\"statuses\":{";
  std::vector<std::string> warnings;
  for (size_t i = 0; i < features.size(); ++i) {
    Cell c = evaluate_cell(reply, i, view.ttl, now_us);
    if (answers) answers->add(features[i]->answer_slot, c.kind);
    if (i) { out += ','; statuses += ','; }
    append_json_string(out, features[i]->name);
    out += ':';
    if (c.value.empty()) out += "null";
    else append_json_fragment(out, c.value);
    append_json_string(statuses, features[i]->name);
    statuses += ":\"";
    statuses += c.status;
    statuses += '"';
    if (features[i]->status == "deprecated") warnings.push_back("feature " + view.name + ":" + features[i]->name + " is deprecated");
  }
  out += "}";
  out += statuses;
  out += "}";
  append_warnings(out, warnings);
  out += "}";
  return out;
}

std::string error_body(const std::string& code, const std::string& message) {
  nlohmann::json j = {{"error", {{"code", code}, {"message", message}}}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace fstore::server
