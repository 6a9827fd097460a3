// The extension's side of transformations (common/transform.hpp): which SQL types each kind takes,
// the spec check behind fstore.set_transforms, and SQL values as transformation inputs. The same
// conversions are written for JSON values in fstore-server (server/online/transform_apply.cpp):
// numbers as doubles, categories as text, booleans as "true"/"false".
#include <string>

// C++ and library headers (nlohmann) before PostgreSQL's, which redefine snprintf and friends.
#include "transform.hpp"
#include "transform_values.hpp"
#include "pg_boundary.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"
}

namespace fstore {

bool transform_numeric_type(Oid type) {
  switch (type) {
    case INT2OID: case INT4OID: case INT8OID: case FLOAT4OID: case FLOAT8OID: case NUMERICOID: return true;
    default: return false;
  }
}

bool transform_category_type(Oid type) {
  switch (type) {
    case TEXTOID: case VARCHAROID: case BPCHAROID: case BOOLOID: case INT2OID: case INT4OID: case INT8OID:
    case UUIDOID: return true;
    default: return false;
  }
}

transform::Value transform_input(Datum d, bool isnull, Oid type, bool as_number) {
  if (isnull) return transform::Value::null();
  if (as_number) {
    switch (type) {
      case INT2OID: return transform::Value::of(static_cast<double>(DatumGetInt16(d)));
      case INT4OID: return transform::Value::of(static_cast<double>(DatumGetInt32(d)));
      case INT8OID: return transform::Value::of(static_cast<double>(DatumGetInt64(d)));
      case FLOAT4OID: return transform::Value::of(static_cast<double>(DatumGetFloat4(d)));
      case FLOAT8OID: return transform::Value::of(DatumGetFloat8(d));
      default:  // numeric: through its text, as the server parses the text Redis holds
        return transform::Value::of(pg_guard([&] {
          return DatumGetFloat8(DirectFunctionCall1(float8in, DirectFunctionCall1(numeric_out, d)));
        }));
    }
  }
  switch (type) {
    case BOOLOID: return transform::Value::of(std::string(DatumGetBool(d) ? "true" : "false"));
    case INT2OID: return transform::Value::of(std::to_string(DatumGetInt16(d)));
    case INT4OID: return transform::Value::of(std::to_string(DatumGetInt32(d)));
    case INT8OID: return transform::Value::of(std::to_string(DatumGetInt64(d)));
    case UUIDOID: {
      char* s = pg_guard([&] { return DatumGetCString(DirectFunctionCall1(uuid_out, d)); });
      return transform::Value::of(std::string(s));
    }
    default: {  // text, varchar, bpchar
      text* t = pg_guard([&] { return DatumGetTextPP(d); });
      return transform::Value::of(std::string(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
    }
  }
}

}  // namespace fstore

// _check_transform(feature, spec jsonb, type regtype): the spec checked against the feature's
// type and normalized (defaults written out); 22023 naming feature, type and the problem.
FSTORE_FUNCTION(fstore_check_transform) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
    throw fstore::Error(ERRCODE_INVALID_PARAMETER_VALUE, "transformation arguments must not be NULL");
  std::string feature = fstore::text_arg(fcinfo, 0, "feature");
  Oid type = PG_GETARG_OID(2);
  std::string spec_text = fstore::pg_guard([&] {
    return std::string(DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(1))));
  });
  std::string type_name = fstore::pg_guard([&] { return std::string(format_type_be(type)); });
  auto fail = [&](const std::string& why) {
    return fstore::Error(ERRCODE_INVALID_PARAMETER_VALUE,
                         "feature \"" + feature + "\" (" + type_name + "): " + why);
  };
  fstore::transform::Spec spec;
  try {
    nlohmann::json j = nlohmann::json::parse(spec_text);
    bool numeric = fstore::transform_numeric_type(type);
    spec = fstore::transform::parse_spec(j, numeric);
    bool categorical = spec.kind == fstore::transform::Kind::Label || spec.kind == fstore::transform::Kind::OneHot;
    if (categorical && !fstore::transform_category_type(type))
      throw fstore::transform::SpecError("label and onehot take text, varchar, char, boolean, integer or uuid features");
  } catch (const fstore::transform::SpecError& e) {
    throw fail(e.what());
  }
  std::string normalized = fstore::transform::spec_to_json(spec).dump();
  Datum result = fstore::pg_guard([&] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(normalized.c_str())); });
  PG_RETURN_DATUM(result);
}
