// The C++/PostgreSQL error boundary (GUIDE.md section 2), written once.
//
// PostgreSQL reports errors by longjmp, which skips C++ destructors; C++ throws exceptions, which
// PostgreSQL cannot catch. So:
//  * every symbol PostgreSQL calls is defined with FSTORE_FUNCTION: a thin extern "C" shim that runs
//    the C++ body inside try/catch and raises the PostgreSQL error only after leaving the catch;
//  * C++ code calls PostgreSQL functions that may ereport through pg_guard(), which turns the
//    PostgreSQL error into a PgError exception carrying the original ErrorData.
#pragma once

#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}

namespace fstore {

// A user-facing fstore error with the SQLSTATE a program can act on.
class Error : public std::runtime_error {
 public:
  Error(int sqlstate, std::string message, std::string detail = {}, std::string hint = {})
      : std::runtime_error(std::move(message)), sqlstate_(sqlstate),
        detail_(std::move(detail)), hint_(std::move(hint)) {}
  int sqlstate() const { return sqlstate_; }
  const std::string& detail() const { return detail_; }
  const std::string& hint() const { return hint_; }
 private:
  int sqlstate_;
  std::string detail_;
  std::string hint_;
};

// A PostgreSQL error raised under C++ frames, carried intact to the shim that re-throws it.
class PgError : public std::exception {
 public:
  explicit PgError(ErrorData* data) : data_(data) {}
  ErrorData* data() const { return data_; }
  const char* what() const noexcept override { return data_ && data_->message ? data_->message : "PostgreSQL error"; }
 private:
  ErrorData* data_;
};

// Implementation of pg_guard: runs `call(arg)` with a PostgreSQL error handler installed; a
// PostgreSQL error becomes PgError. `call` must not own C++ objects with destructors.
void pg_guard_impl(void (*call)(void*), void* arg);

// Runs `body` (a lambda calling PostgreSQL functions only) and returns its result; any PostgreSQL
// error inside it is rethrown as PgError so that C++ destructors on the way out do run.
template <typename Body>
auto pg_guard(Body&& body) -> decltype(body()) {
  using Result = decltype(body());
  if constexpr (std::is_void_v<Result>) {
    auto thunk = [](void* p) { (*static_cast<std::remove_reference_t<Body>*>(p))(); };
    pg_guard_impl(thunk, &body);
  } else {
    struct Frame { std::remove_reference_t<Body>* body; Result result; };
    Frame frame{&body, Result{}};
    auto thunk = [](void* p) { auto* f = static_cast<Frame*>(p); f->result = (*f->body)(); };
    pg_guard_impl(thunk, &frame);
    return frame.result;
  }
}

// Text argument `n` of a SQL-callable function as a std::string; 22023 "<what> must not be NULL"
// when it is NULL.
std::string text_arg(FunctionCallInfo fcinfo, int n, const char* what);

// Runs a C++ body called by PostgreSQL (a SQL function's, a parallel worker's); converts its
// exceptions into PostgreSQL errors after all of its C++ frames are gone.
void run_cpp_body(void (*body)(void*), void* arg);

// Runs a SQL-callable C++ body; converts exceptions into PostgreSQL errors after all C++ frames
// of the body are gone. Used only through FSTORE_FUNCTION.
Datum run_sql_function(FunctionCallInfo fcinfo, Datum (*body)(FunctionCallInfo));

}  // namespace fstore

// Defines the SQL-callable function `name` whose C++ body follows, e.g.
//   FSTORE_FUNCTION(fstore_ingest) { ... return ...; }
#define FSTORE_FUNCTION(name)                                                   \
  static Datum name##_body(FunctionCallInfo fcinfo);                            \
  extern "C" {                                                                  \
  PG_FUNCTION_INFO_V1(name);                                                    \
  Datum name(PG_FUNCTION_ARGS) { return fstore::run_sql_function(fcinfo, name##_body); } \
  }                                                                             \
  static Datum name##_body(FunctionCallInfo fcinfo)
