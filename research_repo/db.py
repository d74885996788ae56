"""Engine, sessions and the declarative base; imports nothing else from the app."""
from __future__ import annotations

import collections
import sqlite3
import threading
from contextlib import contextmanager
from collections.abc import Iterator

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Stable constraint names so Alembic batch mode on SQLite can drop and recreate them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


SQLITE_BUSY_TIMEOUT_MS = 15_000
# On PostgreSQL every write transaction takes this advisory lock (transaction-scoped) first:
# one writer at a time, as SQLite's BEGIN IMMEDIATE gives, which the services were written for
# (a read that decides a write: failed sign-ins against their limit, "is a theme run already
# queued", the next title, "is this file already stored"). Without it, READ COMMITTED let
# 12 concurrent wrong passwords all pass a limit of 5.
PG_WRITE_LOCK = 0x72725F7772697465  # "rr_write"
# Tables that hold respondents' (de-identified) words, rewritten after a redaction or a delete
# on PostgreSQL (Database.checkpoint).
TEXT_TABLES = ("source", "passage", "highlight")


def make_engine(url: str, *, echo: bool = False, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """Create the engine for ``url``; SQLite gets WAL, a busy timeout and explicit BEGINs, and
    write transactions on either database wait for the one writer before them."""
    if not url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, pool_pre_ping=True, future=True)

        @event.listens_for(engine, "begin")
        def _pg_begin(conn) -> None:
            if conn.get_execution_options().get("writes"):
                # Waits as long as SQLite's busy timeout, then fails as a lock wait does
                # (OperationalError), instead of waiting for ever (a writer inside a writer).
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(busy_timeout_ms)}")
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})")

        return engine

    engine = create_engine(
        url,
        echo=echo,
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_conn: sqlite3.Connection, _record) -> None:
        # Take transaction control away from pysqlite so we can say BEGIN IMMEDIATE ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        # Deleted or overwritten content is zeroed, not left in free pages: a value a researcher
        # redacts by hand must not stay readable in the file.
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    gate = WriteGate(busy_timeout_ms / 1000)

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn) -> None:
        # A deferred transaction that reads and then writes cannot wait for the lock
        # (SQLite answers SQLITE_BUSY at once to avoid deadlock), so write sessions
        # take the write lock when they begin; read sessions stay deferred and never block.
        mode = "IMMEDIATE" if conn.get_execution_options().get("writes") else "DEFERRED"
        gated = mode == "IMMEDIATE" and gate.enter()
        try:
            conn.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            if gated:
                gate.leave()
            raise
        if gated:
            conn.info["write_gate"] = True

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _sqlite_end(conn) -> None:
        if conn.info.pop("write_gate", False):
            gate.leave()

    return engine


class WriteGate:
    """This process's writers take SQLite's write lock in the order they asked for it.

    SQLite's own wait for a busy lock is polling: a waiter sleeps up to 100 ms between tries,
    so a thread that commits and begins again at once (an import storing chunk after chunk)
    takes the lock back before the sleepers wake, and an upload waited behind many chunks.
    Here a writer queues first: the one that just committed goes behind those already waiting.
    SQLite's lock still decides between processes (``serve`` beside a ``worker``). A thread
    that already holds the gate, or one that waited the whole busy timeout, goes straight to
    SQLite, which then answers as it did without the gate ("database is locked")."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._cond = threading.Condition(threading.Lock())
        self._queue: collections.deque[object] = collections.deque()
        self._holder: int | None = None

    def enter(self) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._holder == me:
                return False
            ticket = object()
            self._queue.append(ticket)
            if not self._cond.wait_for(lambda: self._holder is None and self._queue[0] is ticket, self._timeout):
                self._queue.remove(ticket)
                if self._holder not in {t.ident for t in threading.enumerate()}:
                    self._holder = None  # its thread ended inside a transaction: free the gate
                self._cond.notify_all()
                return False
            self._queue.popleft()
            self._holder = me
            return True

    def leave(self) -> None:
        with self._cond:
            self._holder = None
            self._cond.notify_all()


class Database:
    """Holds the engine and the two session factories (read and write)."""

    def __init__(self, url: str, *, echo: bool = False, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo, busy_timeout_ms=busy_timeout_ms)
        self.is_sqlite = url.startswith("sqlite")
        write_bind = self.engine.execution_options(writes=True)
        self.read_session = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.write_session = sessionmaker(bind=write_bind, expire_on_commit=False)

        @event.listens_for(self.write_session, "after_flush")
        def _wrote(session, _context) -> None:
            session.info["wrote"] = True

        @event.listens_for(self.write_session, "after_transaction_end")
        def _ended(session, transaction) -> None:
            if transaction.parent is None:  # the outermost transaction, not a savepoint
                session.info.pop("wrote", None)

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write session that commits on success and rolls back on error."""
        session = self.write_session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def checkpoint(self, tables: tuple[str, ...] = TEXT_TABLES) -> None:
        """Make text that was just overwritten or deleted (a redaction, a deleted source) leave
        the database's files.

        SQLite: ``secure_delete`` zeroes it in the file; this copies the WAL into the file and
        empties it, so it no longer lingers in old WAL frames.

        PostgreSQL: an old row version stays in the table's file until VACUUM, and a plain VACUUM
        still left 54 of 167 overwritten values readable in free space (and a GIN index keeps
        its words), so the touched tables are rewritten (``VACUUM FULL``), which locks each one
        for as long as the rewrite takes. The server's write-ahead log, its archives and
        backups still hold the old value until they are recycled (README, "Redaction")."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                return
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM runs outside a transaction
            for table in tables:
                conn.exec_driver_sql(f'VACUUM FULL "{table}"')

    def dispose(self) -> None:
        self.engine.dispose()
