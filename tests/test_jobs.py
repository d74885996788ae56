"""Background jobs: claimed once, progress recorded, failures recorded without data."""
from __future__ import annotations

import threading

from research_repo import jobs
from research_repo.models import Job, JobStatus


def _enqueue(db, kind="count", payload=None):
    with db.writing() as s:
        return jobs.enqueue(s, kind, payload or {"n": 3}).id


def test_job_runs_with_progress(app, db):
    seen = []

    def count(ctx):
        for i in range(ctx.payload["n"]):
            ctx.progress(i + 1, ctx.payload["n"])
            seen.append(i)

    jobs.register(app, "count", count)
    job_id = _enqueue(db)
    finished = jobs.run_one(app)
    assert finished.id == job_id and finished.status is JobStatus.DONE
    assert seen == [0, 1, 2]
    with db.read_session() as s:
        job = s.get(Job, job_id)
        assert (job.progress_done, job.progress_total, job.attempts) == (3, 3, 1)
        assert job.finished_at is not None and job.error is None
    assert jobs.run_one(app) is None  # nothing left


def test_failed_job_records_type_and_place_not_message(app, db):
    def explode(ctx):
        raise ValueError("row 7: Maria Alvarez, 123-45-6789")

    jobs.register(app, "explode", explode)
    job_id = _enqueue(db, "explode")
    assert jobs.run_one(app).status is JobStatus.FAILED
    with db.read_session() as s:
        error = s.get(Job, job_id).error
    assert error.startswith("ValueError at test_jobs.py:")
    assert "Maria" not in error and "6789" not in error


def test_unknown_kind_fails_with_a_reason(app, db):
    job_id = _enqueue(db, "no-such-kind")
    jobs.run_one(app)
    with db.read_session() as s:
        assert "No handler for job kind 'no-such-kind'" in s.get(Job, job_id).error


def test_each_job_is_claimed_once(app, db):
    runs = []
    jobs.register(app, "count", lambda ctx: runs.append(ctx.job_id))
    ids = [_enqueue(db) for _ in range(6)]
    workers = [threading.Thread(target=lambda: jobs.Worker(app).run(until_idle=True)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(runs) == ids


def _lose_worker(app, db, job_id: int) -> None:
    """What a killed worker leaves: the job claimed and running, its heartbeat older than the lease."""
    from datetime import timedelta

    from sqlalchemy import update

    claimed = jobs.claim_next(app, "gone-host:4242:1")
    assert claimed is not None and claimed.id == job_id
    with db.writing() as s:
        s.execute(update(Job).where(Job.id == job_id).values(
            heartbeat_at=jobs._now() - timedelta(seconds=app.config["JOB_LEASE_SECONDS"] + 1)))


def test_a_job_whose_worker_died_is_taken_back_and_run(app, db):
    runs = []
    jobs.register(app, "count", lambda ctx: runs.append(ctx.job_id))
    job_id = _enqueue(db)
    _lose_worker(app, db, job_id)
    finished = jobs.run_one(app, "new-host:1:1")
    assert finished.id == job_id and finished.status is JobStatus.DONE and runs == [job_id]
    with db.read_session() as s:
        job = s.get(Job, job_id)
        assert (job.attempts, job.worker) == (2, "new-host:1:1")


def test_a_running_job_with_a_live_worker_is_not_taken_back(app, db):
    """The heartbeat thread keeps a long step (no progress reported) inside its lease."""
    import time

    app.config["JOB_LEASE_SECONDS"] = 1
    runs = []

    def slow(ctx):
        runs.append(ctx.job_id)
        time.sleep(2.5)  # more than twice the lease, without a progress call

    jobs.register(app, "slow", slow)
    job_id = _enqueue(db, "slow")
    worker = threading.Thread(target=jobs.run_one, args=(app, "busy-host:1:1"))
    worker.start()
    while True:  # the other worker starts asking once this one holds the job (or it would take it first)
        with db.read_session() as s:
            if s.get(Job, job_id).worker == "busy-host:1:1":
                break
        time.sleep(0.01)
    deadline = time.monotonic() + 2.3
    while time.monotonic() < deadline:  # another worker keeps asking for work meanwhile
        assert jobs.run_one(app, "other-host:1:1") is None
        time.sleep(0.2)
    worker.join()
    with db.read_session() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.attempts, job.worker) == (JobStatus.DONE, 1, "busy-host:1:1")
    assert runs == [job_id]


def test_a_job_lost_too_often_fails_and_says_so(app, db):
    jobs.register(app, "count", lambda ctx: None)
    job_id = _enqueue(db)
    for _ in range(jobs.MAX_ATTEMPTS):
        _lose_worker(app, db, job_id)
    assert jobs.run_one(app) is None  # taken back as failed, not run a fourth time
    with db.read_session() as s:
        job = s.get(Job, job_id)
        assert job.status is JobStatus.FAILED and job.attempts == jobs.MAX_ATTEMPTS
        assert job.error.startswith("Stopped 3 times: its worker gone-host:4242:1 stopped answering")


def test_a_worker_that_was_only_slow_leaves_the_taken_back_job_alone(app, db):
    import time

    app.config["JOB_LEASE_SECONDS"] = 1
    from research_repo.jobs import _Heartbeat

    seen = []

    def stalls(ctx):
        seen.append(ctx.job_id)
        if len(seen) == 1:  # the first worker stalls and misses every beat
            _lose_worker_beats.set()
            time.sleep(1.5)

    _lose_worker_beats = threading.Event()
    jobs.register(app, "stalls", stalls)
    job_id = _enqueue(db, "stalls")
    original = _Heartbeat._run
    _Heartbeat._run = lambda self: None  # a worker too busy to beat (a frozen VM)
    try:
        first = threading.Thread(target=jobs.run_one, args=(app, "frozen:1:1"))
        first.start()
        _lose_worker_beats.wait(5)
        time.sleep(1.1)
        second = jobs.run_one(app, "healthy:1:1")  # takes it back and runs it
    finally:
        _Heartbeat._run = original
    first.join()
    assert second.id == job_id and second.status is JobStatus.DONE
    with db.read_session() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.worker, job.attempts) == (JobStatus.DONE, "healthy:1:1", 2)
    assert seen == [job_id, job_id]


def test_the_worker_survives_a_locked_database_and_runs_the_job_after(app, db, tmp_path):
    """The embedded worker thread died on its first "database is locked" (another process held
    the write lock past the busy timeout), and queued jobs then waited for a restart."""
    import sqlite3
    import time

    from research_repo.db import Database

    locked_db = Database(db.url, busy_timeout_ms=100)
    app.extensions["research_repo.db"], original = locked_db, app.extensions["research_repo.db"]
    ran = threading.Event()
    jobs.register(app, "count", lambda ctx: ran.set())
    _enqueue(db)
    if db.is_sqlite:
        other = sqlite3.connect(db.url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process writing for a long time
    else:  # PostgreSQL: another process holding the one-writer lock (db.PG_WRITE_LOCK)
        import psycopg

        from research_repo.db import PG_WRITE_LOCK

        other = psycopg.connect(db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
                                autocommit=True)
        other.execute("BEGIN")
        other.execute(f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})")
    worker = jobs.Worker(app, poll_seconds=0.05)
    thread = worker.start_thread()
    try:
        time.sleep(0.8)  # its claims fail with "database is locked"
        assert thread.is_alive() and not ran.is_set()
        other.execute("COMMIT")
        assert ran.wait(10), "the worker did not come back when the lock was released"
    finally:
        worker.stop()
        thread.join(5)
        other.close()
        app.extensions["research_repo.db"] = original
        locked_db.dispose()
