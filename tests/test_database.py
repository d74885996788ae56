"""SQLite set up for concurrent use: WAL, busy timeout, foreign keys, and write
transactions that take the lock when they begin."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from research_repo.db import SQLITE_BUSY_TIMEOUT_MS


@pytest.mark.sqlite_only("its pragmas")
def test_sqlite_pragmas(db):
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def _counter(db):
    with db.writing() as s:
        s.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        s.execute(text("INSERT INTO counter VALUES (0)"))


@pytest.mark.sqlite_only("a deferred transaction that read a stale snapshot cannot write in WAL mode")
def test_deferred_read_then_write_fails_under_concurrency(db):
    """Why write sessions exist: two deferred transactions that read, then write, collide."""
    _counter(db)
    a, b = db.read_session(), db.read_session()
    try:
        a.execute(text("SELECT n FROM counter")).scalar_one()
        b.execute(text("SELECT n FROM counter")).scalar_one()
        a.execute(text("UPDATE counter SET n = n + 1"))
        a.commit()
        # b's snapshot is stale: SQLite refuses at once, whatever the busy timeout.
        with pytest.raises(OperationalError, match="locked"):
            b.execute(text("UPDATE counter SET n = n + 1"))
    finally:
        a.close()
        b.close()


def test_write_sessions_serialize_read_then_write(db):
    """Eight threads each read the counter and write it back +1: no error, no lost update."""
    _counter(db)
    errors = []

    def bump():
        try:
            with db.writing() as s:
                n = s.execute(text("SELECT n FROM counter")).scalar_one()
                time.sleep(0.01)  # widen the window a deferred transaction would lose in
                s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read_session() as s:
        assert s.execute(text("SELECT n FROM counter")).scalar_one() == 8


def test_a_writer_that_begins_again_at_once_does_not_starve_another(db):
    """An import stores chunk after chunk, each commit followed at once by the next BEGIN. With
    SQLite's polling wait, an upload waiting meanwhile took the lock only when a poll fell in a
    gap, and waited behind the whole import; writers of one process now take turns in order."""
    _counter(db)
    order: list[str] = []
    started = threading.Event()

    def bulk() -> None:
        for i in range(40):
            with db.writing() as s:
                s.execute(text("UPDATE counter SET n = n + 1"))
                order.append(f"bulk{i}")
                started.set()
                time.sleep(0.02)  # a chunk's inserts

    def upload() -> None:
        started.wait(5)
        time.sleep(0.05)  # arrives while a chunk is being stored
        with db.writing() as s:
            s.execute(text("UPDATE counter SET n = n + 1000"))
            order.append("upload")

    threads = [threading.Thread(target=bulk), threading.Thread(target=upload)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert "upload" in order and len(order) == 41
    # Behind the chunk it found (about the third) and at most one more, not behind all forty.
    assert order.index("upload") <= 6, order
    with db.read_session() as s:
        assert s.execute(text("SELECT n FROM counter")).scalar_one() == 1040


def test_a_write_session_inside_another_in_one_thread_fails_as_before(db):
    """The gate is not re-entered: a second write transaction in the thread that holds the lock
    gets the database's own answer after its busy timeout (SQLite: "database is locked";
    PostgreSQL: the advisory lock's "lock timeout"), not a wait that never ends."""
    from research_repo.db import Database

    quick = Database(db.url, busy_timeout_ms=200)
    try:
        with quick.writing() as outer:
            outer.execute(text("CREATE TABLE t (n INTEGER)"))
            started = time.monotonic()
            with pytest.raises(OperationalError, match="locked|lock timeout"):
                with quick.writing() as inner:
                    inner.execute(text("INSERT INTO t VALUES (1)"))
            assert time.monotonic() - started < 5
        with quick.writing() as again:  # the gate was left open
            again.execute(text("INSERT INTO t VALUES (2)"))
    finally:
        quick.dispose()


def test_readers_do_not_wait_for_a_writer(db):
    _counter(db)
    writer = db.write_session()
    try:
        writer.execute(text("UPDATE counter SET n = 5"))  # holds the write lock, uncommitted
        started = time.monotonic()
        with db.read_session() as reader:
            assert reader.execute(text("SELECT n FROM counter")).scalar_one() == 0
        assert time.monotonic() - started < 1.0
    finally:
        writer.rollback()
        writer.close()


def test_foreign_keys_cascade(db, make_user, make_study):
    from research_repo.models import Passage, Source, SourceKind, Study

    owner = make_user("owner")
    study = make_study("Cascade study", owner)
    with db.writing() as s:
        source = Source(study_id=study.id, kind=SourceKind.INTERVIEW, title="t", content_sha256="0" * 64)
        s.add(source)
        s.flush()
        s.add(Passage(source_id=source.id, position=0, text="x", start_offset=0, end_offset=1))
    with db.writing() as s:
        s.delete(s.get(Study, study.id))
    with db.read_session() as s:
        assert s.query(Source).count() == 0
        assert s.query(Passage).count() == 0
