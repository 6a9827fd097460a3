// fstore.so: the module's entry point and its settings.
#include <climits>

#include "pg_boundary.hpp"
#include "settings.hpp"

extern "C" {
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);
}

namespace {

// fstore.training_set_scan: how create_training_set reads a view.
int training_set_scan = 0;
// fstore.debug_training_set_worker_error: a test hook (read by extension/training_set_parallel.cpp).
char* debug_worker_error = nullptr;
const struct config_enum_entry training_set_scan_options[] = {
    {"auto", 0, false}, {"seq", 1, false}, {"index", 2, false}, {"probe", 3, false}, {nullptr, 0, false}};

}  // namespace

int fstore::training_set_memory_limit_kb = 2 * 1024 * 1024;

// Registers fstore's settings when the library is loaded.
void _PG_init(void) {
  DefineCustomEnumVariable(
      "fstore.training_set_scan",
      "How fstore.create_training_set reads feature views: auto, seq, index or probe.",
      "seq reads the whole table; index reads each entity key's history through a (key, ...) btree index; "
      "probe looks up each entity row backwards through a (key, event time, ...) index. auto picks the "
      "cheapest by the planner's statistics.",
      &training_set_scan, 0, training_set_scan_options, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "fstore.training_set_memory_limit",
      "The most memory one fstore.create_training_set call may use for its join state and values.",
      "Above it the call fails with SQLSTATE 54000 once the entity rows are counted, before any view is "
      "read, instead of growing without "
      "limit. The entity rows themselves spill to disk beyond work_mem and do not count.",
      &fstore::training_set_memory_limit_kb, 2 * 1024 * 1024, 1024, INT_MAX, PGC_USERSET, GUC_UNIT_KB, nullptr,
      nullptr, nullptr);
  DefineCustomStringVariable(
      "fstore.debug_training_set_worker_error",
      "Test hook: a SQLSTATE that each parallel worker of create_training_set raises after its read.",
      "For tests of error propagation from workers; empty (the default) does nothing.", &debug_worker_error, "",
      PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("fstore");
}
