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
        g.api_token = False
        bearer = request.headers.get("Authorization", "")
        if request.path.startswith("/api/") and bearer[:7].lower() == "bearer ":
            # A token request carries no cookie; it is the token's owner or nobody.
            g.user = accounts.user_for_api_token(db_session(), bearer[7:].strip())
            g.api_token = g.user is not None
            if g.user is not None:
                db_session().commit()  # last_used_at
            return
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

                return respond(401, "Sign in required", "Sign in to use this, or send an API token as the header Authorization: Bearer TOKEN.")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped
