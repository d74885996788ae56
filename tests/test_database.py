"""SQLite set up for concurrent use: WAL, busy timeout, foreign keys, and write
transactions that take the lock when they begin."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from research_repo.db import SQLITE_BUSY_TIMEOUT_MS


def test_sqlite_pragmas(db):
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def _counter(db):
    with db.writing() as s:
        s.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        s.execute(text("INSERT INTO counter VALUES (0)"))


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
