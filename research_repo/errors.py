"""Map domain and HTTP errors to pages or JSON, by what the client accepts."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from .services.errors import DomainError, TooManyAttempts

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


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
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
