"""pandas <-> PostgreSQL conversions: entity_df column types, rows for COPY, typed result frames."""
import pandas as pd
from psycopg import sql

INT_OIDS = {20, 21, 23}          # int8, int2, int4
FLOAT_OIDS = {700, 701}          # float4, float8
BOOL_OID = 16
TEXT_OIDS = {25, 1043, 1042, 19}  # text, varchar, bpchar, name
TIMESTAMPTZ_OID, TIMESTAMP_OID = 1184, 1114


def sql_type_for(series):
    """The PostgreSQL type for a pandas column passed through untouched (labels, extra columns)."""
    dt = series.dtype
    if pd.api.types.is_bool_dtype(dt):
        return "boolean"
    if pd.api.types.is_integer_dtype(dt):
        return "bigint"
    if pd.api.types.is_float_dtype(dt):
        return "double precision"
    if isinstance(dt, pd.DatetimeTZDtype):
        return "timestamptz"
    if pd.api.types.is_datetime64_dtype(dt):
        return "timestamp"
    return "text"


def utc_timestamps(series):
    """event_timestamp as tz-aware UTC: naive times are taken as UTC (as Feast does)."""
    ts = pd.to_datetime(series)
    return ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")


def python_rows(df):
    """The frame's rows as lists of plain Python values (None for NaN/NaT/NA), ready for COPY."""
    obj = df.astype(object)
    obj = obj.where(pd.notna(obj), None)
    return obj.values.tolist()


def typed_frame(columns, type_oids, rows):
    """A DataFrame from fetched rows, each column typed by its PostgreSQL type: int64 (Int64 when it
    has NULLs), float64 (NaN for NULL), bool (boolean with NULLs), string, datetime64[ns, UTC] for
    timestamptz, object otherwise (numeric as Decimal, jsonb, arrays, uuid)."""
    data = list(zip(*rows)) if rows else [[] for _ in columns]
    out = {}
    for name, oid, values in zip(columns, type_oids, data):
        values = list(values)
        has_null = any(v is None for v in values)
        if oid in INT_OIDS:
            out[name] = pd.Series(values, dtype="Int64" if has_null else "int64")
        elif oid in FLOAT_OIDS:
            out[name] = pd.Series([float("nan") if v is None else v for v in values], dtype="float64")
        elif oid == BOOL_OID:
            out[name] = pd.Series(values, dtype="boolean" if has_null else "bool")
        elif oid in TEXT_OIDS:
            out[name] = pd.Series(values, dtype="string")
        elif oid == TIMESTAMPTZ_OID:
            out[name] = pd.to_datetime(pd.Series(values, dtype=object), utc=True)
        elif oid == TIMESTAMP_OID:
            out[name] = pd.to_datetime(pd.Series(values, dtype=object))
        else:
            out[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(out, columns=list(columns))


def column_defs(columns, types):
    """`"name" type, ...` for CREATE TABLE, names quoted; types come from a fixed set or the catalog."""
    return sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in zip(columns, types))
