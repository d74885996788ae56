"""Background jobs in a database table: enqueue in the caller's transaction, claim one at a
time, record progress, finish or fail with a message. An embedded worker thread serves one
machine; `research-repo worker` processes scale out (PostgreSQL claims with SKIP LOCKED).

A claimed job carries a lease: while its handler runs, the worker beats the job's heartbeat
every third of ``JOB_LEASE_SECONDS``. A job whose heartbeat is older than the lease lost its
worker (killed, machine gone) and is taken back at the next claim: queued again, or failed
after ``MAX_ATTEMPTS`` tries, when its kind's ``on_fail`` marks what the job was for (a
theme run) failed in the same transaction. A worker that was only slow and finds its job
taken back leaves the job's new state alone.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .extensions import get_db
from .models import Job, JobStatus, User

log = logging.getLogger(__name__)

_HANDLERS_KEY = "research_repo.job_handlers"
MAX_ATTEMPTS = 3


class JobContext:
    """What a handler gets: its job id, a way to report progress, and the app."""

    def __init__(self, app: Flask, job_id: int, payload: dict, kind: str = "") -> None:
        self.app = app
        self.job_id = job_id
        self.payload = payload
        self.kind = kind

    def progress(self, done: int, total: int | None = None) -> None:
        # Its own short transaction, so progress is visible while the job runs.
        with get_db(self.app).writing() as session:
            values = {"progress_done": done, "heartbeat_at": _now()}
            if total is not None:
                values["progress_total"] = total
            session.execute(update(Job).where(Job.id == self.job_id).values(**values))


Handler = Callable[[JobContext], None]
# Called in the transaction that marks a job failed, with the exception (None when the job's
# worker was lost too often): marks what the job was for as failed.
OnFail = Callable[[Session, Job, BaseException | None], None]


@dataclass(frozen=True)
class JobKind:
    handler: Handler
    on_fail: OnFail | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def handlers(app: Flask) -> dict[str, JobKind]:
    return app.extensions.setdefault(_HANDLERS_KEY, {})


def register(app: Flask, kind: str, handler: Handler, *, on_fail: OnFail | None = None) -> None:
    handlers(app)[kind] = JobKind(handler, on_fail)


def enqueue(
    session: Session, kind: str, payload: dict, *, study_id: int | None = None, actor: User | None = None
) -> Job:
    """Add a job in the caller's transaction; it runs once that transaction commits."""
    job = Job(kind=kind, payload=payload, study_id=study_id, created_by_id=actor.id if actor else None)
    session.add(job)
    session.flush()
    return job


def _lease(app: Flask) -> timedelta:
    return timedelta(seconds=app.config.get("JOB_LEASE_SECONDS", 300))


def _fail(app: Flask, session: Session, job: Job, error: str, exc: BaseException | None) -> None:
    job.status, job.error, job.finished_at = JobStatus.FAILED, error, _now()
    kind = handlers(app).get(job.kind)
    if kind and kind.on_fail:
        kind.on_fail(session, job, exc)


def reclaim(app: Flask, session: Session) -> int:
    """Take back running jobs whose lease ran out (their worker is gone). Only kinds this
    process can run: an import runs in the memory of the process that received the upload
    and is resumed by uploading again (``ingest.mark_interrupted``)."""
    kinds = list(handlers(app))
    if not kinds:
        return 0
    query = select(Job).where(Job.status == JobStatus.RUNNING, Job.kind.in_(kinds),
                              Job.heartbeat_at < _now() - _lease(app))
    if not get_db(app).is_sqlite:
        query = query.with_for_update(skip_locked=True)
    taken = 0
    for job in session.scalars(query):
        lost = f"its worker {job.worker} stopped answering"
        if job.attempts >= MAX_ATTEMPTS:
            log.error("job %s (%s) abandoned after %d attempts", job.id, job.kind, job.attempts)
            _fail(app, session, job, f"Stopped {job.attempts} times: {lost}. Start it again.", None)
        else:
            log.warning("job %s (%s) taken back: %s", job.id, job.kind, lost)
            job.status, job.worker = JobStatus.QUEUED, None
        taken += 1
    return taken


def claim_next(app: Flask, worker: str) -> Job | None:
    db = get_db(app)
    with db.writing() as session:
        reclaim(app, session)
        session.flush()
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


class _Heartbeat:
    """Beats a running job's heartbeat from a thread while its handler works, so a long step
    (clustering, which reports no progress) never looks like a lost worker."""

    def __init__(self, app: Flask, job_id: int, worker: str) -> None:
        self.app, self.job_id, self.worker = app, job_id, worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"research-repo-heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        every = max(0.05, _lease(self.app).total_seconds() / 3)
        while not self._stop.wait(every):
            try:
                with get_db(self.app).writing() as session:
                    session.execute(update(Job).where(Job.id == self.job_id, Job.worker == self.worker,
                                                      Job.status == JobStatus.RUNNING).values(heartbeat_at=_now()))
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried; the lease allows three
                log.warning("job %s heartbeat missed: %s", self.job_id, type(exc).__name__)


def run_one(app: Flask, worker: str | None = None) -> Job | None:
    """Claim and run one queued job; returns it (finished or failed), or None if none waits."""
    worker = worker or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    job = claim_next(app, worker)
    if job is None:
        return None
    kind = handlers(app).get(job.kind)
    error, failure = None, None
    if kind is None:
        error = f"No handler for job kind {job.kind!r}; is this worker the same version as the app?"
    else:
        try:
            with app.app_context(), _Heartbeat(app, job.id, worker):
                kind.handler(JobContext(app, job.id, dict(job.payload), job.kind))
        except Exception as exc:  # noqa: BLE001 - a failed job is recorded, the worker goes on
            # Only the exception type and location: messages can quote the data being processed.
            frames = traceback.extract_tb(exc.__traceback__)
            where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
            error, failure = f"{type(exc).__name__} at {where}", exc
            log.error("job %s (%s) failed: %s", job.id, job.kind, error)
    with get_db(app).writing() as session:
        row = session.get(Job, job.id)
        if row.status is JobStatus.RUNNING and row.worker == worker:  # still ours (not taken back)
            if error:
                _fail(app, session, row, error, failure)
            else:
                row.status, row.error, row.finished_at = JobStatus.DONE, None, _now()
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
        done, failures = 0, 0
        while not self._stop.is_set():
            try:
                ran = run_one(self.app)
            except Exception as exc:  # noqa: BLE001 - a busy or unreachable database: wait, then ask again
                # ("database is locked" while another process writes). A job it had claimed keeps its
                # lease and is taken back when the lease runs out.
                failures += 1
                wait = min(self.poll_seconds * 2 ** min(failures, 6), 30.0)
                log.warning("job worker: %s; trying again in %.1f s", type(exc).__name__, wait)
                if until_idle and failures >= 3:
                    raise
                self._stop.wait(wait)
                continue
            failures = 0
            if ran is not None:
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
