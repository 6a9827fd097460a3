// fstore.so: the module's entry point.
#include "pg_boundary.hpp"

extern "C" {
PG_MODULE_MAGIC;
}
