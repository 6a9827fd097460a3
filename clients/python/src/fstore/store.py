"""FeatureStore: Feast's client API over fstore (training sets and ingestion through PostgreSQL,
online features through fstore-server's HTTP API)."""
import os
import uuid
from datetime import timedelta

import pandas as pd
import psycopg
import requests
from psycopg import sql

from . import frames
from .catalog import Entity, FeatureService, FeatureView, Field
from .errors import FstoreError, HTTPError, SQLError
from .online import OnlineResponse

KEY_TYPES = {"bigint", "integer", "smallint", "text", "uuid", "character varying"}


class RetrievalJob:
    """A training set to be built (Feast's RetrievalJob): nothing runs until to_df() or persist()."""

    def __init__(self, store, entity_df, features, feature_service, full_feature_names, transform):
        self._store, self._entity_df = store, entity_df
        self._args = (features, feature_service, full_feature_names, transform)
        self.full_feature_names = full_feature_names

    def to_df(self):
        """The training set as a DataFrame, one row per entity row in the entity_df's order."""
        return self._store._run_training_set(self._entity_df, *self._args, target=None)

    def persist(self, table_name):
        """Builds the training set into a new regular table `table_name`; returns its row count."""
        return self._store._run_training_set(self._entity_df, *self._args, target=table_name)


