// Checks of the online store against PostgreSQL for the sync integration tests: what Redis must
// hold for a view (a reference query of the point-in-time rule at now), what it holds, and a wait
// until they agree.
#pragma once

#include "support/stack.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace fstore::testing {

using Hash = std::map<std::string, std::string>;
using Store = std::map<std::string, Hash>;  // entity key text -> fields

// What Redis must hold for a view over `table` (the point-in-time rule at now), by a reference query.
Store expected(const PgCluster& pg, const std::string& table, const std::string& key, const std::string& ts,
               const std::string& created, const std::vector<std::string>& features, const std::string& ttl = "");

// Everything Redis holds for `view`.
Store redis_view(const RedisServer& redis, const std::string& view);
// The same for the (one, plain) Redis at `url`, e.g. one master of a cluster.
Store redis_view_at(const std::string& url, const std::string& view);

// A readable difference of two stores.
std::string describe_diff(const Store& want, const Store& got);

// Waits until `got()` equals `want()` (both recomputed each round); fails with the difference
// otherwise.
template <class G, class F>
void expect_store_converges(G got, F want, std::chrono::seconds timeout = std::chrono::seconds(60)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Store w, g;
  while (std::chrono::steady_clock::now() < deadline) {
    w = want();
    g = got();
    if (w == g) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  FAIL() << "Redis did not converge to PostgreSQL: " << describe_diff(w, g);
}

// Waits until Redis equals `want()` (recomputed each round); fails with the difference otherwise.
template <class F>
void expect_converges(const RedisServer& redis, const std::string& view, F want,
                      std::chrono::seconds timeout = std::chrono::seconds(60)) {
  expect_store_converges([&] { return redis_view(redis, view); }, want, timeout);
}

}  // namespace fstore::testing
