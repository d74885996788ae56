"""The signed-in user of a request, and the decorators views use to require one."""
from __future__ import annotations

import functools
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, redirect, request, session, url_for

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
            g.user = _session_user(token)
            if g.user is None:
                # Expired, idle too long, signed out elsewhere, or the account was deactivated.
                session.pop(SESSION_KEY, None)
                g.session_ended = True

    @app.context_processor
    def _inject_user():
        return {"current_user": g.get("user")}


def _session_user(token: str) -> User | None:
    """The user of a sign-in session that is live and not idle (SESSION_IDLE_MINUTES). As with
    tokens, the last-seen write (once a minute at most) and the end of an idle session run in
    their own short transactions before the request's session opens."""
    db = get_db()
    idle = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])
    with db.read_session() as s:
        found = accounts.session_owner(s, token, idle=idle)
    if found is None:
        with db.writing() as s:
            accounts.end_idle_session(s, token)
        return None
    session_id, user_id, stale = found
    if stale:
        with db.writing() as s:
            accounts.touch_session(s, session_id)
    return db_session().get(User, user_id)


def _token_user(token: str) -> User | None:
    """The owner of an API token. The lookup and the occasional last-used write run in their
    own short sessions before the request's session opens, so a GET never writes in it (and a
    POST's write lock is not yet held while the last-used time is written). Failed attempts
    are audited and, past LOGIN_MAX_FAILURES_PER_CLIENT in the window, refused with a 429."""
    db = get_db()
    cfg = current_app.config
    client, secret = request.remote_addr or "unknown", cfg["SECRET_KEY"]
    window = timedelta(minutes=cfg["LOGIN_FAILURE_WINDOW_MINUTES"])
    with db.read_session() as session:
        if accounts.token_failures(session, client=client, secret=secret, window=window) >= cfg[
                "LOGIN_MAX_FAILURES_PER_CLIENT"]:
            abort(429)
        found = accounts.api_token_owner(session, token)
    if found is None:
        with db.writing() as session:
            accounts.record_token_failure(session, client=client, secret=secret)
        return None
    token_id, user_id, stale = found
    if stale:
        with db.writing() as session:
            accounts.mark_api_token_used(session, token_id)
    return db_session().get(User, user_id)


def local_url(target: str | None, fallback: str) -> str:
    """``target`` if it is a path on this site, else ``fallback``: an open redirect would let a
    phishing link borrow our pages."""
    if (target and target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target
            and not any(ch in target for ch in "\r\n\t") and not urlsplit(target).netloc):
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
