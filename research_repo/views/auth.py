"""Sign in and sign out."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for

from ..extensions import db_session
from ..forms import LoginForm, PasswordChangeForm, attach_error
from ..services import accounts
from ..services.errors import DomainError, TooManyAttempts
from ..web_auth import SESSION_KEY, current_user, local_url, login_required

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    return local_url(target, url_for("studies.index"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if any(ch in request.args.get("next", "") for ch in "\r\n"):
        # A line break in a redirect target is a header-splitting attempt, not a page.
        abort(400)
    if current_user() is not None:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        cfg = current_app.config
        policy = accounts.ThrottlePolicy(
            max_per_user=cfg["LOGIN_MAX_FAILURES_PER_USER"],
            max_per_client=cfg["LOGIN_MAX_FAILURES_PER_CLIENT"],
            window=timedelta(minutes=cfg["LOGIN_FAILURE_WINDOW_MINUTES"]),
            lockout=timedelta(minutes=cfg["LOGIN_LOCKOUT_MINUTES"]),
            inactive_after=timedelta(days=cfg["ACCOUNT_INACTIVE_DAYS"]) if cfg["ACCOUNT_INACTIVE_DAYS"] else None,
        )
        s = db_session()
        try:
            user = accounts.authenticate(
                s, username=form.username.data, password=form.password.data,
                client=request.remote_addr or "unknown", secret=cfg["SECRET_KEY"], policy=policy,
            )
        except TooManyAttempts as exc:
            # Caught here, not by the error mapping, so the refused attempt's audit event is
            # committed with the request.
            return render_template("auth/login.html", form=form, error=exc.message), 429, {
                "Retry-After": str(exc.retry_after)
            }
        if user is None:  # the failure is remembered: this request commits
            error = "The username or password is not right. Check both and try again."
            status = 401
        else:
            token = accounts.start_session(s, user, hours=cfg["SESSION_HOURS"])
            session.clear()
            session[SESSION_KEY] = token
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        error = "Enter your username and password."
        status = 400
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
def logout():
    # CSRFProtect has already checked the token: a cross-site POST cannot sign anyone out.
    token = session.get(SESSION_KEY)
    if token:
        s = db_session()
        accounts.end_session(s, token)
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordChangeForm()
    status = 200
    if form.validate_on_submit():
        s = db_session()
        try:
            accounts.change_own_password(s, current_user(), form.current.data, form.password.data,
                                         keep_session=session.get(SESSION_KEY))
        except DomainError as exc:  # caught here so the wrong current password's audit event is kept
            attach_error(form, exc)
            status = exc.status
        else:
            flash("Password changed. Your other sign-ins and API tokens have ended.", "success")
            return redirect(url_for("studies.index"))
    elif form.is_submitted():
        status = 400
    return render_template("account/password.html", form=form), status


@bp.route("/account/ping")
@login_required
def ping():
    """A request that only counts as activity (the idle warning's "Stay signed in")."""
    return "", 204
