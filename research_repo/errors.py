"""Map domain and HTTP errors to pages or JSON, by what the client accepts."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import inspect
from werkzeug.exceptions import HTTPException, InternalServerError

from .extensions import COMMIT_FAILED, fail_request, refusal_view
from .models import User
from .services.errors import DomainError, HiddenStudy, PermissionDenied, TooManyAttempts

log = logging.getLogger(__name__)


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def respond(status: int, title: str, message: str, headers: dict | None = None):
    if wants_json():
        response = jsonify(error={"status": status, "title": title, "message": message})
    else:
        response = render_template("errors/error.html", status=status, title=title, message=message)
    return response, status, headers or {}


def _audit(action: str, **details) -> None:
    """An audit event (AU-2: permission denials, downloads) that outlives the request's own
    writes being rolled back."""
    from flask import g

    from .extensions import db_session, get_db
    from .services import audit

    study_id = (request.view_args or {}).get("study_id")
    study_id = study_id if isinstance(study_id, int) else None
    if request.method in ("GET", "HEAD", "OPTIONS") or g.get("request_failed"):
        # The request's own session only reads, or its writes were rolled back (which ended
        # its transaction) and it commits nothing: the event is a transaction of its own.
        # The user's id is read from its identity: touching the rolled-back (expired) user
        # would reload it in the request's session and take the write lock there.
        user = g.get("user")
        with get_db().writing() as s:
            actor = s.get(User, inspect(user).identity[0]) if user is not None else None
            audit.record(s, actor, action, study_id=study_id, endpoint=request.endpoint, **details)
    else:
        # A download: recorded in the request's unit of work, which commits next.
        audit.record(db_session(), g.get("user"), action, study_id=study_id, endpoint=request.endpoint, **details)


_TROUBLE = {
    "full": "The disk that holds the repository's data is full, so nothing from this request was stored. "
            "Nothing stored before was lost. Ask your administrator to free space, then try again.",
    "read-only": "The disk that holds the repository's data cannot be written to (it is read-only), so nothing "
                 "from this request was stored. Ask your administrator, then try again.",
    "busy": "The database is busy with other changes; nothing from this request was stored. Try again in a "
            "minute.",
}


def storage_trouble(exc: BaseException) -> str | None:
    """"full", "read-only" or "busy" when ``exc`` says the data cannot be written (SQLite's
    words, or the operating system's), else None."""
    import errno

    from sqlalchemy.exc import OperationalError

    seen = exc
    for _ in range(5):
        if seen is None:
            break
        if isinstance(seen, OSError):
            if seen.errno in (errno.ENOSPC, errno.EDQUOT):
                return "full"
            if seen.errno == errno.EROFS:
                return "read-only"
        text = str(getattr(seen, "orig", seen)).lower() if isinstance(seen, OperationalError) else ""
        if "disk is full" in text:
            return "full"
        if "readonly database" in text or "read-only" in text:
            return "read-only"
        if "database is locked" in text or "lock timeout" in text or "deadlock detected" in text:
            return "busy"  # SQLite's busy timeout, PostgreSQL's lock_timeout (db.make_engine)
        if "no space left on device" in text or "could not extend file" in text:
            return "full"  # PostgreSQL's words for a full disk
        seen = seen.__cause__ or seen.__context__
    return None


def unique_violation(exc: BaseException) -> bool:
    """A UNIQUE constraint refused a row: SQLite's "UNIQUE constraint failed", PostgreSQL's
    SQLSTATE 23505."""
    from sqlalchemy.exc import IntegrityError

    if not isinstance(exc, IntegrityError):
        return False
    orig = exc.orig
    return getattr(orig, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(orig)


def init_app(app: Flask) -> None:
    @app.after_request
    def _audit_downloads(response):
        if response.status_code == 200 and "attachment" in response.headers.get("Content-Disposition", ""):
            _audit("export.download")
        return response

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        fail_request()
        if isinstance(exc, (PermissionDenied, HiddenStudy)):
            _audit("access.denied", status=exc.status)
        render = refusal_view()
        if render is not None and not wants_json():
            return render(exc)
        titles = {400: "Check what you entered", 403: "Not allowed", 404: "Not found", 409: "Conflict",
                  429: "Too many attempts"}
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
        return respond(exc.status, titles.get(exc.status, "Error"), exc.message, headers)

    @app.errorhandler(CSRFError)
    def _csrf(_exc: CSRFError):
        fail_request()
        return respond(
            400, "Form expired",
            "This form expired or was not sent from this site. Go back, reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        # Werkzeug's descriptions are fixed texts; they never echo what the client sent.
        fail_request()
        return respond(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        fail_request()
        return _failure_response(exc)

    def _commit_failed(exc: Exception):
        response, status, headers = _failure_response(exc)
        if isinstance(response, str):
            response = app.make_response(response)
        response.status_code = status
        response.headers.update(headers)
        return response

    app.extensions[COMMIT_FAILED] = _commit_failed

    def _failure_response(exc: Exception):
        trouble = storage_trouble(exc)
        if trouble is not None:
            log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.path, trouble)
            return respond(507 if trouble == "full" else 503, "The server cannot store anything right now",
                           _TROUBLE[trouble], headers={"Retry-After": "60"})
        if unique_violation(exc):
            # Two requests stored the same thing at once and the database kept one: a conflict
            # the user can resolve by reloading, not a server error (the same on both databases).
            log.warning("unique violation on %s %s", request.method, request.path)
            return respond(409, "Conflict", "Someone saved the same thing at the same moment, so nothing from this "
                           "request was stored. Reload the page to see what is there now, then try again.")
        # Type only: an exception message can quote the data that was being processed.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.path)
        return respond(500, "Something went wrong", InternalServerError.description)
