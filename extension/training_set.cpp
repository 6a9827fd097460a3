// PLACEHOLDER: the point-in-time join engine is being written.
#include "pg_boundary.hpp"

FSTORE_FUNCTION(fstore_create_training_set) {
  throw fstore::Error(ERRCODE_FEATURE_NOT_SUPPORTED, "create_training_set is not built yet");
}
