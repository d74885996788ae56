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
