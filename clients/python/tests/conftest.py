"""The real stack for the client's tests: PostgreSQL (with fstore), Redis and fstore-server with
token auth, started through tests/harness/stack.sh on free loopback ports in a temporary
directory and stopped after the session. Needs the extension installed in the PostgreSQL that
pg_config names and fstore-server built in FSTORE_BUILD_DIR (default build)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import psycopg
import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))
HARNESS = os.path.join(ROOT, "tests", "harness", "stack.sh")
BUILD = os.environ.get("FSTORE_BUILD_DIR", os.path.join(ROOT, "build"))


def harness(*args):
    """Runs stack.sh with the given arguments; its stdout."""
    return subprocess.run([HARNESS, *args], check=True, capture_output=True, text=True).stdout.strip()


class Stack:
    """URLs and tokens of the running stack, plus a superuser connection for checks."""

    def __init__(self, pg_url, server_url, reader, writer):
        self.pg_url, self.server_url, self.reader, self.writer = pg_url, server_url, reader, writer

    def sql(self, query, params=None):
        """Runs one statement as the superuser; the rows when it returns any."""
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    def http(self, method, path, token=None, **kw):
        """One request to fstore-server with a token (the reader's by default)."""
        headers = {"Authorization": f"Bearer {token or self.reader}"}
        return requests.request(method, self.server_url + path, headers=headers, timeout=10, **kw)


@pytest.fixture(scope="session")
def stack():
    work = tempfile.mkdtemp(prefix="fstore-py-")
    os.chmod(work, 0o755)
    pg_dir, redis_dir = os.path.join(work, "pg"), os.path.join(work, "redis")
    server = None
    try:
        pg_port, redis_port, http_port = harness("free-port"), harness("free-port"), harness("free-port")
        harness("pg-start", pg_dir, pg_port)
        harness("redis-start", redis_dir, redis_port)
        base = f"postgresql://postgres@127.0.0.1:{pg_port}"
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE fstore_py")
        pg_url = base + "/fstore_py"
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION fstore")
            reader = conn.execute("SELECT fstore.create_api_token('py_reader', 'reader')").fetchone()[0]
            writer = conn.execute("SELECT fstore.create_api_token('py_writer', 'writer')").fetchone()[0]
        log = open(os.path.join(work, "server.log"), "w")
        server = subprocess.Popen([os.path.join(BUILD, "fstore-server"), "--pg", pg_url, "--redis",
                                   f"redis://127.0.0.1:{redis_port}", "--listen", f"127.0.0.1:{http_port}"],
                                  stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{http_port}"
        for _ in range(200):
            try:
                if requests.get(url + "/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None:
                break
            time.sleep(0.1)
        else:
            pytest.fail("fstore-server did not become ready: " + open(log.name).read()[-2000:])
        if server.poll() is not None:
            pytest.fail("fstore-server exited: " + open(log.name).read()[-2000:])
        yield Stack(pg_url, url, reader, writer)
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        subprocess.run([HARNESS, "redis-stop", redis_dir], check=False)
        subprocess.run([HARNESS, "pg-stop", pg_dir, "immediate"], check=False)
        shutil.rmtree(work, ignore_errors=True)
