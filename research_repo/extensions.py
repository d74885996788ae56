"""Extensions created unbound and bound in ``init_app``; the request's database session."""
from __future__ import annotations

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
        app.extensions[_DB_KEY] = Database(app.config["DATABASE_URL"], echo=app.config["SQLALCHEMY_ECHO"])
    except ModuleNotFoundError as exc:
        from .config import ConfigError

        raise ConfigError(
            f"The database driver {exc.name!r} is not installed; for PostgreSQL run pip install -e '.[postgres]'."
        ) from None
    csrf.init_app(app)
    app.teardown_appcontext(_close_session)


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


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        # Anything not committed by the view is discarded: one commit per request.
        session.rollback()
        session.close()