class FeatureStore:
    """fstore's client. pg: a libpq URL or conninfo (default FSTORE_PG or the libpq environment);
    server: fstore-server's base URL (default FSTORE_SERVER); token: an API token (default FSTORE_TOKEN),
    sent only in the Authorization header."""

    def __init__(self, pg=None, server=None, token=None, timeout=30.0, online_batch_size=1000):
        self._pg = pg if pg is not None else os.environ.get("FSTORE_PG", "")
        self._server = (server or os.environ.get("FSTORE_SERVER", "")).rstrip("/")
        self._http = requests.Session()
        token = token if token is not None else os.environ.get("FSTORE_TOKEN")
        if token:
            self._http.headers["Authorization"] = f"Bearer {token}"
        self._timeout, self._batch = timeout, online_batch_size
        self._conn = None

    def __repr__(self):
        return f"FeatureStore(server={self._server!r})"  # never the token or the password

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Closes the PostgreSQL connection and the HTTP session."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._http.close()

    # --- PostgreSQL -------------------------------------------------------------------------

    def _connection(self):
        """The (lazily opened) autocommit connection; each operation runs in its own transaction."""
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(self._pg, autocommit=True)
                # Naive times (entity rows, ingested event_ts) mean UTC, as in Feast, whatever the
                # role's or server's TimeZone setting.
                self._conn.execute("SET TimeZone = 'UTC'")
            except psycopg.Error as e:
                raise SQLError.from_psycopg(e) from e
        return self._conn

    def _sql(self, fn):
        """Runs fn(cursor) in one transaction; PostgreSQL errors become SQLError with the SQLSTATE."""
        conn = self._connection()
        try:
            with conn.transaction(), conn.cursor() as cur:
                return fn(cur)
        except psycopg.Error as e:
            raise SQLError.from_psycopg(e) from e

    def _query(self, query, params=None):
        """Rows of one query as dicts."""
        def run(cur):
            cur.execute(query, params)
            names = [d.name for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
        return self._sql(run)

    # --- training sets ----------------------------------------------------------------------

    def get_historical_features(self, entity_df, features=None, feature_service=None,
                                full_feature_names=False, transform=None):
        """A point-in-time correct training set (Feast's get_historical_features). entity_df: a
        DataFrame with the join keys and `event_timestamp` (plus labels), or a SQL query; features:
        `view:feature` references or a FeatureService; or feature_service by name; transform:
        None, 'fit', 'latest' or a version number."""
        if isinstance(features, FeatureService):
            features, feature_service = None, features.name
        if (features is None) == (feature_service is None):
            raise FstoreError("give exactly one of features and feature_service")
        if isinstance(features, str):
            raise FstoreError("features must be a list of 'view:feature' references")
        if not isinstance(entity_df, (pd.DataFrame, str)):
            raise FstoreError("entity_df must be a pandas DataFrame or a SQL query")
        if isinstance(entity_df, pd.DataFrame) and "event_timestamp" not in entity_df.columns:
            raise FstoreError("entity_df needs an event_timestamp column")
        transform = None if transform is None else str(transform)
        return RetrievalJob(self, entity_df, list(features) if features else None, feature_service,
                            bool(full_feature_names), transform)

    def _key_types(self, cur, features, feature_service):
        """join key -> SQL type of every entity the requested features belong to."""
        cur.execute("""
            SELECT DISTINCT e.join_key, e.key_type::text
              FROM fstore.feature_views v JOIN fstore.entities e ON e.name = v.entity
             WHERE v.name = ANY (SELECT split_part(r, ':', 1)
                                   FROM unnest(coalesce(%s::text[],
                                        (SELECT s.features FROM fstore.feature_services s WHERE s.name = %s))) r)""",
                    (features, feature_service))
        return {k: (t if t in KEY_TYPES else "text") for k, t in cur.fetchall()}

    def _upload_entities(self, cur, df, key_types):
        """entity_df into a temporary table (COPY); returns its pg_temp-qualified name."""
        df = df.copy()
        df["event_timestamp"] = frames.utc_timestamps(df["event_timestamp"])
        cols = [str(c) for c in df.columns]
        types = [key_types.get(c) or ("timestamptz" if c == "event_timestamp" else frames.sql_type_for(df[c]))
                 for c in cols]
        name = sql.Identifier("pg_temp", "fstore_entities_" + uuid.uuid4().hex)
        cur.execute(sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(name, frames.column_defs(cols, types)))
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(name, sql.SQL(", ").join(map(sql.Identifier, cols)))
        with cur.copy(copy_sql) as copy:
            for row in frames.python_rows(df):
                copy.write_row(row)
        return name

    def _run_training_set(self, entity_df, features, feature_service, full_feature_names, transform, target):
        """Uploads the entity rows, calls fstore.create_training_set, reads the result back typed."""
        def run(cur):
            if isinstance(entity_df, str):
                entity_rows = entity_df
            else:
                table = self._upload_entities(cur, entity_df, self._key_types(cur, features, feature_service))
                entity_rows = table.as_string(cur)
            out = sql.Identifier("pg_temp", "fstore_training_" + uuid.uuid4().hex) if target is None else None
            cur.execute("""SELECT fstore.create_training_set(%s, %s, features => %s, feature_service => %s,
                                   full_feature_names => %s, transform => %s)""",
                        (out.as_string(cur) if out else target, entity_rows, features, feature_service,
                         full_feature_names, transform))
            count = cur.fetchone()[0]
            if out is None:
                return count
            cur.execute(sql.SQL("SELECT * FROM {}").format(out))
            rows = cur.fetchall()
            result = frames.typed_frame([d.name for d in cur.description], [d.type_code for d in cur.description], rows)
            cur.execute(sql.SQL("DROP TABLE {}").format(out))
            return result
        return self._sql(run)

    # --- ingestion --------------------------------------------------------------------------

    def ingest(self, view, df, on_error="raise"):
        """Stores df's rows in the view's offline table, validated by its constraints; the online
        store follows through the sync. Columns: the join key, event_ts (or event_timestamp),
        features, optional created_ts. on_error='raise' streams with COPY (all or nothing);
        'reject' goes through fstore.ingest, keeping bad rows in fstore.rejected_rows. Returns the
        rows loaded."""
        if on_error not in ("raise", "reject"):
            raise FstoreError("on_error must be 'raise' or 'reject'")
        if "event_timestamp" in df.columns and "event_ts" not in df.columns:
            df = df.rename(columns={"event_timestamp": "event_ts"})
        if on_error == "reject":
            rows = df.to_json(orient="records", date_format="iso", date_unit="us")
            return self._sql(lambda cur: cur.execute("SELECT fstore.ingest(%s, %s::jsonb, 'reject')",
                                                     (view, rows)).fetchone()[0])

        def run(cur):
            cur.execute("""SELECT n.nspname, c.relname FROM fstore.feature_views v
                             JOIN pg_catalog.pg_class c ON c.oid = v.table_name
                             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE v.name = %s""", (view,))
            found = cur.fetchone()
            if not found:
                raise SQLError(f'feature view "{view}" does not exist', "42704")
            table = sql.Identifier(*found)
            cols = sql.SQL(", ").join(sql.Identifier(str(c)) for c in df.columns)
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, cols)) as copy:
                for row in frames.python_rows(df):
                    copy.write_row(row)
            return len(df)
        return self._sql(run)

    def write_to_offline_store(self, feature_view_name, df, allow_registry_cache=True, reorder_columns=True):
        """Feast's name for ingest(); in fstore the online store follows on its own."""
        return self.ingest(feature_view_name, df)

    def materialize(self, start_date, end_date, feature_views=None):
        """Feast's materialize: queues the latest values of entities with events in the range for
        the online store (fstore.materialize per view; ingestion reaches Redis without it)."""
        views = feature_views or [v.name for v in self.list_feature_views() if v.online]
        return {v: self._sql(lambda cur, v=v: cur.execute("SELECT fstore.materialize(%s, %s, %s)",
                                                          (v, start_date, end_date)).fetchone()[0]) for v in views}

    # --- catalog ----------------------------------------------------------------------------

    @staticmethod
    def _has_tags(obj, tags):
        return not tags or all(t in obj.tags for t in tags)

    def list_entities(self, tags=None):
        """Every entity, by name (tags: keep those having all of them)."""
        rows = self._query("""SELECT name, join_key, key_type::text AS key_type, description, owner, tags
                                FROM fstore.entities ORDER BY name""")
        out = [Entity(r["name"], r["join_key"], r["key_type"], r["description"], r["owner"], list(r["tags"] or []))
               for r in rows]
        return [e for e in out if self._has_tags(e, tags)]

    def list_feature_views(self, tags=None):
        """Every feature view, by name, with its non-archived features in column order."""
        views = self._query("""SELECT v.name, v.entity, e.join_key, v.table_name::text AS table_name,
                                      extract(epoch FROM v.ttl)::float8 AS ttl_seconds, v.online, v.version,
                                      v.description, v.owner, v.tags
                                 FROM fstore.feature_views v JOIN fstore.entities e ON e.name = v.entity
                                ORDER BY v.name""")
        feats = self._query("""SELECT view, name, type::text AS type, description, tags, status, validation, expression
                                 FROM fstore.features WHERE status <> 'archived' ORDER BY view, position""")
        by_view = {}
        for f in feats:
            by_view.setdefault(f["view"], []).append(
                Field(f["name"], f["type"], f["description"], list(f["tags"] or []), f["status"],
                      f["validation"], f["expression"]))
        out = [FeatureView(v["name"], v["entity"], v["join_key"], by_view.get(v["name"], []),
                           None if v["ttl_seconds"] is None else timedelta(seconds=v["ttl_seconds"]),
                           v["online"], v["version"], v["table_name"], v["description"], v["owner"],
                           list(v["tags"] or [])) for v in views]
        return [v for v in out if self._has_tags(v, tags)]

    def list_feature_services(self, tags=None):
        """Every feature service, by name."""
        rows = self._query("SELECT name, features, description, owner, tags FROM fstore.feature_services ORDER BY name")
        out = [FeatureService(r["name"], list(r["features"]), r["description"], r["owner"], list(r["tags"] or []))
               for r in rows]
        return [s for s in out if self._has_tags(s, tags)]

    def _one(self, items, name, kind):
        for item in items:
            if item.name == name:
                return item
        raise SQLError(f'{kind} "{name}" does not exist', "42704")

    def get_feature_view(self, name):
        """One feature view by name (SQLError 42704 when unknown)."""
        return self._one(self.list_feature_views(), name, "feature view")

    def get_entity(self, name):
        """One entity by name (SQLError 42704 when unknown)."""
        return self._one(self.list_entities(), name, "entity")

    def get_feature_service(self, name):
        """One feature service by name (SQLError 42704 when unknown)."""
        return self._one(self.list_feature_services(), name, "feature service")

    # --- online -----------------------------------------------------------------------------

    def get_online_features(self, features=None, entity_rows=None, full_feature_names=False,
                            feature_service=None, transform=None):
        """Latest values from the online store (Feast's get_online_features), through
        POST /get-online-features, in batches of online_batch_size entity rows."""
        if isinstance(features, FeatureService):
            features, feature_service = None, features.name
        if (features is None) == (feature_service is None):
            raise FstoreError("give exactly one of features and feature_service")
        rows = list(entity_rows or [])
        if not rows:
            raise FstoreError("entity_rows must hold at least one row")
        keys = list(rows[0].keys())
        if any(list(r.keys()) != keys and set(r.keys()) != set(keys) for r in rows):
            raise FstoreError("every entity row must have the same join keys")
        body = {"feature_service": feature_service} if feature_service else {"features": list(features)}
        if full_feature_names:
            body["full_feature_names"] = True
        if transform is not None:
            body["transform"] = str(transform)
        answers = []
        for i in range(0, len(rows), self._batch):
            chunk = rows[i:i + self._batch]
            body["entities"] = {k: [r[k] for r in chunk] for k in keys}
            answers.append(self._post("/get-online-features", body))
        return OnlineResponse.merge(answers)

    def _post(self, path, body):
        """POSTs JSON to the server; an error answer becomes HTTPError with the server's code."""
        if not self._server:
            raise FstoreError("no server URL: pass server= or set FSTORE_SERVER")
        try:
            r = self._http.post(self._server + path, json=body, timeout=self._timeout)
        except requests.RequestException as e:
            raise FstoreError(f"fstore-server at {self._server} is not reachable: {e}") from e
        try:
            answer = r.json()
        except ValueError:
            answer = None
        if r.status_code != 200:
            err = (answer or {}).get("error", {}) if isinstance(answer, dict) else {}
            raise HTTPError(err.get("message") or r.text[:200], r.status_code, err.get("code"))
        return answer
