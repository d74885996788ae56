"""User administration: list, create, change role, deactivate."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for

from .. import access
from ..extensions import db_session
from ..forms import EmptyForm, NewUserForm, PasswordResetForm, UserUpdateForm, attach_error
from ..models import Role
from ..services import accounts
from ..services.errors import DomainError
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
    from ..models._types import utcnow

    return render_template("admin/users.html", users=users, form=form, update_forms=update_forms,
                           empty=EmptyForm(), reset=PasswordResetForm(formdata=None), now=utcnow()), status


@bp.route("/users", methods=["GET", "POST"])
@login_required
def users():
    access.require_user_admin(current_user())
    form = NewUserForm()
    if form.validate_on_submit():
        s = db_session()
        try:
            user = accounts.create_user(
                s, current_user(), username=form.username.data, display_name=form.display_name.data,
                password=form.password.data, role=Role(form.role.data),
            )
        except DomainError as exc:
            s.rollback()
            attach_error(form, exc)
        else:
            s.commit()
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
    s.commit()
    flash(f"User {user.username} saved.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/unlock", methods=["POST"])
@login_required
def unlock_user(user_id: int):
    access.require_user_admin(current_user())
    if EmptyForm().validate_on_submit():
        s = db_session()
        accounts.unlock(s, current_user(), user_id, secret=current_app.config["SECRET_KEY"])
        s.commit()
        flash(f"User {user_id} unlocked.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@login_required
def reset_password(user_id: int):
    access.require_user_admin(current_user())
    form = PasswordResetForm()
    s = db_session()
    user = s.get(accounts.User, user_id)
    if user is None:
        from ..services.errors import NotFound

        raise NotFound("No such user.")
    if form.validate_on_submit():
        try:
            accounts.set_password(s, current_user(), user, form.password.data)
        except DomainError as exc:
            s.rollback()
            flash(exc.message, "error")
        else:
            s.commit()
            flash(f"Password of user {user_id} reset; their sessions and API tokens have ended.", "success")
    return redirect(url_for("admin.users"))
