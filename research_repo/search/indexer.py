"""The one index writer: drains the outbox (``services.outbox``) into the index in batches,
rebuilds a missing or unreadable index from the database, and runs as a thread next to the
job worker. It writes nothing but the index and the outbox rows it consumed.

Order of work per batch: read outbox rows, write the index, commit it, then delete exactly
the rows read. A crash in between repeats the batch, which is harmless (upserts replace).
Deleting "every id up to the last one read" would lose a row whose transaction took a lower
id and committed during the drain (ids are taken at INSERT, visible at COMMIT).
"""
from __future__ import annotations

import logging
import threading
import time

from flask import Flask
from sqlalchemy import delete, false, func, select, true

from ..extensions import get_db
from ..models import IndexOutbox, OutboxOp, Passage
from . import backend
from .documents import all_documents, documents

log = logging.getLogger(__name__)


def drain(app: Flask, *, batch: int = 2000, bulk_batch: int = 500, blocking: bool = False,
          stats: dict | None = None) -> int:
    """Apply up to ``batch`` outbox rows that people are waiting for, or when there are none,
    up to ``bulk_batch`` rows of bulk work (an import's, a theme run's): so an upload made
    during a 20,000-record import waits for one small bulk batch at most, not for the whole
    import. Returns how many were applied (0: nothing to do or another writer is busy);
    ``stats["bulk"]`` is set when they were bulk rows."""
    engine = backend(app)
    db = get_db(app)
    with engine.writer_lock(blocking=blocking) as locked:
        if not locked:
            return 0
        if not engine.exists():
            _rebuild_locked(app)
            return 1
        with db.read_session() as session:
            wanted = select(IndexOutbox.id, IndexOutbox.passage_id, IndexOutbox.op).order_by(IndexOutbox.id)
            rows = session.execute(wanted.where(IndexOutbox.bulk == false()).limit(batch)).all()
            if not rows:
                rows = session.execute(wanted.where(IndexOutbox.bulk == true()).limit(bulk_batch)).all()
                if stats is not None:
                    stats["bulk"] = bool(rows)
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
        read = [row_id for row_id, _pid, _op in rows]
        # Deleted or redacted (a redaction writes a delete, then an upsert of the new text).
        removed = sorted({pid for _id, pid, op in rows if op is OutboxOp.DELETE})
        try:
            engine.apply(docs, deletes)
        except Exception as exc:  # noqa: BLE001 - unreadable index: rebuild it from the database
            log.error("index write failed (%s); rebuilding from the database", type(exc).__name__)
            _rebuild_locked(app, consumed=read)
            return len(rows)
        if removed:
            # Their old words leave the index's files, not only the results (Whoosh: the
            # segments that held them are rewritten; PostgreSQL: its two tables), before the
            # outbox rows go: a crash here repeats the batch and the purge.
            engine.purge(removed)
        _consume(db, read)
        return len(rows)


def _consume(db, row_ids: list[int]) -> None:
    with db.writing() as session:
        for i in range(0, len(row_ids), 500):
            session.execute(delete(IndexOutbox).where(IndexOutbox.id.in_(row_ids[i:i + 500])))


def drain_all(app: Flask) -> int:
    """Drain until the outbox is empty (tests, and `reindex` before it checks)."""
    total = 0
    while (n := drain(app, blocking=True)) > 0:
        total += n
    return total


def rebuild(app: Flask, *, procs: int = 1) -> int:
    """Rebuild the index from the database into a new directory and swap it in."""
    with backend(app).writer_lock(blocking=True):
        return _rebuild_locked(app, procs=procs)


def _rebuild_locked(app: Flask, *, procs: int = 1, consumed: list[int] | None = None) -> int:
    db = get_db(app)
    with db.read_session() as session:
        # The outbox rows this read's snapshot sees are reflected in what it reads; they go
        # once the new index is in place. Rows committed later stay for the next drain.
        seen = set(session.scalars(select(IndexOutbox.id)))
        count = backend(app).rebuild(all_documents(session), procs=procs)
    _consume(db, sorted(seen | set(consumed or ())))
    log.info("search index rebuilt: %d passages", count)
    return count


def behind(app: Flask, older_than_seconds: float = 60.0) -> int:
    """Index changes waiting longer than ``older_than_seconds``: results may be missing them."""
    from datetime import UTC, datetime, timedelta

    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
    with get_db(app).read_session() as session:
        return session.scalar(select(func.count()).select_from(IndexOutbox).where(IndexOutbox.created_at < cutoff))


def pending(app: Flask) -> int:
    with get_db(app).read_session() as session:
        return session.scalar(select(func.count()).select_from(IndexOutbox))


def consistency(app: Flask) -> tuple[set[int], set[int]]:
    """(passage ids in the database but not the index, ids in the index but not the database)."""
    with get_db(app).read_session() as session:
        in_db = set(session.scalars(select(Passage.id)))
    in_index = backend(app).passage_ids()
    return in_db - in_index, in_index - in_db


BULK_BATCH_SECONDS = 0.5


def next_bulk_batch(current: int, applied: int, seconds: float, *, target: float = BULK_BATCH_SECONDS) -> int:
    """The next bulk batch size: as many rows as the last batch's rate applies in ``target``
    seconds (halfway there from ``current``, between 50 and 2,000). An upload arriving during
    an import waits for the bulk batch in hand, so that batch should take about as long on a
    busy machine as on an idle one, not a fixed number of rows."""
    wanted = applied / max(seconds, 1e-3) * target
    return int(min(2000, max(50, (current + wanted) / 2)))


class IndexWriterThread:
    """Polls the outbox and drains it; one per process that writes (serve, worker). Bulk rows
    go in batches sized to take about ``BULK_BATCH_SECONDS`` each (``next_bulk_batch``)."""

    def __init__(self, app: Flask, *, poll_seconds: float = 0.2) -> None:
        self.app = app
        self.poll_seconds = poll_seconds
        self.bulk_batch = 500
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
        failures = 0
        while not self._stop.is_set():
            try:
                stats: dict = {}
                started = time.monotonic()
                with self.app.app_context():
                    done = drain(self.app, bulk_batch=self.bulk_batch, stats=stats)
                if stats.get("bulk"):
                    self.bulk_batch = next_bulk_batch(self.bulk_batch, done, time.monotonic() - started)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - keep the writer alive; log the type only
                # A full or read-only disk fails every rebuild: wait longer each time (up to a
                # minute), and start again at once when one succeeds.
                failures += 1
                wait = min(2.0 ** failures, 60.0)
                log.error("index writer: %s; trying again in %.0f s", type(exc).__name__, wait)
                self._stop.wait(wait)
                continue
            if not done:
                self._stop.wait(self.poll_seconds)
