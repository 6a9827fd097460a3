// Derived-feature expressions and feature types, checked so that nothing fstore runs with the
// extension's rights evaluates user-defined code, and no user text is ever spliced into DDL.
//
// A derived feature's expression is parsed and analyzed against the view's table by PostgreSQL
// itself, checked node by node, and handed back deparsed: the GENERATED column is built from that
// canonical text, never from what the user wrote (issue 9, item 1).
#include <string>

#include "pg_boundary.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
}

namespace {

// True when the object belongs to an installed extension and is owned by a superuser: code a role
// below superuser cannot create or replace (pgvector's functions and types, citext).
bool superuser_extension_object(Oid classid, Oid objid, Oid owner) {
  return OidIsValid(getExtensionOfObject(classid, objid)) && superuser_arg(owner);
}

// True when type `typid` is built in or a superuser-owned extension's, and so are its element
// type (arrays) and base type (domains).
bool trusted_type(Oid typid) {
  if (typid < FirstNormalObjectId) return true;
  HeapTuple tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
  if (!HeapTupleIsValid(tuple)) return false;
  auto* form = reinterpret_cast<Form_pg_type>(GETSTRUCT(tuple));
  Oid owner = form->typowner, element = form->typelem;
  bool is_array = OidIsValid(element) && form->typsubscript == F_ARRAY_SUBSCRIPT_HANDLER;
  ReleaseSysCache(tuple);
  if (is_array) return trusted_type(element);
  return superuser_extension_object(TypeRelationId, typid, owner);
}

// True when function `funcid` is built in or a superuser-owned extension's.
bool trusted_function(Oid funcid, void*) {
  if (funcid < FirstNormalObjectId) return true;
  HeapTuple tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
  if (!HeapTupleIsValid(tuple)) return false;
  Oid owner = reinterpret_cast<Form_pg_proc>(GETSTRUCT(tuple))->proowner;
  ReleaseSysCache(tuple);
  return superuser_extension_object(ProcedureRelationId, funcid, owner);
}

bool untrusted_function(Oid funcid, void* context) { return !trusted_function(funcid, context); }

// What the walker found wrong, if anything (plain data: it lives across pg_guard).
struct Finding {
  Oid relid;
  const char* problem = nullptr;
};

// Walks an analyzed expression; records the first node that would run untrusted code or that a
// generation expression cannot use. Returns true to stop.
bool find_untrusted(Node* node, Finding* finding) {
  if (node == nullptr) return false;
  if (check_functions_in_node(node, untrusted_function, nullptr)) {
    finding->problem = "it calls a function or operator that is neither built in nor part of an installed extension";
    return true;
  }
  switch (nodeTag(node)) {
    case T_Var: {
      auto* var = reinterpret_cast<Var*>(node);
      if (var->varattno <= 0) {
        finding->problem = "it references a system column";
        return true;
      }
      if (get_attgenerated(finding->relid, var->varattno) != '\0') {
        finding->problem = "it references another derived feature";
        return true;
      }
      break;
    }
    case T_Const: case T_FuncExpr: case T_OpExpr: case T_CoerceToDomain: case T_RelabelType:
    case T_CoerceViaIO: case T_ArrayCoerceExpr: case T_RowExpr: case T_ArrayExpr: case T_CaseExpr:
    case T_CoalesceExpr: case T_MinMaxExpr: case T_FieldSelect: case T_NullIfExpr:
    case T_ConvertRowtypeExpr:
      if (!trusted_type(exprType(node))) {
        finding->problem = "it uses a type that is neither built in nor part of an installed extension";
        return true;
      }
      break;
    default:
      break;
  }
  return expression_tree_walker(node, reinterpret_cast<bool (*)()>(reinterpret_cast<void (*)()>(find_untrusted)),
                                finding);
}

// The raw expression of "SELECT <expression>", or nullptr when it is not exactly one plain
// expression (several statements, FROM, a second target, a trailing comment that hides text...).
Node* single_raw_expression(List* statements) {
  if (list_length(statements) != 1) return nullptr;
  Node* stmt = linitial_node(RawStmt, statements)->stmt;
  if (!IsA(stmt, SelectStmt)) return nullptr;
  auto* select = reinterpret_cast<SelectStmt*>(stmt);
  if (list_length(select->targetList) != 1 || select->fromClause || select->whereClause ||
      select->groupClause || select->havingClause || select->windowClause || select->sortClause ||
      select->limitCount || select->limitOffset || select->lockingClause || select->withClause ||
      select->distinctClause || select->op != SETOP_NONE || select->intoClause)
    return nullptr;
  auto* target = linitial_node(ResTarget, select->targetList);
  return target->name ? nullptr : target->val;
}

// Analyzes `raw` against relation `relid`, coerces it to `type` as an explicit cast would, and
// returns PostgreSQL's deparse of it; `finding` says what is wrong when it returns nullptr.
char* analyze_and_deparse(Node* raw, Oid relid, Oid type, Finding* finding) {
  Relation rel = table_open(relid, AccessShareLock);
  ParseState* pstate = make_parsestate(nullptr);
  ParseNamespaceItem* item = addRangeTableEntryForRelation(pstate, rel, AccessShareLock, nullptr, false, true);
  addNSItemToQuery(pstate, item, true, true, true);
  Node* expr = transformExpr(pstate, raw, EXPR_KIND_GENERATED_COLUMN);
  Oid source = exprType(expr);
  Node* coerced = coerce_to_target_type(pstate, expr, source, type, -1, COERCION_EXPLICIT,
                                        COERCE_EXPLICIT_CAST, -1);
  char* result = nullptr;
  if (coerced == nullptr) {
    finding->problem = "its result cannot be cast to the feature's type";
  } else {
    assign_expr_collations(pstate, coerced);
    if (!find_untrusted(coerced, finding)) {
      if (contain_mutable_functions(coerced))
        finding->problem = "it uses a function that is not immutable";
      else
        result = deparse_expression(coerced, deparse_context_for(RelationGetRelationName(rel), relid), false, false);
    }
  }
  free_parsestate(pstate);
  table_close(rel, AccessShareLock);
  return result;
}

}  // namespace

// _deparse_expression(tbl, expression, type): the derived-feature expression, analyzed against
// table `tbl`, cast to `type` and deparsed by PostgreSQL; the text a GENERATED column is built
// from. Raises 22023 naming the expression for anything that is not one immutable expression
// over the table's own (non-derived) columns using built-in or extension code only.
FSTORE_FUNCTION(fstore_deparse_expression) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
    throw fstore::Error(ERRCODE_INVALID_PARAMETER_VALUE, "table and type must not be NULL");
  Oid relid = PG_GETARG_OID(0);
  std::string expression = fstore::text_arg(fcinfo, 1, "expression");
  Oid type = PG_GETARG_OID(2);
  auto invalid = [&](const std::string& why) {
    return fstore::Error(ERRCODE_INVALID_PARAMETER_VALUE, "invalid feature expression \"" + expression + "\": " + why);
  };
  Finding finding{relid};
  char* deparsed = nullptr;
  try {
    std::string sql = "SELECT " + expression;
    List* statements = fstore::pg_guard([&] { return raw_parser(sql.c_str(), RAW_PARSE_DEFAULT); });
    Node* raw = single_raw_expression(statements);
    if (raw == nullptr) throw invalid("it must be a single expression over the view's features");
    deparsed = fstore::pg_guard([&] { return analyze_and_deparse(raw, relid, type, &finding); });
  } catch (const fstore::PgError& e) {
    throw invalid(e.what());
  }
  if (deparsed == nullptr) throw invalid(finding.problem ? finding.problem : "it cannot be analyzed");
  PG_RETURN_TEXT_P(cstring_to_text(deparsed));
}

// _trusted_type(type): true when a feature or join key may have this type: built in, or of a
// superuser-owned installed extension (arrays by their element). Domains, enums, composites and
// anything else a role below superuser can create or alter would run user code with fstore's
// rights (their CHECK constraints, casts and I/O functions), so they are refused.
FSTORE_FUNCTION(fstore_trusted_type) {
  if (PG_ARGISNULL(0)) PG_RETURN_BOOL(false);
  Oid typid = PG_GETARG_OID(0);
  PG_RETURN_BOOL(fstore::pg_guard([&] { return trusted_type(typid); }));
}
