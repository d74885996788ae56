"""The signed-in user of a request, and the decorators views use to require one."""
from __future__ import annotations

import functools

from flask import Flask, g, redirect, request, session, url_for

from .extensions import db_session
from .models import User
from .services import accounts

SESSION_KEY = "auth"


def init_app(app: Flask) -> None:
    @app.before_request
    def _load_user() -> None:
        g.user = None
        token = session.get(SESSION_KEY)
        if token and not request.path.startswith("/static/"):
            g.user = accounts.user_for_token(db_session(), token)
            if g.user is None:
                # Expired, signed out elsewhere, or the account was deactivated.
                session.pop(SESSION_KEY, None)

    @app.context_processor
    def _inject_user():
        return {"current_user": g.get("user")}


def current_user() -> User | None:
    return g.get("user")


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            if request.path.startswith("/api/"):
                from .errors import respond

                return respond(401, "Sign in required", "Sign in to use this.")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped
