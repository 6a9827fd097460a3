// SQL values as inputs of transformations (common/transform.hpp), in the extension.
#pragma once

#include "transform.hpp"

extern "C" {
#include "postgres.h"
}

namespace fstore {

// Types the numeric kinds (standard, minmax, robust, log1p, bucketize) take.
bool transform_numeric_type(Oid type);
// Types label and onehot take; their values are categories by text.
bool transform_category_type(Oid type);
// A column value as a transformation input: a double for the numeric kinds (`as_number`), else
// its category text (booleans "true"/"false", integers in decimal, uuids in canonical form).
transform::Value transform_input(Datum d, bool isnull, Oid type, bool as_number);

}  // namespace fstore
