"""The signed-in user of a request, and the decorators views use to require one."""
from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import Flask, g, redirect, request, session, url_for

from .extensions import db_session, get_db
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
            g.user = _token_user(bearer[7:].strip())
            g.api_token = g.user is not None
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


def _token_user(token: str) -> User | None:
    """The owner of an API token. The lookup and the occasional last-used write run in their
    own short sessions before the request's session opens, so a GET never writes in it (and a
    POST's write lock is not yet held while the last-used time is written)."""
    db = get_db()
    with db.read_session() as session:
        found = accounts.api_token_owner(session, token)
    if found is None:
        return None
    token_id, user_id, stale = found
    if stale:
        with db.writing() as session:
            accounts.mark_api_token_used(session, token_id)
    return db_session().get(User, user_id)


def local_url(target: str | None, fallback: str) -> str:
    """``target`` if it is a path on this site, else ``fallback``: an open redirect would let a
    phishing link borrow our pages."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return fallback


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
