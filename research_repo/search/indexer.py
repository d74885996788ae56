"""The one index writer: drains the outbox into the index in batches, rebuilds a missing or
unreadable index from the database, and runs as a thread next to the job worker.

Order of work per batch: read outbox rows, write the index, commit it, then delete those
outbox rows. A crash in between repeats the batch, which is harmless (upserts replace).
"""
from __future__ import annotations

import logging
import threading
import time

from flask import Flask
from sqlalchemy import delete, func, select

from ..extensions import get_db
from ..models import IndexOutbox, OutboxOp, Passage
from . import backend
from .documents import all_documents, documents

log = logging.getLogger(__name__)


def drain(app: Flask, *, batch: int = 2000, blocking: bool = False) -> int:
    """Apply up to ``batch`` outbox rows; returns how many were applied (0: nothing to do or
    another writer is busy)."""
    engine = backend(app)
    db = get_db(app)
    with engine.writer_lock(blocking=blocking) as locked:
        if not locked:
            return 0
        if not engine.exists():
            _rebuild_locked(app)
            return 1
        with db.read_session() as session:
            rows = session.execute(select(IndexOutbox.id, IndexOutbox.passage_id, IndexOutbox.op)
                                   .order_by(IndexOutbox.id).limit(batch)).all()
            if not rows:
                return 0
            last_op: dict[int, OutboxOp] = {}
            for _id, passage_id, op in rows:
                last_op[passage_id] = op  # the latest change to a passage wins
            upsert_ids = [pid for pid, op in last_op.items() if op is OutboxOp.UPSERT]
            docs = documents(session, upsert_ids)
            found = {d["passage_id"] for d in docs}
            # An upsert whose passage is gone by now is a delete.
            deletes = [pid for pid, op in last_op.items() if op is OutboxOp.DELETE or pid not in found]
        _vectorize(app, [pid for pid in upsert_ids if pid in found])
        if any(op is OutboxOp.DELETE for _id, _pid, op in rows):
            # Text must leave the index files, not only the results. Whoosh's optimize drops
            # deleted documents but keeps their terms in the term dictionary (a redacted name
            # would stay readable there), so a delete or a redaction rebuilds from the database.
            _rebuild_locked(app)
            return len(rows)
        try:
            engine.apply(docs, deletes)
        except Exception as exc:  # noqa: BLE001 - unreadable index: rebuild it from the database
            log.error("index write failed (%s); rebuilding from the database", type(exc).__name__)
            _rebuild_locked(app)
        with db.writing() as session:
            session.execute(delete(IndexOutbox).where(IndexOutbox.id <= rows[-1][0]))
        return len(rows)


def _vectorize(app: Flask, passage_ids: list[int]) -> None:
    """Theme vectors for new and changed passages, computed once here, in the worker, and new
    passages placed in their study's accepted themes. A failure is logged and leaves those
    passages to the next theme run, which vectorizes what lacks a vector."""
    from ..services import themes

    if not passage_ids:
        return
    try:
        with get_db(app).writing() as session:
            themes.vectorize_stored(session, passage_ids, app.config["THEME_VECTORS"])
            themes.assign_new(session, passage_ids)
    except Exception as exc:  # noqa: BLE001 - indexing must go on
        log.error("theme vectors not stored for %d passages (%s)", len(passage_ids), type(exc).__name__)


def drain_all(app: Flask) -> int:
    """Drain until the outbox is empty (tests, `reindex --drain`)."""
    total = 0
    while (n := drain(app, blocking=True)) > 0:
        total += n
    return total


def rebuild(app: Flask, *, procs: int = 1) -> int:
    """Rebuild the index from the database into a new directory and swap it in."""
    with backend(app).writer_lock(blocking=True):
        return _rebuild_locked(app, procs=procs)


def _rebuild_locked(app: Flask, *, procs: int = 1) -> int:
    db = get_db(app)
    with db.read_session() as session:
        # Outbox rows written before this point are reflected in what we read; they can go
        # once the new index is in place. Later rows stay for the next drain.
        high_water = session.scalar(select(func.max(IndexOutbox.id))) or 0
        count = backend(app).rebuild(all_documents(session), procs=procs)
    with db.writing() as session:
        session.execute(delete(IndexOutbox).where(IndexOutbox.id <= high_water))
    log.info("search index rebuilt: %d passages", count)
    return count


def pending(app: Flask) -> int:
    with get_db(app).read_session() as session:
        return session.scalar(select(func.count()).select_from(IndexOutbox))


def consistency(app: Flask) -> tuple[set[int], set[int]]:
    """(passage ids in the database but not the index, ids in the index but not the database)."""
    with get_db(app).read_session() as session:
        in_db = set(session.scalars(select(Passage.id)))
    in_index = backend(app).passage_ids()
    return in_db - in_index, in_index - in_db


class IndexWriterThread:
    """Polls the outbox and drains it; one per process that writes (serve, worker)."""

    def __init__(self, app: Flask, *, poll_seconds: float = 0.2) -> None:
        self.app = app
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> IndexWriterThread:
        self.thread = threading.Thread(target=self._run, name="research-repo-index-writer", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.thread:
            self.thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self.app.app_context():
                    done = drain(self.app)
            except Exception as exc:  # noqa: BLE001 - keep the writer alive; log the type only
                log.error("index writer: %s", type(exc).__name__)
                done = 0
                time.sleep(1.0)
            if not done:
                self._stop.wait(self.poll_seconds)
