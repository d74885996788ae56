"""Services that decide a write from a read (failed sign-ins against their limit, the next
title, "is this file already stored", "is a theme run already queued") give the same answer
when requests arrive at the same moment, on SQLite and on PostgreSQL. On PostgreSQL's READ
COMMITTED without the one-writer lock, 12 parallel wrong passwords were all checked against a
limit of 3 or 5, and 4 uploads at once were all titled "Interview 1"."""
from __future__ import annotations

import io
import threading

import pytest
from sqlalchemy import func, select

from research_repo.models import AuditEvent, Role, Source, ThemeRun

from .helpers import csrf_token, login

TEXT = ("P1: The interim annuity payment was much smaller than I expected and nobody explained why. "
        "P1: I called the retirement office three times about the {n} letter and waited on hold.\n")


def at_once(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads released together; returns what each returned."""
    barrier = threading.Barrier(count)
    out: list = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request hung"
    return out


@pytest.fixture
def researchers(app, make_user, make_study):
    """A study and ``n`` test clients signed in as its researcher, each with the upload page's token."""
    user = make_user("rita", Role.RESEARCHER)
    study = make_study("Annuitant interviews", user)

    def clients(n: int):
        made = []
        for _ in range(n):
            client = app.test_client()
            assert login(client, "rita").status_code == 302
            token = csrf_token(client.get(f"/studies/{study.id}/upload").get_data(as_text=True))
            made.append((client, token))
        return made

    return study, clients


def _upload(client, token, study_id: int, name: str, body: str):
    return client.post(f"/studies/{study_id}/upload", data={
        "csrf_token": token, "kind": "interview", "channel": "phone",
        "files": [(io.BytesIO(body.encode()), name)]}, content_type="multipart/form-data")


def test_uploads_at_once_get_distinct_titles(app, db, researchers):
    study, clients = researchers
    signed = clients(4)
    answers = at_once(4, lambda i: _upload(*signed[i], study.id, f"interview-{i}.txt", TEXT.format(n=f"#{i}")))
    assert [getattr(a, "status_code", a) for a in answers] == [302] * 4
    with db.read_session() as s:
        titles = sorted(s.scalars(select(Source.title).where(Source.study_id == study.id)))
    assert titles == ["Interview 1", "Interview 2", "Interview 3", "Interview 4"]


def test_the_same_file_uploaded_twice_at_once_is_stored_once_and_neither_request_fails(app, db, researchers):
    study, clients = researchers
    signed = clients(4)
    answers = at_once(4, lambda i: _upload(*signed[i], study.id, "interview.txt", TEXT.format(n="same")))
    assert [getattr(a, "status_code", a) for a in answers] == [302] * 4
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Source).where(Source.study_id == study.id)) == 1


def test_parallel_wrong_passwords_lock_the_account_at_its_limit(app, db, make_user):
    make_user("alex")
    limit = app.config["LOGIN_MAX_FAILURES_PER_USER"]
    pages = []
    for _ in range(12):
        client = app.test_client()
        pages.append((client, csrf_token(client.get("/login").get_data(as_text=True))))
    answers = at_once(12, lambda i: pages[i][0].post("/login", data={
        "username": "alex", "password": "wrong password!", "csrf_token": pages[i][1]}))
    codes = [getattr(a, "status_code", a) for a in answers]
    assert codes.count(401) == limit and codes.count(429) == 12 - limit, codes
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == "auth.login_failed")) == limit


def test_two_theme_run_requests_at_once_queue_one_run(app, db, researchers):
    study, clients = researchers
    client, token = clients(1)[0]
    for n in range(12):
        assert _upload(client, token, study.id, f"note-{n}.txt", TEXT.format(n=f"note {n}")).status_code == 302
    signed = clients(2)
    tokens = [csrf_token(c.get(f"/studies/{study.id}/themes").get_data(as_text=True)) for c, _t in signed]
    answers = at_once(2, lambda i: signed[i][0].post(f"/studies/{study.id}/themes/run",
                                                     data={"csrf_token": tokens[i], "k": ""}))
    # One queues the run; the other is told a run is already under way (not a second run).
    assert sorted(getattr(a, "status_code", a) for a in answers) == [302, 409], answers
    with db.read_session() as s:
        runs = s.scalar(select(func.count()).select_from(ThemeRun).where(ThemeRun.study_id == study.id))
    assert runs == 1


def test_a_unique_violation_at_commit_is_a_conflict_not_a_server_error(app, db, make_user):
    """Should two requests still store the same row (a path not behind the one-writer lock),
    the database's refusal is answered 409 with what to do, on both databases."""
    from research_repo.extensions import db_session
    from research_repo.models import User

    make_user("alex")

    @app.post("/test-only/duplicate-user")
    def _duplicate():
        session = db_session()
        session.add(User(username="alex", display_name="Alex again", password_hash="x", role=Role.RESEARCHER))
        return "stored"  # the request's unit of work commits after the view: the database refuses

    app.config["WTF_CSRF_ENABLED"] = False
    response = app.test_client().post("/test-only/duplicate-user")
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and "Reload the page" in body and "Alex again" not in body
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(User).where(User.username == "alex")) == 1
