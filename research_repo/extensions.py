"""Extensions created unbound and bound in ``init_app``; the request's unit of work.

One commit point per request, the way indico's ``RH.process`` does it: a view (or API
route) only calls services, which flush. When the view returns, its session commits; when
it raises, the error mapping (``errors``) rolls everything back before answering. A view
that wants its form shown again with a service's refusal says how with ``on_refusal``;
work that must start only once the request's writes are visible (a background import)
registers with ``after_commit``. A view that catches a refusal itself and returns keeps
what it wrote: that is how a refused sign-in is still counted and audited.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, g, request
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session

from .db import Database

csrf = CSRFProtect()

_DB_KEY = "research_repo.db"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def init_app(app: Flask) -> None:
    # Creating an engine opens no connection; the database is first touched by a request or command.
    try:
        app.extensions[_DB_KEY] = Database(app.config["DATABASE_URL"], echo=app.config["SQLALCHEMY_ECHO"],
                                           busy_timeout_ms=int(app.config["SQLITE_BUSY_TIMEOUT_MS"]))
    except ModuleNotFoundError as exc:
        from .config import ConfigError

        raise ConfigError(
            f"The database driver {exc.name!r} is not installed; for PostgreSQL run pip install -e '.[postgres]'."
        ) from None
    csrf.init_app(app)
    app.after_request(_finish_request)
    app.teardown_appcontext(_close_session)


# The response for a request whose commit failed (errors.init_app registers it).
COMMIT_FAILED = "research_repo.commit_failed"


def get_db(app: Flask | None = None) -> Database:
    return (app or current_app).extensions[_DB_KEY]


def db_session() -> Session:
    """The session of this request or command, opened on first use.

    State-changing requests get a write session (on SQLite it takes the write lock at
    BEGIN); safe requests read only, so they never wait on writers.
    """
    if "db_session" not in g:
        db = get_db()
        writes = not request or request.method not in _SAFE_METHODS
        g.db_session = db.write_session() if writes else db.read_session()
    return g.db_session


def on_refusal(render: Callable) -> None:
    """How this request answers a service's refusal (``DomainError``) in a page: ``render(exc)``
    returns the response, typically the form again with the message on its field. Its writes
    are rolled back first. JSON clients get the plain error."""
    g.on_refusal = render


def refusal_view() -> Callable | None:
    return g.pop("on_refusal", None)


def end_reads() -> None:
    """This request has only read so far: end its transaction now, so the slow work that
    follows (parsing and de-identifying an upload) holds no lock (on SQLite, the write lock
    every other writer waits for). Its writes then begin a new transaction, committed at the
    end as usual. Refused once anything was written: that would commit it early."""
    session = g.get("db_session")
    if session is None or not session.in_transaction():
        return
    if session.new or session.dirty or session.deleted or session.info.get("wrote"):
        raise RuntimeError("end_reads() after this request wrote something")
    session.commit()  # nothing to commit: it ends the transaction and keeps the loaded objects


def after_commit(fn: Callable[[], None]) -> None:
    """Run ``fn`` once this request's writes are committed (never if they are rolled back)."""
    g.setdefault("after_commit", []).append(fn)


def fail_request() -> None:
    """The request ends in an error: roll its writes back now (the error page then reads what
    the database holds) and commit nothing at the end."""
    g.request_failed = True
    session = g.get("db_session")
    if session is not None:
        session.rollback()


def _finish_request(response):
    """The one commit point: after the view returned, before the response leaves."""
    session = g.get("db_session")
    failed = g.get("request_failed", False)
    if session is not None and not failed:
        try:
            session.commit()
        except Exception as exc:  # noqa: BLE001 - the commit itself failed (a full disk): say so
            session.rollback()
            g.pop("after_commit", None)
            g.request_failed = True
            return current_app.extensions[COMMIT_FAILED](exc)
    callbacks = g.pop("after_commit", [])
    if not failed:
        for fn in callbacks:
            fn()
    return response


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        # A failed commit, or an error after it: nothing half-done stays open.
        session.rollback()
        session.close()
