// fstore._statistics_pass and fstore.feature_drift (API.md "Statistics, drift and monitors"):
// one pass over a view (extension/view_reader.hpp) feeding the accumulators of
// common/statistics.hpp and the metrics of common/drift.hpp. docs/monitoring.md states each
// definition and bound.
#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "drift.hpp"
#include "statistics.hpp"
#include "spi_query.hpp"
#include "view_reader.hpp"

extern "C" {
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
}

namespace {

using fstore::Error;
using fstore::pg_guard;
namespace stats = fstore::stats;
namespace drift = fstore::drift;
namespace viewread = fstore::viewread;

constexpr std::array<std::pair<const char*, double>, 7> kQuantiles = {
    {{"p01", 0.01}, {"p05", 0.05}, {"p25", 0.25}, {"p50", 0.5}, {"p75", 0.75}, {"p95", 0.95}, {"p99", 0.99}}};
constexpr size_t kTopValues = 10;
constexpr size_t kDriftCategories = 100000;  // categories counted exactly per drift window

// Everything compute_statistics stores for one feature, accumulated batch by batch.
struct FeatureStats {
  explicit FeatureStats(bool numbers) : numeric(numbers) {}

  void add(const viewread::Column& c) {
    size_t value = 0;
    for (uint8_t isnull : c.nulls) {
      if (isnull) {
        ++nulls;
        continue;
      }
      if (numeric) {
        double x = c.numbers[value];
        moments.add(x);
        distinct.add(c.hashes[value]);
        if (std::isfinite(x)) sketch.add(x);
      } else {
        distinct.add(stats::hash_bytes(c.texts[value]));
        top.add(c.texts[value]);
      }
      ++value;
    }
  }

  bool numeric;
  uint64_t nulls = 0;
  stats::Moments moments;
  stats::QuantileSketch sketch;
  stats::DistinctCounter distinct;
  stats::TopValues top;
};

Datum jsonb_datum(const nlohmann::json& j) {
  std::string text = j.dump();
  return pg_guard([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(text.c_str())); });
}

// The active, draft and deprecated features of `view` (archived ones are gone from training
// sets and serving, so from statistics too), in the view's order.
std::vector<std::string> statistics_features(const std::string& view) {
  if (fstore::spi_query("SELECT 1 FROM fstore.feature_views WHERE name = $1", {view}).empty())
    throw Error(ERRCODE_UNDEFINED_OBJECT, "feature view \"" + view + "\" does not exist");
  auto rows = fstore::spi_query(
      "SELECT name FROM fstore.features WHERE view = $1 AND status <> 'archived' ORDER BY position", {view});
  std::vector<std::string> names;
  for (auto& r : rows) names.push_back(*r[0]);
  return names;
}

int64_t timestamp_arg(FunctionCallInfo fcinfo, int n, const char* what) {
  if (PG_ARGISNULL(n)) throw Error(ERRCODE_INVALID_PARAMETER_VALUE, std::string(what) + " must not be NULL");
  return PG_GETARG_TIMESTAMPTZ(n);
}

std::string timestamp_text(int64_t ts) {
  return pg_guard([&] { return std::string(timestamptz_to_str(ts)); });
}

// 22023 unless start < end.
void check_window(int64_t start, int64_t end, const char* what) {
  if (start >= end)
    throw Error(ERRCODE_INVALID_PARAMETER_VALUE, std::string(what) + " window is empty: its start " +
                                                     timestamp_text(start) + " is not before its end " +
                                                     timestamp_text(end));
}

// One row of _statistics_pass's result for `f`.
void put_statistics(ReturnSetInfo* rsinfo, const std::string& name, uint64_t rows, const FeatureStats& f) {
  Datum values[14] = {};
  bool nulls[14] = {};
  values[0] = pg_guard([&] { return PointerGetDatum(cstring_to_text_with_len(name.data(), static_cast<int>(name.size()))); });
  values[1] = Int64GetDatum(static_cast<int64>(rows));
  values[2] = Int64GetDatum(static_cast<int64>(f.nulls));
  values[3] = Int64GetDatum(static_cast<int64>(f.distinct.estimate()));
  auto put = [&](int i, std::optional<double> x) {
    nulls[i] = !x;
    if (x) values[i] = Float8GetDatum(*x);
  };
  for (int i = 4; i <= 10; ++i) nulls[i] = true;
  if (f.numeric) {
    put(4, f.moments.mean());
    put(5, f.moments.stddev());
    put(6, f.moments.min());
    put(7, f.moments.max());
    if (f.sketch.count() > 0) {
      stats::Cdf cdf(f.sketch.sorted());
      nlohmann::json q = nlohmann::json::object();
      for (auto& [key, p] : kQuantiles) q[key] = cdf.quantile(p);
      stats::Histogram h = stats::histogram(cdf);
      values[8] = jsonb_datum(q);
      values[9] = jsonb_datum({{"edges", h.edges}, {"counts", h.counts}});
      nulls[8] = nulls[9] = false;
    }
  } else {
    nlohmann::json top = nlohmann::json::array();
    for (auto& [value, count] : f.top.top(kTopValues)) {
      nlohmann::json entry = {{"value", value}, {"count", count}};
      if (!f.top.exact()) entry["count_error"] = f.top.error();  // counts may be low by this much
      top.push_back(entry);
    }
    values[10] = jsonb_datum(top);
    nulls[10] = false;
  }
  values[11] = Int64GetDatum(static_cast<int64>(f.moments.nan()));
  values[12] = Int64GetDatum(static_cast<int64>(f.moments.infinite()));
  values[13] = Int64GetDatum(static_cast<int64>(f.sketch.rank_error()));
  pg_guard([&] { tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls); });
}

// One window of a drift computation: numbers as a sketch of the finite values, categories as
// counts.
struct Window {
  Window() : categories(kDriftCategories) {}
  stats::QuantileSketch numbers;
  stats::TopValues categories;
  uint64_t values = 0;
};

}  // namespace

// _statistics_pass(view, start_ts, end_ts): per feature, the statistics of its rows with
// start_ts <= event_ts < end_ts, read in one pass. compute_statistics stores them.
FSTORE_FUNCTION(fstore_statistics_pass) {
  std::string view = fstore::text_arg(fcinfo, 0, "view");
  int64_t start = timestamp_arg(fcinfo, 1, "start_ts"), end = timestamp_arg(fcinfo, 2, "end_ts");
  check_window(start, end, "the statistics");
  auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  pg_guard([&] { InitMaterializedSRF(fcinfo, 0); });
  std::vector<std::string> names;
  {
    fstore::SpiSession spi;
    names = statistics_features(view);
    if (names.empty())
      throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "feature view \"" + view + "\" has no features to describe");
    viewread::ViewReader reader(view, names, start, end);
    std::vector<FeatureStats> features;
    for (Oid type : reader.types()) features.emplace_back(viewread::numeric_type(type));
    viewread::Batch batch;
    uint64_t rows = 0;
    while (reader.next(batch)) {
      rows += batch.rows;
      for (size_t j = 0; j < features.size(); ++j) features[j].add(batch.columns[j]);
    }
    for (size_t j = 0; j < features.size(); ++j) put_statistics(rsinfo, names[j], rows, features[j]);
  }
  return static_cast<Datum>(0);
}

// feature_drift(feature, reference_start, reference_end, current_start, current_end): the drift
// metrics of one feature between the two windows (docs/monitoring.md).
FSTORE_FUNCTION(fstore_feature_drift) {
  std::string ref = fstore::text_arg(fcinfo, 0, "feature");
  int64_t rs = timestamp_arg(fcinfo, 1, "reference_start"), re = timestamp_arg(fcinfo, 2, "reference_end");
  int64_t cs = timestamp_arg(fcinfo, 3, "current_start"), ce = timestamp_arg(fcinfo, 4, "current_end");
  check_window(rs, re, "the reference");
  check_window(cs, ce, "the current");
  auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  pg_guard([&] { InitMaterializedSRF(fcinfo, 0); });
  fstore::SpiSession spi;
  auto resolved = fstore::spi_query("SELECT view_name, feature_name FROM fstore._resolve_feature_refs(ARRAY[$1])", {ref});
  if (resolved.size() != 1)
    throw Error(ERRCODE_INVALID_PARAMETER_VALUE, "feature_drift takes one feature (view:feature), not \"" + ref + "\"");
  std::string view = *resolved[0][0], feature = *resolved[0][1];
  viewread::ViewReader reader(view, {feature}, std::min(rs, cs), std::max(re, ce));
  bool numeric = viewread::numeric_type(reader.types()[0]);
  Window reference, current;
  viewread::Batch batch;
  while (reader.next(batch)) {
    const viewread::Column& c = batch.columns[0];
    size_t value = 0;
    for (size_t row = 0; row < batch.rows; ++row) {
      if (c.nulls[row]) continue;
      int64_t t = batch.times[row];
      for (Window* w : {&reference, &current}) {
        bool inside = w == &reference ? (t >= rs && t < re) : (t >= cs && t < ce);
        if (!inside) continue;
        if (!numeric) {
          w->categories.add(c.texts[value]);
          ++w->values;
        } else if (std::isfinite(c.numbers[value])) {
          w->numbers.add(c.numbers[value]);
          ++w->values;
        }
      }
      ++value;
    }
  }
  for (auto [w, name, from, to] : {std::tuple{&reference, "reference", rs, re}, std::tuple{&current, "current", cs, ce}})
    if (w->values < drift::kMinValues)
      throw Error(ERRCODE_INVALID_PARAMETER_VALUE,
                  std::string("the ") + name + " window [" + timestamp_text(from) + ", " + timestamp_text(to) +
                      ") of " + view + ":" + feature + " holds " + std::to_string(w->values) +
                      (numeric ? " finite values" : " values") + "; drift needs at least " +
                      std::to_string(drift::kMinValues));
  auto put = [&](const char* metric, double value, std::optional<double> p) {
    Datum values[3] = {pg_guard([&] { return PointerGetDatum(cstring_to_text(metric)); }), Float8GetDatum(value),
                       Float8GetDatum(p.value_or(0))};
    bool nulls[3] = {false, false, !p};
    pg_guard([&] { tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls); });
  };
  if (numeric) {
    stats::Cdf a(reference.numbers.sorted()), b(current.numbers.sorted());
    put("psi", drift::psi(a, b), std::nullopt);
    auto ks = drift::ks(a, b);
    put("ks", ks.statistic, ks.p_value);
    put("wasserstein", drift::wasserstein(a, b), std::nullopt);
  } else {
    const auto& a = reference.categories.counts();
    const auto& b = current.categories.counts();
    put("psi", drift::psi(a, b), std::nullopt);
    auto chi = drift::chi_square(a, b);
    put("chi_square", chi.statistic, chi.p_value);
    put("jensen_shannon", drift::jensen_shannon(a, b), std::nullopt);
  }
  return static_cast<Datum>(0);
}
