"""Helpers shared by tests: credentials, reading the CSRF token, signing in, settling background work."""
from __future__ import annotations

import re
import zlib
from pathlib import Path

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery staple"


# The four zlib headers (window 32 KB; levels fastest, fast, default, best).
_ZLIB_HEADERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")


def stored_bytes(path: Path) -> bytes:
    """A file's bytes, followed by every zlib stream found in it, inflated. Whoosh keeps each
    passage's stored text deflated (and its term dictionary lower-cased and stemmed), so a
    search of the raw bytes would miss "Maria Alvarez" in an index file that holds it."""
    data = Path(path).read_bytes()
    parts = [data]
    at = data.find(b"\x78")
    while at != -1:
        if data[at:at + 2] in _ZLIB_HEADERS:
            inflater = zlib.decompressobj()
            try:
                inflated = inflater.decompress(data[at:], 64 << 20)
            except zlib.error:
                inflated = b""
            if inflated and inflater.eof:
                parts.append(inflated)
        at = data.find(b"\x78", at + 1)
    return b"\n".join(parts)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(page.get_data(as_text=True))})


def settle(app) -> None:
    """Let the background work a running server would do finish: web imports, queued jobs
    (theme runs, placing new passages into themes) and the index outbox, until none is left."""
    from research_repo import jobs
    from research_repo.search import indexer

    jobs.wait_background(app)
    while True:
        ran = jobs.Worker(app, poll_seconds=0).run(until_idle=True)
        drained = indexer.drain_all(app)
        if not ran and not drained:
            return


def try_write_lock(db) -> bool:
    """Whether another connection could take the one-writer lock at once, without waiting:
    SQLite's write lock (BEGIN IMMEDIATE), or on PostgreSQL the advisory lock write sessions take
    (``db.PG_WRITE_LOCK``)."""
    import sqlite3

    if db.is_sqlite:
        other = sqlite3.connect(db.url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            other.close()
    from research_repo.db import PG_WRITE_LOCK

    with db.engine.connect() as conn:
        took = conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({PG_WRITE_LOCK})").scalar()
        conn.rollback()
    return bool(took)


BACKEND_NAMES = ("whoosh", "postgres")


def make_backend(name: str, index_dir, database_url: str | None, *, time_limit: float = 5.0):
    """A search back end of its own for a test: Whoosh in ``index_dir``, or PostgreSQL's full text
    in ``database_url`` (skipped when the suite runs on SQLite). Returns (back end, close)."""
    import pytest
    from sqlalchemy import create_engine

    if name == "whoosh":
        from research_repo.search.whoosh_backend import WhooshBackend

        return WhooshBackend(index_dir, time_limit=time_limit), lambda: None
    if not database_url:
        pytest.skip("the postgres back end searches inside PostgreSQL; this run is on SQLite")
    from research_repo.search.postgres_backend import PostgresBackend

    engine = create_engine(database_url)
    return PostgresBackend(engine, time_limit=time_limit), engine.dispose
