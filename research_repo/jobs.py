"""Background jobs in a database table: enqueue in the caller's transaction, claim one at a
time, record progress, finish or fail with a message. An embedded worker thread serves one
machine; `research-repo worker` processes scale out (PostgreSQL claims with SKIP LOCKED)."""
from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from datetime import datetime, UTC
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .extensions import get_db
from .models import Job, JobStatus, User

log = logging.getLogger(__name__)

_HANDLERS_KEY = "research_repo.job_handlers"


class JobContext:
    """What a handler gets: its job id, a way to report progress, and the app."""

    def __init__(self, app: Flask, job_id: int, payload: dict) -> None:
        self.app = app
        self.job_id = job_id
        self.payload = payload

    def progress(self, done: int, total: int | None = None) -> None:
        # Its own short transaction, so progress is visible while the job runs.
        with get_db(self.app).writing() as session:
            values = {"progress_done": done, "heartbeat_at": _now()}
            if total is not None:
                values["progress_total"] = total
            session.execute(update(Job).where(Job.id == self.job_id).values(**values))


Handler = Callable[[JobContext], None]


def _now() -> datetime:
    return datetime.now(UTC)


def handlers(app: Flask) -> dict[str, Handler]:
    return app.extensions.setdefault(_HANDLERS_KEY, {})


def register(app: Flask, kind: str, handler: Handler) -> None:
    handlers(app)[kind] = handler


def enqueue(
    session: Session, kind: str, payload: dict, *, study_id: int | None = None, actor: User | None = None
) -> Job:
    """Add a job in the caller's transaction; it runs once that transaction commits."""
    job = Job(kind=kind, payload=payload, study_id=study_id, created_by_id=actor.id if actor else None)
    session.add(job)
    session.flush()
    return job


def claim_next(app: Flask, worker: str) -> Job | None:
    db = get_db(app)
    with db.writing() as session:
        query = select(Job).where(Job.status == JobStatus.QUEUED).order_by(Job.id).limit(1)
        if not db.is_sqlite:
            # Many workers on PostgreSQL: each skips rows another has locked.
            query = query.with_for_update(skip_locked=True)
        # On SQLite the write session already holds the write lock (BEGIN IMMEDIATE).
        job = session.scalar(query)
        if job is None:
            return None
        job.status = JobStatus.RUNNING
        job.worker = worker
        job.attempts += 1
        job.started_at = job.heartbeat_at = _now()
        session.flush()
        session.expunge(job)
        return job


def run_one(app: Flask, worker: str | None = None) -> Job | None:
    """Claim and run one queued job; returns it (finished or failed), or None if none waits."""
    worker = worker or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    job = claim_next(app, worker)
    if job is None:
        return None
    handler = handlers(app).get(job.kind)
    error = None
    if handler is None:
        error = f"No handler for job kind {job.kind!r}; is this worker the same version as the app?"
    else:
        try:
            with app.app_context():
                handler(JobContext(app, job.id, dict(job.payload)))
        except Exception as exc:  # noqa: BLE001 - a failed job is recorded, the worker goes on
            # Only the exception type and location: messages can quote the data being processed.
            frames = traceback.extract_tb(exc.__traceback__)
            where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
            error = f"{type(exc).__name__} at {where}"
            log.error("job %s (%s) failed: %s", job.id, job.kind, error)
    with get_db(app).writing() as session:
        row = session.get(Job, job.id)
        row.status = JobStatus.FAILED if error else JobStatus.DONE
        row.error = error
        row.finished_at = _now()
        session.flush()
        session.expunge(row)
        return row


class Worker:
    """Polls for jobs until stopped."""

    def __init__(self, app: Flask, *, poll_seconds: float = 1.0) -> None:
        self.app = app
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self, *, until_idle: bool = False) -> int:
        done = 0
        while not self._stop.is_set():
            if run_one(self.app) is not None:
                done += 1
                continue
            if until_idle:
                break
            self._stop.wait(self.poll_seconds)
        return done

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="research-repo-worker", daemon=True)
        thread.start()
        return thread


# ---- Work that must stay in this process's memory (an uploaded export: raw text may not be
# written to a job payload or a temp file). It runs on one background thread; the Job row it
# updates shows progress to every process, and a crash leaves a resumable import.

_BACKGROUND_KEY = "research_repo.background"


def run_in_background(app: Flask, fn: Callable[[], None]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    state = app.extensions.setdefault(_BACKGROUND_KEY, {"lock": threading.Lock(), "executor": None, "futures": []})
    with state["lock"]:
        if state["executor"] is None:
            state["executor"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="research-repo-import")

        def guarded() -> None:
            try:
                with app.app_context():
                    fn()
            except Exception as exc:  # noqa: BLE001 - recorded on the job by the callee; log the type only
                log.error("background work failed: %s", type(exc).__name__)

        state["futures"] = [f for f in state["futures"] if not f.done()]
        state["futures"].append(state["executor"].submit(guarded))


def wait_background(app: Flask, timeout: float | None = None) -> None:
    """Block until background work submitted so far is done (tests, shutdown)."""
    from concurrent.futures import wait

    state = app.extensions.get(_BACKGROUND_KEY)
    if state:
        wait(list(state["futures"]), timeout=timeout)
