#include "pg_boundary.hpp"

#include <new>

extern "C" {
#include "miscadmin.h"
}

namespace fstore {

void pg_guard_impl(void (*call)(void*), void* arg) {
  // Everything touched after siglongjmp is volatile or re-read from PostgreSQL globals.
  MemoryContext volatile caller_context = CurrentMemoryContext;
  sigjmp_buf* volatile saved_exception_stack = PG_exception_stack;
  ErrorContextCallback* volatile saved_context_stack = error_context_stack;
  sigjmp_buf local;
  ErrorData* volatile error = nullptr;

  if (sigsetjmp(local, 0) == 0) {
    PG_exception_stack = &local;
    try {
      call(arg);
    } catch (...) {
      PG_exception_stack = saved_exception_stack;
      error_context_stack = saved_context_stack;
      throw;
    }
  } else {
    // A PostgreSQL error: copy it out of ErrorContext into the caller's context, reset the error
    // state, and let C++ unwinding take over. The shim re-raises it with ReThrowError.
    MemoryContextSwitchTo(caller_context);
    error = CopyErrorData();
    FlushErrorState();
  }
  PG_exception_stack = saved_exception_stack;
  error_context_stack = saved_context_stack;
  if (error) throw PgError(error);
}

std::string text_arg(FunctionCallInfo fcinfo, int n, const char* what) {
  if (PG_ARGISNULL(n)) throw Error(ERRCODE_INVALID_PARAMETER_VALUE, std::string(what) + " must not be NULL");
  text* t = PG_GETARG_TEXT_PP(n);
  return std::string(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

void run_cpp_body(void (*body)(void*), void* arg) {
  ErrorData* pg_error = nullptr;
  int sqlstate = ERRCODE_INTERNAL_ERROR;
  char* message = nullptr;
  char* detail = nullptr;
  char* hint = nullptr;
  // Copies a C++ string into the current (PostgreSQL) memory context; nullptr for "".
  auto keep = [](const std::string& s) -> char* { return s.empty() ? nullptr : pstrdup(s.c_str()); };

  try {
    body(arg);
    return;
  } catch (const PgError& e) {
    pg_error = e.data();
  } catch (const Error& e) {
    sqlstate = e.sqlstate();
    message = keep(e.what());
    detail = keep(e.detail());
    hint = keep(e.hint());
  } catch (const std::bad_alloc&) {
    sqlstate = ERRCODE_OUT_OF_MEMORY;
    message = pstrdup("fstore: out of memory");
  } catch (const std::exception& e) {
    message = keep(std::string("fstore internal error: ") + e.what());
  } catch (...) {
    message = pstrdup("fstore internal error: unknown exception");
  }
  // Outside every C++ frame of the body: now it is safe to longjmp.
  if (pg_error) ReThrowError(pg_error);
  ereport(ERROR, (errcode(sqlstate), errmsg_internal("%s", message),
                  detail ? errdetail_internal("%s", detail) : 0, hint ? errhint("%s", hint) : 0));
  pg_unreachable();
}

Datum run_sql_function(FunctionCallInfo fcinfo, Datum (*body)(FunctionCallInfo)) {
  struct Call {
    FunctionCallInfo fcinfo;
    Datum (*body)(FunctionCallInfo);
    Datum result;
  } call{fcinfo, body, 0};
  run_cpp_body([](void* p) { auto* c = static_cast<Call*>(p); c->result = c->body(c->fcinfo); }, &call);
  return call.result;
}

}  // namespace fstore
