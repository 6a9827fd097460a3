"""The fstore client against the real stack: training sets equal the SQL function's, online
answers equal the HTTP route's, ingestion reaches Redis, errors carry SQLSTATEs and HTTP codes,
the catalog matches fstore's views."""
import time
from datetime import timedelta
from decimal import Decimal

import pandas as pd
import pytest

import fstore
from fstore import FeatureStore, HTTPError, SQLError

REGISTRY = """
SELECT fstore.create_entity('driver', 'driver_id', 'bigint', tags => ARRAY['core']);
SELECT fstore.create_entity('rider', 'rider_id', 'text');
SELECT fstore.create_feature_view('driver_stats', 'driver',
  '[{"name": "conv_rate", "type": "float8", "validation": {"min": 0, "max": 1}},
    {"name": "trips", "type": "int8"}, {"name": "city", "type": "text"},
    {"name": "active", "type": "boolean"}, {"name": "last_seen", "type": "timestamptz"},
    {"name": "score", "type": "numeric"}]', ttl => '2 days', tags => ARRAY['core']);
SELECT fstore.create_feature_view('rider_stats', 'rider', '[{"name": "rating", "type": "float8"}]');
SELECT fstore.create_feature_view('driver_live', 'driver',
  '[{"name": "conv_rate", "type": "float8"}, {"name": "trips", "type": "int8"}, {"name": "city", "type": "text"}]');
INSERT INTO fstore_data.driver_live (driver_id, event_ts, conv_rate, trips, city) VALUES
  (1001, '2024-05-01 12:00+00', 0.55, 7, 'Paris'), (1002, '2024-05-03 09:00+00', NULL, 4, NULL);
SELECT fstore.create_feature_service('live_model', ARRAY['driver_live:trips', 'rider_stats:rating']);
SELECT fstore.create_feature_service('eta_model', ARRAY['driver_stats:conv_rate', 'driver_stats:trips', 'rider_stats:rating']);
INSERT INTO fstore_data.driver_stats (driver_id, event_ts, conv_rate, trips, city, active, last_seen, score) VALUES
  (1001, '2024-05-01 09:00+00', 0.5, 3, 'Paris', true, '2024-05-01 08:59:59.5+00', 1.25),
  (1001, '2024-05-01 12:00+00', 0.55, 7, 'Paris', false, '2024-05-01 11:00+00', 2.5),
  (1002, '2024-05-03 09:00+00', NULL, 4, NULL, NULL, NULL, NULL);
INSERT INTO fstore_data.rider_stats (rider_id, event_ts, rating) VALUES ('r1', '2024-05-01 00:00+00', 4.5);
"""

ENTITY_SQL = """SELECT * FROM (VALUES
  (1001::bigint, 'r1'::text, '2024-05-01 10:00+00'::timestamptz, true),
  (1001, 'r2', '2024-05-01 12:00+00', false),
  (1002, 'r1', '2024-05-04 10:00+00', true),
  (1002, 'r1', '2024-05-07 10:00+00', false),
  (1003, 'r9', '2024-05-01 10:00+00', false)) AS t(driver_id, rider_id, event_timestamp, accepted)"""


def wait_online(stack, view, key, feature, value, seconds=15):
    """Polls GET /features/{view}/{key} until feature has value (the sync is asynchronous); the answer."""
    deadline = time.time() + seconds
    while True:
        r = stack.http("GET", f"/features/{view}/{key}")
        if r.status_code == 200 and r.json()["features"].get(feature) == value:
            return r.json()
        assert time.time() < deadline, f"{view}/{key} not online after {seconds} s: {r.status_code} {r.text}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def store(stack):
    for stmt in REGISTRY.strip().split(";\n"):
        stack.sql(stmt)
    wait_online(stack, "driver_live", 1001, "trips", 7)
    wait_online(stack, "driver_live", 1002, "trips", 4)
    wait_online(stack, "rider_stats", "r1", "rating", 4.5)
    with FeatureStore(pg=stack.pg_url, server=stack.server_url, token=stack.writer) as fs:
        yield fs


def entity_df():
    """The entity rows of ENTITY_SQL as Feast users give them (naive times are UTC)."""
    return pd.DataFrame({
        "driver_id": [1001, 1001, 1002, 1002, 1003],
        "rider_id": ["r1", "r2", "r1", "r1", "r9"],
        "event_timestamp": pd.to_datetime(["2024-05-01 10:00", "2024-05-01 12:00", "2024-05-04 10:00",
                                           "2024-05-07 10:00", "2024-05-01 10:00"]),
        "accepted": [True, False, True, False, False]})


def sql_training_set(stack, name, features_sql):
    """The training set built by fstore.create_training_set in SQL, as rows."""
    stack.sql(f"DROP TABLE IF EXISTS {name}")
    stack.sql(f"SELECT fstore.create_training_set('{name}', $q${ENTITY_SQL}$q$, {features_sql})")
    return stack.sql(f"SELECT * FROM {name}")


def assert_frame_equals_rows(df, rows):
    """Row for row, NULL for NULL (NaN, NA and NaT count as NULL)."""
    assert len(df) == len(rows)
    for got, want in zip(df.astype(object).itertuples(index=False), rows):
        got = [None if pd.isna(v) else v for v in got]
        got = [v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in got]
        assert got == list(want)


def test_historical_features_equal_sql_training_set(store, stack):
    feats = ["driver_stats:conv_rate", "driver_stats:trips", "driver_stats:city", "driver_stats:active",
             "driver_stats:last_seen", "driver_stats:score", "rider_stats:rating"]
    df = store.get_historical_features(entity_df(), features=feats).to_df()
    rows = sql_training_set(stack, "py_ts_1", "features => ARRAY" + repr(feats))
    assert list(df.columns) == ["driver_id", "rider_id", "event_timestamp", "accepted", "conv_rate", "trips",
                                "city", "active", "last_seen", "score", "rating"]
    assert_frame_equals_rows(df, rows)
    dtypes = {c: str(t) for c, t in df.dtypes.items()}
    assert dtypes == {"driver_id": "int64", "rider_id": "string", "event_timestamp": "datetime64[ns, UTC]",
                      "accepted": "bool", "conv_rate": "float64", "trips": "Int64", "city": "string",
                      "active": "boolean", "last_seen": "datetime64[ns, UTC]", "score": "object", "rating": "float64"}
    assert df["score"][0] == Decimal("1.25")
    assert df["last_seen"][0] == pd.Timestamp("2024-05-01 08:59:59.5", tz="UTC")
    assert df["trips"].isna().tolist() == [False, False, False, True, True]


def test_historical_features_by_service_with_full_names(store, stack):
    df = store.get_historical_features(entity_df(), feature_service="eta_model", full_feature_names=True).to_df()
    rows = sql_training_set(stack, "py_ts_2", "feature_service => 'eta_model', full_feature_names => true")
    assert list(df.columns)[-3:] == ["driver_stats__conv_rate", "driver_stats__trips", "rider_stats__rating"]
    assert_frame_equals_rows(df, rows)
    same = store.get_historical_features(entity_df(), features=store.get_feature_service("eta_model"),
                                         full_feature_names=True).to_df()
    pd.testing.assert_frame_equal(df, same)


def test_historical_features_from_sql_and_persist(store, stack):
    df = store.get_historical_features(ENTITY_SQL, features=["driver_stats:trips"]).to_df()
    assert df["trips"].tolist()[:3] == [3, 7, 4]
    stack.sql("DROP TABLE IF EXISTS py_persisted")
    job = store.get_historical_features(entity_df(), features=["driver_stats:trips"])
    assert job.persist("public.py_persisted") == 5
    assert stack.sql("SELECT count(*) FROM py_persisted")[0][0] == 5


def test_historical_errors_carry_sqlstate(store):
    with pytest.raises(SQLError) as e:
        store.get_historical_features(entity_df(), features=["driver_stats:nope"]).to_df()
    assert e.value.sqlstate == "42704"
    with pytest.raises(SQLError) as e:
        store.get_historical_features(entity_df().drop(columns=["driver_id"]), features=["driver_stats:trips"]).to_df()
    assert e.value.sqlstate == "42703"
    with pytest.raises(fstore.FstoreError):
        store.get_historical_features(entity_df(), features=["driver_stats:trips"], feature_service="eta_model")


def test_online_features_equal_http_answer(store, stack):
    feats = ["driver_live:conv_rate", "driver_live:trips", "driver_live:city"]
    rows = [{"driver_id": 1001}, {"driver_id": 1002}, {"driver_id": 4242}]
    resp = store.get_online_features(features=feats, entity_rows=rows)
    raw = stack.http("POST", "/get-online-features",
                     json={"features": feats, "entities": {"driver_id": [1001, 1002, 4242]}}).json()
    want = {n: r["values"] for n, r in zip(raw["metadata"]["feature_names"], raw["results"])}
    assert resp.to_dict() == want
    assert list(want) == ["driver_id", "conv_rate", "trips", "city"]
    assert want["trips"] == [7, 4, None]
    assert resp.statuses()["trips"][2] == "NOT_FOUND"
    with_ts = resp.to_dict(include_event_timestamps=True)
    assert with_ts["trips__ts"][0] == int(pd.Timestamp("2024-05-01 12:00", tz="UTC").timestamp())
    assert resp.to_df()["trips"].tolist()[:2] == [7, 4]
    full = store.get_online_features(feature_service="live_model", full_feature_names=True,
                                     entity_rows=[{"driver_id": 1001, "rider_id": "r1"}]).to_dict()
    assert full["driver_live__trips"] == [7] and full["rider_stats__rating"] == [4.5]


def test_online_batches_and_http_errors(stack):
    fs = FeatureStore(pg=stack.pg_url, server=stack.server_url, token=stack.reader, online_batch_size=2)
    rows = [{"driver_id": k} for k in (1001, 1002, 1001, 4242, 1002)]
    assert fs.get_online_features(["driver_live:trips"], rows).to_dict()["trips"] == [7, 4, 7, None, 4]
    with pytest.raises(HTTPError) as e:
        fs.get_online_features(["driver_live:nope"], rows)
    assert (e.value.status, e.value.code) == (404, "not_found")
    bad = FeatureStore(server=stack.server_url, token="fst_" + "0" * 64)
    with pytest.raises(HTTPError) as e:
        bad.get_online_features(["driver_live:trips"], rows)
    assert (e.value.status, e.value.code) == (401, "unauthorized")
    assert "fst_" not in repr(bad)


def test_ingest_reaches_redis(store, stack):
    now = pd.Timestamp.now(tz="UTC").floor("s")
    df = pd.DataFrame({"driver_id": [2001, 2002], "event_timestamp": [now, now], "conv_rate": [0.75, None],
                       "trips": pd.array([11, None], dtype="Int64"), "city": ["Lyon", None]})
    assert store.ingest("driver_stats", df) == 2
    assert stack.sql("SELECT trips, city FROM fstore_data.driver_stats WHERE driver_id = 2001") == [(11, "Lyon")]
    r = wait_online(stack, "driver_stats", 2001, "trips", 11)
    assert r["features"]["conv_rate"] == 0.75 and r["features"]["city"] == "Lyon"


def test_ingest_bad_rows_raise_with_sqlstate(store, stack):
    now = pd.Timestamp.now(tz="UTC")
    bad = pd.DataFrame({"driver_id": [3001, 3002], "event_ts": [now, now], "conv_rate": [0.1, 7.0]})
    with pytest.raises(SQLError) as e:
        store.ingest("driver_stats", bad)
    assert e.value.sqlstate == "23514" and "conv_rate" in str(e.value)
    assert stack.sql("SELECT count(*) FROM fstore_data.driver_stats WHERE driver_id IN (3001, 3002)")[0][0] == 0
    assert store.ingest("driver_stats", bad, on_error="reject") == 1
    with pytest.raises(SQLError) as e:
        store.ingest("no_such_view", bad)
    assert e.value.sqlstate == "42704"
    with pytest.raises(SQLError) as e:
        store.ingest("driver_stats", bad.assign(bogus=1))
    assert e.value.sqlstate == "42703"


def test_list_feature_views_matches_catalog(store, stack):
    views = store.list_feature_views()
    assert [v.name for v in views] == [r[0] for r in stack.sql("SELECT name FROM fstore.feature_views ORDER BY name")]
    ds = store.get_feature_view("driver_stats")
    assert (ds.entity, ds.entities, ds.join_key, ds.ttl, ds.online) == ("driver", ["driver"], "driver_id", timedelta(days=2), True)
    want = stack.sql("SELECT name, type::text FROM fstore.features WHERE view = 'driver_stats' ORDER BY position")
    assert [(f.name, f.dtype) for f in ds.features] == want
    assert ds.features[0].validation == {"min": 0, "max": 1} and ds.tags == ["core"] and ds.owner == "postgres"
    assert [v.name for v in store.list_feature_views(tags=["core"])] == ["driver_stats"]
    assert store.get_feature_view("rider_stats").ttl is None
    assert [(e.name, e.join_key, e.value_type) for e in store.list_entities()] == [
        ("driver", "driver_id", "bigint"), ("rider", "rider_id", "text")]
    assert store.get_feature_service("eta_model").features == [
        "driver_stats:conv_rate", "driver_stats:trips", "rider_stats:rating"]
    assert store.materialize(pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2025-01-01", tz="UTC"),
                             ["driver_live"]) == {"driver_live": 2}
    with pytest.raises(SQLError) as e:
        store.get_feature_view("nope")
    assert e.value.sqlstate == "42704"


def test_hostile_label_names_pass_through(store):
    hostile = 'a"b; DROP TABLE fstore_data.driver_live; --'
    df = store.get_historical_features(entity_df().assign(**{hostile: [1, 2, 3, 4, 5]}),
                                       features=["driver_live:trips"]).to_df()
    assert df[hostile].tolist() == [1, 2, 3, 4, 5]
    assert store.get_feature_view("driver_live").name == "driver_live"


def test_transforms_fit_then_serve_the_same_values(store, stack):
    stack.sql("""SELECT fstore.set_transforms('live_model', '{"driver_live:trips": {"kind": "standard"}}')""")
    now = pd.Timestamp.now(tz="UTC")
    entities = pd.DataFrame({"driver_id": [1001, 1002], "rider_id": ["r1", "r1"], "event_timestamp": [now, now]})
    fitted = store.get_historical_features(entities, feature_service="live_model", transform="fit").to_df()
    assert fitted["trips"].tolist() == [1.0, -1.0]          # (x - mean) / population stddev of 7 and 4
    latest = store.get_historical_features(entities, feature_service="live_model", transform="latest").to_df()
    online = store.get_online_features(feature_service="live_model", transform="latest",
                                       entity_rows=[{"driver_id": 1001, "rider_id": "r1"},
                                                    {"driver_id": 1002, "rider_id": "r1"}])
    assert online.to_dict()["trips"] == latest["trips"].tolist()
    assert online.metadata.get("transform_version") is not None


def test_naive_times_are_utc(stack):
    stack.sql("ALTER DATABASE fstore_py SET TimeZone = 'America/New_York'")
    try:
        with FeatureStore(pg=stack.pg_url) as fs:
            df = pd.DataFrame({"driver_id": [5001], "event_ts": [pd.Timestamp("2024-06-01 12:00")], "trips": [1]})
            fs.ingest("driver_live", df)
            got = fs.get_historical_features(pd.DataFrame({"driver_id": [5001], "event_timestamp": ["2024-06-01 12:00"]}),
                                             features=["driver_live:trips"]).to_df()
        assert got["trips"].tolist() == [1]
        assert stack.sql("SELECT event_ts = '2024-06-01 12:00+00' FROM fstore_data.driver_live WHERE driver_id = 5001") == [(True,)]
    finally:
        stack.sql("ALTER DATABASE fstore_py RESET TimeZone")
