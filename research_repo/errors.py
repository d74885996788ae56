"""Map domain and HTTP errors to pages or JSON, by what the client accepts."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

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
    """An audit event of its own, after the request's transaction is rolled back (AU-2:
    permission denials, downloads)."""
    from flask import g

    from .extensions import db_session, get_db
    from .services import audit

    study_id = (request.view_args or {}).get("study_id")
    study_id = study_id if isinstance(study_id, int) else None
    if request.method in ("GET", "HEAD", "OPTIONS"):
        with get_db().writing() as s:  # the request's own session only reads
            audit.record(s, g.get("user"), action, study_id=study_id, endpoint=request.endpoint, **details)
    else:
        s = db_session()  # holds the write lock on SQLite: write the event in it, after the rest is undone
        s.rollback()
        audit.record(s, g.get("user"), action, study_id=study_id, endpoint=request.endpoint, **details)
        s.commit()


def init_app(app: Flask) -> None:
    @app.after_request
    def _audit_downloads(response):
        if response.status_code == 200 and "attachment" in response.headers.get("Content-Disposition", ""):
            _audit("export.download")
        return response

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        if isinstance(exc, (PermissionDenied, HiddenStudy)):
            _audit("access.denied", status=exc.status)
        titles = {400: "Check what you entered", 403: "Not allowed", 404: "Not found", 409: "Conflict",
                  429: "Too many attempts"}
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
        return respond(exc.status, titles.get(exc.status, "Error"), exc.message, headers)

    @app.errorhandler(CSRFError)
    def _csrf(_exc: CSRFError):
        return respond(
            400, "Form expired",
            "This form expired or was not sent from this site. Go back, reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        # Werkzeug's descriptions are fixed texts; they never echo what the client sent.
        return respond(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # Type only: an exception message can quote the data that was being processed.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.path)
        return respond(500, "Something went wrong", InternalServerError.description)
