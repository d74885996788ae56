"""User administration: list, create, change role, deactivate."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from .. import access
from ..extensions import db_session, on_refusal
from ..forms import EmptyForm, NewUserForm, PasswordResetForm, UserUpdateForm, refusals_on
from ..models import AuditEvent, Role, User
from ..services import accounts, inputs
from ..services.cells import safe_cell
from ..services.errors import NotFound
from ..web_auth import current_user, login_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _page(form, status=200):
    users = accounts.list_users(db_session())
    update_forms = {}
    for user in users:
        f = UserUpdateForm(formdata=None, prefix=f"u{user.id}")
        f.role.data = user.role.value
        f.is_active.data = user.is_active
        update_forms[user.id] = f
    return render_template("admin/users.html", users=users, form=form, update_forms=update_forms,
                           empty=EmptyForm(), reset=PasswordResetForm(formdata=None), now=accounts.now()), status


@bp.route("/users", methods=["GET", "POST"])
@login_required
def users():
    access.require_user_admin(current_user())
    form = NewUserForm()
    if form.validate_on_submit():
        refusals_on(form, lambda _status: _page(form, status=400))
        user = accounts.create_user(
            db_session(), current_user(), username=form.username.data, display_name=form.display_name.data,
            password=form.password.data, role=Role(form.role.data),
        )
        flash(f"User {user.username} created.", "success")
        return redirect(url_for("admin.users"))
    return _page(form, status=400 if form.errors or form.form_errors else 200)


@bp.route("/users/<int:user_id>", methods=["POST"])
@login_required
def update_user(user_id: int):
    access.require_user_admin(current_user())
    form = UserUpdateForm(prefix=f"u{user_id}")
    if not form.validate_on_submit():
        flash("Choose a role.", "error")
        return redirect(url_for("admin.users"))
    s = db_session()
    user = accounts.update_user(s, current_user(), user_id, role=Role(form.role.data), is_active=form.is_active.data)
    flash(f"User {user.username} saved.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
@login_required
def unlock_user(user_id: int):
    access.require_user_admin(current_user())
    if EmptyForm().validate_on_submit():
        s = db_session()
        accounts.unlock(s, current_user(), user_id, secret=current_app.config["SECRET_KEY"])
        flash(f"User {user_id} unlocked.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@login_required
def reset_password(user_id: int):
    access.require_user_admin(current_user())
    form = PasswordResetForm()
    s = db_session()
    user = s.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    if form.validate_on_submit():
        on_refusal(lambda exc: (flash(exc.message, "error"), redirect(url_for("admin.users")))[1])
        accounts.set_password(s, current_user(), user, form.password.data)
        flash(f"Password of user {user_id} reset; their sessions and API tokens have ended.", "success")
    return redirect(url_for("admin.users"))


AUDIT_PAGE = 200


def _audit_query():
    query = select(AuditEvent, User.username).outerjoin(User, User.id == AuditEvent.actor_id)
    action = request.args.get("action", "").strip()
    if action:
        query = query.where(AuditEvent.action.startswith(action))
    actor = request.args.get("actor", "").strip().lower()
    if actor:
        query = query.where(User.username == actor)
    study = request.args.get("study", type=int)
    if study:
        query = query.where(AuditEvent.study_id == study)
    client = request.args.get("client", "").strip()
    if client:
        query = query.where(AuditEvent.client == client)
    since = inputs.iso_date(request.args.get("since"), "from date", "since")
    until = inputs.iso_date(request.args.get("until"), "to date", "until")
    if since:
        query = query.where(AuditEvent.at >= datetime.combine(since, time.min, tzinfo=UTC))
    if until:
        query = query.where(AuditEvent.at <= datetime.combine(until, time.max, tzinfo=UTC))
    return query.order_by(AuditEvent.id.desc())


@bp.route("/audit")
@login_required
def audit_log():
    """The audit trail (AU-2/AU-6): filter by action, user, study, client and dates; CSV export."""
    access.require_user_admin(current_user())
    s = db_session()
    query = _audit_query()
    if request.args.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "at", "action", "user", "study", "object_type", "object_id", "client", "details"])
        for event, username in s.execute(query):
            writer.writerow([safe_cell(v) for v in (event.id, event.at.isoformat(), event.action, username or "",
                                                      event.study_id or "", event.object_type or "",
                                                      event.object_id or "", event.client or "", event.details)])
        return Response(out.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="audit.csv"'})
    rows = s.execute(query.limit(AUDIT_PAGE)).all()
    return render_template("admin/audit.html", rows=rows, args=request.args, limit=AUDIT_PAGE)
